"""Electron bremsstrahlung that Geant4 uses against the published Seltzer-Berger tables.

Asks ``G4EmCalculator`` (through :func:`caloforge.simulate.em_tables.em_tables`) for the
radiative stopping power (dE/dx of ``eBrem``, no cut) and the number of photons above
``--photon-cut`` per g/cm^2 of e- in water, Si, LAr, W and Pb at 1, 10 and 100 MeV, with
the offline tables (the published tables for Z <= 92, Tsai's formula above) and with the
formula at every Z on the Seltzer-Berger grid
(:func:`~caloforge.simulate.offline_tables.formula_brem_table`), and compares both with
the integrals of the published tables
(:func:`~caloforge.simulate.offline_tables.energy_loss_xs`, ``photon_xs``) over the
element composition Geant4 uses. Official Geant4 data in the environment
(``GEANT4_DATA_DIR``, ``G4*DATA``) are refused: they would be measured instead. The
``dielectric`` column is the share of the photons above the cut that Geant4's dielectric
suppression (Ter-Mikaelian, k_p = gamma hbar omega_p) removes, which the reference leaves
in.

Usage:
    python benchmarks/brems_tables.py [--photon-cut MEV] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
from pathlib import Path

import numpy as np

from caloforge.files import write_text
from caloforge.simulate import g4data, offline_tables
from caloforge.simulate.em_tables import BREM_PHOTON_CUT, EmTables, em_tables

MATERIALS = {"water": "G4_WATER", "Si": "G4_Si", "LAr": "G4_lAr", "W": "G4_W", "Pb": "G4_Pb"}
ENERGIES = (1.0, 10.0, 100.0)
MB_CM2 = 1e-27
R_E_CM = 2.8179403262e-13


def formula_tables(default_root: Path, root: Path) -> Path:
    """A copy of the offline data with the formula's ``brem_SB`` files at every Z."""
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(default_root, root)
    brem = root / g4data.dataset_names()[1]["G4LEDATA"] / "brem_SB"
    offline_tables.write_brem_tables(brem, offline_tables.formula_brem_table)
    return root


def reference(atoms: dict[int, float], kinetic: float, cut: float) -> tuple[float, float]:
    """Radiative stopping power (MeV cm^2/g) and photons above ``cut`` (cm^2/g) of the
    published tables for a material of ``atoms`` (atoms per gram by Z)."""
    dedx = sum(
        n * offline_tables.energy_loss_xs(offline_tables.seltzer_berger_chi(z), z, kinetic)
        for z, n in atoms.items()
    )
    photons = sum(
        n * offline_tables.photon_xs(offline_tables.seltzer_berger_chi(z), z, kinetic, cut)
        for z, n in atoms.items()
    )
    return dedx * MB_CM2, photons * MB_CM2


def dielectric_share(atoms: dict[int, float], density: float, kinetic: float, cut: float) -> float:
    """Share of the photons above ``cut`` that a factor k^2 / (k^2 + k_p^2) removes
    (estimated for a flat chi, i.e. dk/k)."""
    n_e = density * sum(z * n for z, n in atoms.items())  # electrons per cm^3
    plasma = (
        math.sqrt(4 * math.pi * n_e * R_E_CM**3)
        * offline_tables.ELECTRON_MASS
        / offline_tables.ALPHA
    )
    k_p = plasma * (kinetic + offline_tables.ELECTRON_MASS) / offline_tables.ELECTRON_MASS
    k = np.geomspace(cut, kinetic, 2001)
    return float(1 - np.trapezoid(k**2 / (k**2 + k_p**2), np.log(k)) / math.log(kinetic / cut))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photon-cut", type=float, default=BREM_PHOTON_CUT, help="MeV")
    ap.add_argument("--out", type=Path, default=Path("artifacts/benchmarks/brems_tables"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    try:  # official data in the environment would be measured instead
        default_root = g4data.resolve_offline(args.out / "tables-default").root
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    roots = {
        "tables": default_root,
        "formula": formula_tables(default_root, args.out / "tables-formula"),
    }
    measured: dict[str, EmTables] = {
        name: em_tables(
            tuple(MATERIALS.values()),
            ENERGIES,
            setup=g4data.resolve_offline(root),
            photon_cut=args.photon_cut,
        )
        for name, root in roots.items()
    }
    tables = measured["tables"]
    print(
        f"| material | T (MeV) | dE/dx Seltzer-Berger | Geant4, tables | Geant4, formula "
        f"| photons > {args.photon_cut * 1e3:g} keV, Seltzer-Berger | Geant4, tables "
        "| Geant4, formula | dielectric |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    rows = []
    for name, g4name in MATERIALS.items():
        atoms = tables.atoms_per_gram[g4name]
        for i, t in enumerate(ENERGIES):
            ref_dedx, ref_n = reference(atoms, t, args.photon_cut)
            row = {
                "material": name,
                "kinetic_mev": t,
                "reference_dedx": ref_dedx,
                "reference_photons": ref_n,
                "dielectric": dielectric_share(atoms, tables.density[g4name], t, args.photon_cut),
            }
            for key, m in measured.items():
                row[f"{key}_dedx"] = m.dedx[g4name]["eBrem"][i]
                row[f"{key}_photons"] = m.brem_photons[g4name][i]
            rows.append(row)
            print(
                f"| {name} | {t:g} | {ref_dedx:.4g} "
                + " ".join(
                    f"| {row[f'{k}_dedx']:.4g} ({row[f'{k}_dedx'] / ref_dedx - 1:+.1%})"
                    for k in measured
                )
                + f" | {ref_n:.4g} "
                + " ".join(
                    f"| {row[f'{k}_photons']:.4g} ({row[f'{k}_photons'] / ref_n - 1:+.1%})"
                    for k in measured
                )
                + f" | {row['dielectric']:.2%} |",
                flush=True,
            )
    result = {"photon_cut_mev": args.photon_cut, "units": "MeV cm2/g; cm2/g", "rows": rows}
    write_text(args.out / "brems_tables.json", json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
