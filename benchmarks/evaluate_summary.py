"""One Markdown row per candidate of `caloforge evaluate` reports: AUCs, FPD, response,
resolution, cell sigma, memorisation.

Usage: python benchmarks/evaluate_summary.py NAME=REPORT_DIR [NAME=REPORT_DIR ...]

A report with several candidates gives one row each, named ``NAME: candidate``.

Columns: classifier AUC on voxels and on high-level observables (headline classifier and
its error), FPD, the largest |relative error| of the mean E_vis/E_inc over the report's
incident-energy bins, the range over the bins of the ratio of the relative resolution
sigma/mean to the reference's, the weighted mean ratio of the per-cell standard
deviations (generated / reference; 1 is ideal), and the memorisation check (flagged or
not, fraction of near-copies; "-" when the report was made without ``--train``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np


def rows(name: str, folder: Path) -> list[str]:
    """The rows of one report folder (one per candidate, the floor excluded)."""
    m = json.loads((folder / "metrics.json").read_text())
    cands = [k for k in m["comparisons"] if not k.startswith("floor")]
    return [row(name if len(cands) == 1 else f"{name}: {c}", m, c) for c in cands]


def row(name: str, m: dict[str, Any], cand: str) -> str:
    """One Markdown row for candidate ``cand`` of the metrics ``m``."""
    comp = m["comparisons"][cand]
    clf, dist = comp["classifier"], comp["physics_distances"]
    ref, gen = m["response"]["reference"], m["response"][cand]
    resp = np.max(np.abs(np.array(gen["mean"]) / np.array(ref["mean"]) - 1))
    ratio = np.array(gen["resolution"]) / np.array(ref["resolution"])
    sigma = m["cell_std_ratio"][cand]["weighted_mean"]
    memo = m.get("memorisation", {}).get(cand)
    flag = (
        f"{'yes' if memo['flagged'] else 'no'} ({memo['fraction_near_copies']:.0%})"
        if memo
        else "-"
    )
    return (
        f"| {name} | {clf['voxel']['auc']:.3f} ± {clf['voxel']['auc_err']:.3f} "
        f"| {clf['high_level']['auc']:.3f} ± {clf['high_level']['auc_err']:.3f} "
        f"| {dist['fpd']:.3g} ± {dist['fpd_err']:.2g} | {100 * resp:.1f}% "
        f"| {ratio.min():.2f}-{ratio.max():.2f} | {sigma:.2f} | {flag} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("reports", nargs="+", metavar="NAME=REPORT_DIR")
    args = ap.parse_args()
    reports = [arg.partition("=")[::2] for arg in args.reports]
    for _, folder in reports:
        if not (Path(folder) / "metrics.json").is_file():
            ap.error(f"{folder}/metrics.json: no such file")
    print(
        "| model | AUC voxels | AUC high-level | FPD | max response error "
        "| resolution / G4 | cell sigma / G4 | memorised |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, folder in reports:
        print("\n".join(rows(name, Path(folder))))


if __name__ == "__main__":
    main()
