"""Offline bremsstrahlung/photo-effect table variants against a Geant4 reference file.

Usage:
    python benchmarks/brems_variants.py REF.h5 [--n 4000] [--workers 2] [--out DIR]

Each variant writes its own offline data folder (the default tables, with the
``brem_SB`` or photo-effect files replaced), simulates ``--n`` photons of 1-3 GeV on
``atlas-pblar`` with it (seed 7; the default gun), and prints, beside the reference's
showers of the same energies: mean visible/incident energy, number of hit cells, and
layer-0 energy fraction. Variants:

* ``default``: the tables of ``caloforge.simulate.offline_tables`` (the published
  Seltzer-Berger tables for Z <= 92, Tsai's formula above);
* ``formula``: Tsai's formula at every Z, Coulomb correction faded in between 2 and 50 MeV
  (the formula the offline tables use above Z = 92);
* ``full-coulomb``: the formula with the full Coulomb correction at every energy;
* ``no-coulomb``: the formula without Coulomb correction below 1 GeV;
* ``brems+15%``: ``full-coulomb`` brems x 1.15 below 10 MeV;
* ``pe-binding``: ``full-coulomb`` brems and a photo-effect shell binding energy of
  ~13.6 eV Z^2 (K-shell-like) instead of 1 keV.

Every formula variant is written on the Seltzer-Berger grid
(:func:`~caloforge.simulate.offline_tables.formula_brem_table`); the photo-effect and
Rayleigh tables are the default ones (with or without the ``photon-data`` extra, as
installed) except in ``pe-binding``. docs/simulation.md quotes this script's output (REF:
the atlas-pblar photon training file). Official Geant4 data in the environment
(``GEANT4_DATA_DIR``, ``G4*DATA``) are refused: they would be simulated instead.

About 1 minute per variant with 2 workers on an idle machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np

from caloforge.simulate import SimulationConfig, g4data, offline_tables, simulate


def _brems(weight: Callable[[np.ndarray], np.ndarray] | None, boost: float = 1.0):
    def write(root: Path) -> None:
        saved = offline_tables.coulomb_weight, offline_tables.tsai_k_dsigma_dk
        try:
            if weight is not None:
                offline_tables.coulomb_weight = weight
            if boost != 1.0:
                base = saved[1]
                offline_tables.tsai_k_dsigma_dk = lambda z, t, k: (
                    base(z, t, k) * np.where(t < 10.0, boost, 1.0)
                )
            offline_tables.write_brem_tables(root / "brem_SB", offline_tables.formula_brem_table)
        finally:
            offline_tables.coulomb_weight, offline_tables.tsai_k_dsigma_dk = saved

    return write


def _pe_binding(root: Path) -> None:
    _brems(np.ones_like)(root)
    phot = root / "epics2017" / "phot"
    for z in range(1, offline_tables.Z_MAX + 1):
        binding = max(13.6e-6 * 0.9 * z * z, offline_tables.PE_EMIN)
        text = f"1 1 1e30\n{binding:.6e} 0 0 0 0 0 0\n"
        (phot / f"pe-high-{z}.dat").write_text(text)
        (phot / f"pe-low-{z}.dat").write_text(text)


VARIANTS: dict[str, Callable[[Path], None] | None] = {
    "default": None,
    "formula": _brems(None),
    "full-coulomb": _brems(np.ones_like),
    "no-coulomb": _brems(np.zeros_like),
    "brems+15%": _brems(np.ones_like, 1.15),
    "pe-binding": _pe_binding,
}


def summary(path: Path, lo: float = 1e3, hi: float = 3e3) -> str:
    with h5py.File(path) as f:
        e = f["incident_energies"][:, 0]
        s = f["showers"][:]
    m = (e >= lo) & (e < hi)
    e, s = e[m], s[m]
    tot = s.sum(1)
    r = tot / e
    return (
        f"{r.mean():.5f} ± {r.std() / np.sqrt(len(r)):.5f} | {(s > 0).sum(1).mean():.1f} | "
        f"{(s[:, :288].sum(1) / tot).mean():.4f} | {len(r)}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("reference", type=Path)
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("artifacts/benchmarks/brems_variants"))
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    try:  # official data in the environment would be simulated instead
        default_root = g4data.resolve_offline(args.out / "tables-default").root
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    names = g4data.dataset_names()[1]
    print("| variant | E_vis/E_inc (1-3 GeV) | hit cells | layer-0 fraction | showers |")
    print("|---|---|---|---|---|")
    print(f"| reference | {summary(args.reference)} |")
    for name in args.variants:
        root = default_root
        if VARIANTS[name] is not None:
            root = args.out / f"tables-{name}"
            if root.exists():
                shutil.rmtree(root)
            shutil.copytree(default_root, root)
            VARIANTS[name](root / names["G4LEDATA"])
        os.environ["CALOFORGE_G4DATA_CACHE"] = str(root)
        out = args.out / f"{name}.h5"
        cfg = SimulationConfig(
            "atlas-pblar",
            particle="gamma",
            energy="loguniform:1GeV,3GeV",
            n=args.n,
            seed=7,
            workers=args.workers,
        )
        simulate(cfg, out, overwrite=True)
        print(f"| {name} | {summary(out)} |", flush=True)


if __name__ == "__main__":
    main()
