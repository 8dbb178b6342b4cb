"""Build the kept Seltzer-Berger bremsstrahlung table of the package from the NIST files.

Reads Seltzer's tables (S. M. Seltzer, NBS 1984; Seltzer and Berger, At. Data Nucl. Data
Tables 35 (1986) 345) in their plain-text distribution: one file per element,
``nist_brems_{Z}`` (Z = 1-92), each 57 x 32 numbers (electron kinetic energy major,
reduced photon energy minor) of the scaled cross section chi = (beta^2/Z^2) k dsigma/dk
in millibarn, and ``nist_brems_grid`` (a header ``92 57 32``, the 57 kinetic energies in
MeV, the 32 reduced photon energies k/T). Checks that the grids are those of
:data:`caloforge.simulate.offline_tables.SB_KAPPA` and ``SB_LOG_T`` and writes
the package's ``caloforge/simulate/data/seltzer_berger.npz`` (float32; see the README
there); run it with ``PYTHONPATH=src`` from the repository.

Usage:
    python benchmarks/seltzer_berger_table.py NIST_DIR [--out FILE.npz]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from caloforge.files import atomic_output
from caloforge.simulate.offline_tables import SB_KAPPA, SB_LOG_T, SB_TABLE, SB_Z_MAX


def read_nist(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The grids (T in MeV, k/T) and chi (Z, T, k/T) in mb of the NIST files in ``folder``.

    Raises:
        ValueError: one line naming a file that is missing or unreadable, or whose header
            or count of numbers is not that of the package's table.
    """
    expected = (SB_Z_MAX, len(SB_LOG_T), len(SB_KAPPA))
    grid = _numbers(folder / "nist_brems_grid")
    header = tuple(grid[:3])
    if header != expected:
        raise ValueError(
            f"{folder}/nist_brems_grid: header {' '.join(f'{v:g}' for v in header)}, "
            f"not {' '.join(map(str, expected))}"
        )
    n_z, n_t, n_k = expected
    if grid.size != 3 + n_t + n_k:
        raise ValueError(f"{folder}/nist_brems_grid: {grid.size} numbers, not {3 + n_t + n_k}")
    t = grid[3 : 3 + n_t]
    kappa = grid[3 + n_t :]
    chi = np.empty((n_z, n_t, n_k))
    for z in range(1, n_z + 1):
        values = _numbers(folder / f"nist_brems_{z}")
        if values.size != n_t * n_k:
            raise ValueError(f"{folder}/nist_brems_{z}: {values.size} numbers, not {n_t * n_k}")
        chi[z - 1] = values.reshape(n_t, n_k)
    return t, kappa, chi


def _numbers(path: Path) -> np.ndarray:
    try:
        text = path.read_text()
    except OSError as err:
        raise ValueError(f"{path}: {err.strerror or err}") from None
    try:
        return np.array(text.split(), dtype=float)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None


def check_table(folder: Path, t: np.ndarray, kappa: np.ndarray, chi: np.ndarray) -> None:
    """Refuse grids other than the package's and values that are not finite and positive.

    Raises:
        ValueError: one line naming the file and what differs.
    """
    grid = folder / "nist_brems_grid"
    # the first reduced photon energy is 0 here and 1e-12 in Geant4's files (ln kappa)
    if not (np.allclose(kappa[1:], SB_KAPPA[1:], rtol=0, atol=1e-9) and kappa[0] == 0.0):
        raise ValueError(f"{grid}: the reduced photon energies differ from SB_KAPPA")
    if not np.allclose(np.log(t), SB_LOG_T, rtol=0, atol=1e-9):
        raise ValueError(f"{grid}: the electron energies differ from SB_LOG_T")
    bad = ~(np.isfinite(chi) & (chi > 0))
    if bad.any():
        z = int(np.argwhere(bad)[0][0]) + 1
        raise ValueError(f"{folder}/nist_brems_{z}: chi is not finite and positive everywhere")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("nist_dir", type=Path)
    ap.add_argument("--out", type=Path, default=SB_TABLE)
    args = ap.parse_args()
    if not (args.nist_dir / "nist_brems_grid").is_file():
        print(f"error: {args.nist_dir}: no nist_brems_grid", file=sys.stderr)
        sys.exit(2)
    try:
        t, kappa, chi = read_nist(args.nist_dir)
        check_table(args.nist_dir, t, kappa, chi)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    with atomic_output(args.out, overwrite=True) as tmp, tmp.open("wb") as fh:
        np.savez_compressed(
            fh,
            z=np.arange(1, SB_Z_MAX + 1, dtype=np.int16),
            kinetic_mev=t.astype(np.float32),
            kappa=kappa.astype(np.float32),
            chi_mb=chi.astype(np.float32),
        )
    rounding = np.abs(chi.astype(np.float32) / chi - 1).max()
    shape = f"{t.size} x {kappa.size}"
    print(f"{args.out}: Z = 1-{SB_Z_MAX}, {shape}, float32 (max rounding {rounding:.1e})")


if __name__ == "__main__":
    main()
