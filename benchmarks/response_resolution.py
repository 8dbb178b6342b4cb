"""Quick response/resolution table of generated vs reference showers (no classifier).

Usage: python benchmarks/response_resolution.py REF.h5 GEN1.h5 [GEN2.h5 ...]

Per incident-energy bin: mean E_vis/E_inc and its relative error vs the reference, and
the relative resolution sigma(E_vis/E_inc)/mean with its ratio to the reference; then the
mean layer energy fractions. The complete validation is ``caloforge evaluate``.
"""

from __future__ import annotations

import argparse
from itertools import pairwise

import numpy as np

from caloforge.data import read_showers

EDGES_GEV = (1, 2, 5, 10, 20, 50, 100)


def summary(path: str) -> tuple[list[tuple[float, float, int]], np.ndarray]:
    showers, cond, det = read_showers(path)
    e = cond.energy
    r = showers.sum(1) / e
    rows = []
    for lo, hi in pairwise(EDGES_GEV):
        sel = (e >= lo * 1e3) & (e < hi * 1e3 * (1 + 1e-9))
        rows.append((float(r[sel].mean()), float(r[sel].std() / r[sel].mean()), int(sel.sum())))
    layers = np.stack([showers[:, s].sum(1) for s in det.layer_slices], 1)
    return rows, (layers / np.maximum(layers.sum(1, keepdims=True), 1e-12)).mean(0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("reference", help="Geant4 reference file")
    ap.add_argument("generated", nargs="+", help="generated files")
    args = ap.parse_args()
    argv = [args.reference, *args.generated]
    ref_rows, ref_frac = summary(argv[0])
    print(f"reference {argv[0]}: layer fractions {np.round(ref_frac, 4).tolist()}")
    print(f"{'bin [GeV]':>10} {'N':>5} {'ref <r>':>8} {'ref res':>8}")
    for (lo, hi), (m, s, n) in zip(pairwise(EDGES_GEV), ref_rows, strict=True):
        print(f"{lo:>4}-{hi:<5} {n:>5} {m:8.4f} {s:8.4f}")
    for path in argv[1:]:
        rows, frac = summary(path)
        print(f"\n{path}: layer fractions {np.round(frac, 4).tolist()}")
        print(f"{'bin [GeV]':>10} {'<r>':>8} {'rel.err':>8} {'res':>8} {'res/ref':>8}")
        errs, ratios = [], []
        for (lo, hi), (m, s, _), (mr, sr, n_ref) in zip(
            pairwise(EDGES_GEV), rows, ref_rows, strict=True
        ):
            if n_ref == 0:  # no reference shower in this bin (e.g. 1-2 GeV of a 2-100 GeV set)
                continue
            errs.append(m / mr - 1)
            ratios.append(s / sr)
            print(f"{lo:>4}-{hi:<5} {m:8.4f} {m / mr - 1:+8.2%} {s:8.4f} {s / sr:8.2f}")
        print(
            f"max |response error| {max(map(abs, errs)):.2%}; resolution ratio range "
            f"{min(ratios):.2f}-{max(ratios):.2f}"
        )


if __name__ == "__main__":
    main()
