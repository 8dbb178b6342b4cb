"""One Markdown row per candidate of `caloforge evaluate` reports: AUCs, FPD, response,
resolution, cell sigma, memorisation.

Usage: python benchmarks/evaluate_summary.py [--floor] NAME=REPORT_DIR [NAME=REPORT_DIR ...]

A report with several candidates gives one row each, named ``NAME: candidate``. With
``--floor``, a first row gives the Geant4-vs-Geant4 floor of the first report (its AUCs
and sizes).

Columns: classifier AUC on voxels and on high-level observables (headline classifier and
its error; "skipped" below the metric's minimum), the showers per class that trained and
tested the classifier, FPD, the largest |relative error| of the mean E_vis/E_inc over the report's
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


def read_report(folder: Path) -> dict[str, Any]:
    """The ``metrics.json`` of one report folder."""
    result: dict[str, Any] = json.loads((folder / "metrics.json").read_text())
    return result


def rows(name: str, m: dict[str, Any]) -> list[str]:
    """The rows of one report's metrics ``m`` (one per candidate, the floor excluded)."""
    cands = [k for k in m["comparisons"] if not k.startswith("floor")]
    return [row(name if len(cands) == 1 else f"{name}: {c}", m, c) for c in cands]


def row(name: str, m: dict[str, Any], cand: str) -> str:
    """One Markdown row for candidate ``cand`` of the metrics ``m``."""
    comp = m["comparisons"][cand]
    clf, dist = comp.get("classifier") or {}, comp.get("physics_distances") or {}
    vox, hl = auc(clf.get("voxel")), auc(clf.get("high_level"))
    size = sizes(clf.get("voxel") or {})
    ref, gen = m["response"]["reference"], m["response"][cand]
    resp = np.max(np.abs(np.array(gen["mean"]) / np.array(ref["mean"]) - 1))
    ratio = np.array(gen["resolution"]) / np.array(ref["resolution"])
    sigma = m["cell_std_ratio"][cand]["weighted_mean"]
    memo = (m.get("memorisation") or {}).get(cand)
    flag = (
        f"{'yes' if memo['flagged'] else 'no'} ({memo['fraction_near_copies']:.0%})"
        if memo
        else "-"
    )
    fpd = "skipped" if dist.get("fpd") is None else f"{dist['fpd']:.3g} ± {dist['fpd_err']:.2g}"
    return (
        f"| {name} | {vox} | {hl} | {size} | {fpd} | {100 * resp:.1f}% "
        f"| {ratio.min():.2f}-{ratio.max():.2f} | {sigma:.2f} | {flag} |"
    )


def floor_row(m: dict[str, Any]) -> str:
    """The Geant4-vs-Geant4 floor of one report's metrics ``m``: AUCs and sizes, the other
    columns empty."""
    name, comp = next((k, v) for k, v in m["comparisons"].items() if k.startswith("floor"))
    clf = comp.get("classifier") or {}
    size = sizes(clf.get("voxel") or {})
    return f"| {name} | {auc(clf.get('voxel'))} | {auc(clf.get('high_level'))} | {size} " + (
        "| - " * 5 + "|"
    )


def auc(result: dict[str, Any] | None) -> str:
    """``AUC ± error`` of one classifier input, or ``skipped``."""
    if not result or result.get("auc") is None:
        return "skipped"
    return f"{result['auc']:.3f} ± {result['auc_err']:.3f}"


def sizes(result: dict[str, Any]) -> str:
    """Showers per class that trained / tested the classifier (``-`` when not recorded)."""
    train, test = result.get("n_train_per_class"), result.get("n_test_per_class")
    return f"{train:,} / {test:,}" if train and test else "-"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("reports", nargs="+", metavar="NAME=REPORT_DIR")
    ap.add_argument("--floor", action="store_true", help="first row: the first report's floor")
    args = ap.parse_args()
    reports = [arg.partition("=")[::2] for arg in args.reports]
    for _, folder in reports:
        if not (Path(folder) / "metrics.json").is_file():
            ap.error(f"{folder}/metrics.json: no such file")
    metrics = [(name, read_report(Path(folder))) for name, folder in reports]
    print(
        "| model | AUC voxels | AUC high-level | showers per class (train / test) | FPD "
        "| max response error | resolution / G4 | cell sigma / G4 | memorised |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    if args.floor:
        print(floor_row(metrics[0][1]))
    for name, m in metrics:
        print("\n".join(rows(name, m)))


if __name__ == "__main__":
    main()
