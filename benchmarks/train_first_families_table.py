"""Markdown table of the milestone numbers from a ``caloforge evaluate`` metrics.json.

Usage: python benchmarks/train_first_families_table.py artifacts/runs/report/metrics.json

Columns: classifier AUC (voxels, high-level; headline classifier, +- spread over seeds),
the largest relative error of mean E_vis/E_inc over the energy bins, the range of
resolution ratios (candidate / Geant4) over the bins, FPD, the weighted per-cell sigma
ratio, and the memorisation flag.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np


def rows(metrics: dict[str, Any]) -> list[str]:
    ref = metrics["response"]["reference"]
    out = [
        "| candidate | AUC voxels | AUC high-level | max abs(response err) "
        "| resolution ratio | FPD | cell sigma ratio | memorised |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, comp in metrics["comparisons"].items():
        clf = comp["classifier"]
        auc = " | ".join(
            f"{clf[k]['auc']:.3f} +- {clf[k]['auc_err']:.3f}" for k in ("voxel", "high_level")
        )
        fpd = comp["physics_distances"]
        cand = metrics["response"].get(name)
        if cand is not None:
            err = np.abs(np.asarray(cand["mean"]) / np.asarray(ref["mean"]) - 1)
            ratio = np.asarray(cand["resolution"]) / np.asarray(ref["resolution"])
            resp, res = f"{err.max():.1%}", f"{ratio.min():.2f}-{ratio.max():.2f}"
        else:
            resp = res = "-"
        sigma = metrics.get("cell_std_ratio", {}).get(name, {}).get("weighted_mean")
        memo = metrics.get("memorisation", {}).get(name, {})
        flag = (
            f"{'yes' if memo['flagged'] else 'no'} ({memo['fraction_near_copies']:.0%})"
            if memo
            else "-"
        )
        out.append(
            f"| {name} | {auc} | {resp} | {res} | {fpd['fpd']:.4g} +- {fpd['fpd_err']:.2g} | "
            f"{sigma if sigma is None else f'{sigma:.2f}'} | {flag} |"
        )
    return out


if __name__ == "__main__":
    print("\n".join(rows(json.load(open(sys.argv[1])))))
