"""The shower checks of the physics validation, measured and printed as table rows.

Runs the measurements of ``tests/simulate/test_physics.py`` with the same settings (they
live in :mod:`caloforge.simulate.physics_checks`) and prints the figures as rows of the
validation table of docs/simulation.md (check | requirement | measured), after a line
naming the Geant4 data the showers were simulated with: the offline tables' version and
whether the ``photon-data`` extra (Rayleigh scattering, library photo-effect) was on, as
recorded in the files. The requirements are checked by the test, not here.

Usage:
    python benchmarks/physics_tier.py [--checks sampling balance maximum containment]
        [--particles e- gamma] [--quiet]

``sampling`` gives the sampling fraction and the stochastic term (one energy scan; at
100 GeV with the longitudinal leakage beside it); ``maximum`` the shower maxima of each of
``--particles``. Official Geant4 data in the environment (``GEANT4_DATA_DIR``,
``G4*DATA``) are refused: they would be simulated instead of the offline tables. The
files go to a temporary folder. One worker, as the test; about 70 s of CPU in all on an
idle core.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from caloforge.data.hdf5 import ShowerFile
from caloforge.hardware import cpu_facts
from caloforge.simulate import g4data, physics_checks

CHECKS = ("sampling", "balance", "maximum", "containment")
SYMBOL = {"e-": "e⁻", "gamma": "γ"}


def _gev(energies: list[float]) -> str:
    return " / ".join(f"{e / 1e3:g}" for e in energies)


def _tables(folder: Path) -> str:
    """The Geant4 data of every file in ``folder``, in words (one setting expected)."""
    found = set()
    for path in sorted(folder.glob("*.h5")):
        data = json.loads(ShowerFile(path).attrs["generator"])["g4data"]
        photon = data["photon_data"]
        extra = f"on ({photon})" if photon not in ("", "sandia") else "off (Sandia, no Rayleigh)"
        found.add(
            f"Geant4 {data['geant4_version']}, {data['mode']} data, offline tables version "
            f"{data['generator_version']}, photon-data extra {extra}"
        )
    if len(found) != 1:
        raise RuntimeError(f"the files of {folder} were simulated with {sorted(found)}")
    return found.pop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", nargs="+", choices=CHECKS, default=list(CHECKS))
    particles = tuple(physics_checks.MAXIMUM_SHIFT)
    parser.add_argument("--particles", nargs="+", choices=particles, default=list(particles))
    parser.add_argument("--quiet", action="store_true", help="print the table only")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO)
    try:  # official data in the environment would be simulated instead
        g4data.resolve_offline()
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)

    def progress(text: str) -> None:
        if not args.quiet:
            print(text, file=sys.stderr, flush=True)

    rows = []
    start, load = time.perf_counter(), os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="physics-tier-") as tmp:
        folder = Path(tmp)
        if "sampling" in args.checks:
            progress("sampling fraction and stochastic term: e- at 1, 10, 100 GeV")
            scan = physics_checks.energy_scan(folder)
            f = scan.sampling_fractions()
            rows.append(
                f"| sampling fraction {_gev(list(f))} GeV | constant within 3% | "
                + " / ".join(f"{v:.4f}" for v in f.values())
                + " |"
            )
        if "balance" in args.checks:
            progress("deposited + escaping = incident: e- at 10 GeV")
            b = physics_checks.energy_balance(folder)
            rows.append(
                "| deposited + escaping = incident (`measure_leakage`) | within 1% | within "
                f"{abs(b.total - 1).max():.0e} (escaping: {b.escaped.mean():.1%} at 10 GeV) |"
            )
        if "maximum" in args.checks:
            for particle in args.particles:
                progress(f"shower maximum: {particle} at 1, 10, 100 GeV")
                m = physics_checks.shower_maxima(folder, particle)
                shift = physics_checks.MAXIMUM_SHIFT[particle]
                rows.append(
                    f"| shower maximum {SYMBOL[particle]} {_gev([x.energy for x in m])} GeV | "
                    f"within 1.5 X0 of ln(E/E_c) {'+' if shift > 0 else '−'} {abs(shift):g}, "
                    f"increasing | {' / '.join(f'{x.depth:.2f}' for x in m)} X0 (expected "
                    f"{' / '.join(f'{x.expected:.2f}' for x in m)}) |"
                )
        if "containment" in args.checks:
            progress("energy within one Moliere radius: e- at 10 GeV")
            one, two = physics_checks.moliere_containment(folder)
            rows.append(
                "| energy within one R_M (10 GeV, cylindrical readout on a 1 mm grid) | ~90% | "
                f"{one:.1%} ({two:.1%} within 2 R_M) |"
            )
        if "sampling" in args.checks:
            s, leak = scan.stochastic_terms(), scan.leakage()
            rows.append(
                f"| stochastic term σ/E·√E at 1 / 10 GeV | 5–15% | {s[1e3]:.1%} / {s[1e4]:.1%} "
                f"(at 100 GeV σ/E = {s[1e5] / math.sqrt(1e5 / 1e3):.2%}, σ/E·√E {s[1e5]:.1%}; "
                f"{leak[1e5]:.1%} of the energy leaks out of the stack) |"
            )
        tables = _tables(folder)
    wall = time.perf_counter() - start
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    facts = cpu_facts()
    print(f"Simulated with {tables}; one worker.")
    print(
        f"Machine: {facts.model}, {facts.logical_cpus} logical CPUs; wall {wall:.0f} s, "
        f"worker CPU {cpu.ru_utime + cpu.ru_stime:.0f} s; load average {load:.1f} at start, "
        f"{os.getloadavg()[0]:.1f} at end."
    )
    print()
    print("| check | requirement | measured |")
    print("|---|---|---|")
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
