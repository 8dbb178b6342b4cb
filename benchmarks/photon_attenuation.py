"""Photon attenuation that Geant4 uses (offline or official data) against references.

Asks ``G4EmCalculator`` (through :func:`caloforge.simulate.em_tables.em_tables`) for the
mass attenuation coefficients of Pb, W, Si, LAr and PbWO4 from 10 keV to 10 MeV, per
process, and compares the totals with XCOM for Pb at 1 and 10 MeV and, with the
``photon-data`` extra installed, with the Elam-Ravel-Sieber totals of ``xraydb`` up to
800 keV. The offline data are generated in the usual cache (``CALOFORGE_G4DATA_CACHE``).

Usage:
    python benchmarks/photon_attenuation.py [--g4-data DIR] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

import numpy as np

from caloforge.simulate.em_tables import em_tables
from caloforge.simulate.photon_library import LIBRARY_EMAX

MATERIALS = {"Pb": "G4_Pb", "W": "G4_W", "Si": "G4_Si", "LAr": "G4_lAr", "PbWO4": "G4_PbWO4"}
DENSITY = {"PbWO4": 8.28}
ENERGIES = (0.01, 0.03, 0.1, 0.3, 0.8, 1.0, 3.0, 10.0)
XCOM = {"Pb": {1.0: 0.07102, 10.0: 0.04972}}
"""NIST XCOM total attenuation with coherent scattering, cm^2/g."""


def library_totals(name: str) -> dict[float, float]:
    """Elam-Ravel-Sieber totals (xraydb) at the energies up to its top, cm^2/g."""
    import xraydb

    e = np.array([x for x in ENERGIES if x <= LIBRARY_EMAX])
    if name in DENSITY:
        mu = xraydb.material_mu(name, e * 1e6, density=DENSITY[name]) / DENSITY[name]
    else:
        mu = xraydb.mu_elam("Ar" if name == "LAr" else name, e * 1e6)
    return dict(zip(e.tolist(), np.asarray(mu, dtype=float).tolist(), strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--g4-data", default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    tables = em_tables(tuple(MATERIALS.values()), ENERGIES, g4_data=args.g4_data)
    has_library = importlib.util.find_spec("xraydb") is not None
    result: dict[str, object] = {"energies_mev": ENERGIES, "data_mode": tables.data_mode}
    for name, g4name in MATERIALS.items():
        total = tables.total_mu_rho(g4name)
        refs = dict(XCOM.get(name, {}))
        if has_library:
            refs.update(library_totals(name))
        diffs = {e: total[i] / refs[e] - 1 for i, e in enumerate(ENERGIES) if e in refs}
        result[name] = {
            "total": total,
            "per_process": tables.mu_rho[g4name],
            "reference": refs,
            "difference": diffs,
        }
        cells = [
            f"{v:.4g}" + (f" ({diffs[e]:+.1%})" if e in diffs else "")
            for e, v in zip(ENERGIES, total, strict=True)
        ]
        print(f"{name:6s} " + "  ".join(cells))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
