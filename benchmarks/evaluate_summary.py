"""One Markdown row per `caloforge evaluate` report: AUCs, FPD, response, resolution, cell sigma.

Usage: python benchmarks/evaluate_summary.py NAME=REPORT_DIR [NAME=REPORT_DIR ...]

A report with several candidates gives one row each, named ``NAME: candidate``.

Columns: classifier AUC on voxels and on high-level observables (headline classifier,
error from the seeds), FPD, the largest |relative error| of the mean E_vis/E_inc over the
report's incident-energy bins, the range over the bins of the ratio of the relative
resolution sigma/mean to the reference's, and the weighted mean ratio of the per-cell
standard deviations (generated / reference; 1 is ideal).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def rows(name: str, folder: Path) -> list[str]:
    m = json.loads((folder / "metrics.json").read_text())
    cands = [k for k in m["comparisons"] if not k.startswith("floor")]
    return [row(name if len(cands) == 1 else f"{name}: {c}", m, c) for c in cands]


def row(name: str, m: dict, cand: str) -> str:
    comp = m["comparisons"][cand]
    clf, dist = comp["classifier"], comp["physics_distances"]
    ref, gen = m["response"]["reference"], m["response"][cand]
    r_ref, r_gen = np.array(ref["mean"]), np.array(gen["mean"])
    resp = np.max(np.abs(r_gen / r_ref - 1))
    ratio = np.array(gen["resolution"]) / np.array(ref["resolution"])
    sigma = m["cell_std_ratio"][cand]["weighted_mean"]
    return (
        f"| {name} | {clf['voxel']['auc']:.3f} ± {clf['voxel']['auc_err']:.3f} "
        f"| {clf['high_level']['auc']:.3f} ± {clf['high_level']['auc_err']:.3f} "
        f"| {dist['fpd']:.3g} ± {dist['fpd_err']:.2g} | {100 * resp:.1f}% "
        f"| {ratio.min():.2f}-{ratio.max():.2f} | {sigma:.2f} |"
    )


def main(argv: list[str]) -> None:
    print(
        "| model | AUC voxels | AUC high-level | FPD | max response error "
        "| resolution / G4 | cell sigma / G4 |"
    )
    print("|---|---|---|---|---|---|---|")
    for arg in argv:
        name, _, folder = arg.partition("=")
        print("\n".join(rows(name, Path(folder))))


if __name__ == "__main__":
    main(sys.argv[1:])
