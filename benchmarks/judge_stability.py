"""Stability of the classifier two-sample test: the spread of the AUC over seeds for a
checkpoint (or a generated file) against a Geant4 reference, and the Geant4-vs-Geant4
floor, at a fixed number of showers per class.

Usage:
    python benchmarks/judge_stability.py REFERENCE.h5 (--checkpoint CK.pt | --candidate GEN.h5)
        [--floor-reference R2.h5] [--n-train 10000] [--n-test 10000] [--seeds 5]
        [--inputs voxel,high_level] [--protocol caloforge|challenge] [--json out.json]

With ``--checkpoint`` the candidate is generated with the reference's conditions by the
installed ``caloforge generate`` (into a temporary folder). The floor compares
REFERENCE with ``--floor-reference``, or the even and odd rows of REFERENCE when none is
given (then REFERENCE needs twice the showers for the same size). Prints one line per
(comparison, input, classifier): the AUC of each seed, their mean, standard deviation and
spread (max - min), the sizes used, and the seconds taken.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from caloforge.data import ShowerFile
from caloforge.evaluate.classifier import (
    ClassifierConfig,
    high_level_inputs,
    two_sample_test,
    voxel_inputs,
)
from caloforge.evaluate.observables import high_level_observables


def _inputs(data: ShowerFile, rows: slice, kind: str, style: str) -> np.ndarray:
    n = len(data)
    idx = range(n)[rows]
    stop = idx[-1] + 1 if len(idx) else 0
    showers = data.showers(0, stop)[rows]
    cond = data.conditions(0, stop).select(rows)
    if kind == "voxel":
        return voxel_inputs(showers, cond, style)
    feats = high_level_observables(showers, cond.energy, data.detector)
    return high_level_inputs(feats, cond)


def _judge(
    name: str,
    a: tuple[ShowerFile, slice],
    b: tuple[ShowerFile, slice],
    kinds: list[str],
    cfg: ClassifierConfig,
) -> list[dict[str, Any]]:
    out = []
    for kind in kinds:
        t0 = time.perf_counter()
        standardise = not (kind == "voxel" and cfg.protocol == "challenge")
        r = two_sample_test(
            _inputs(*a, kind, cfg.protocol),
            _inputs(*b, kind, cfg.protocol),
            cfg,
            standardise=standardise,
        )
        seconds = time.perf_counter() - t0
        for clf, v in r["classifiers"].items():
            line = {
                "comparison": name,
                "input": kind,
                "classifier": clf,
                "auc": v["auc"],
                "mean": v["auc_mean"],
                "std": v["auc_std"],
                "spread": max(v["auc"]) - min(v["auc"]),
                "n_train_per_class": r["n_train_per_class"],
                "n_test_per_class": r["n_test_per_class"],
                "auc_stat_err": r["auc_stat_err"],
                "headline": clf == r["headline"],
                "seconds": seconds,
            }
            out.append(line)
            aucs = ", ".join(f"{x:.3f}" for x in v["auc"])
            print(
                f"{name} | {kind} | {clf}{' *' if line['headline'] else ''} | {aucs} | "
                f"mean {v['auc_mean']:.3f} std {v['auc_std']:.3f} spread {line['spread']:.3f} | "
                f"train/test per class {r['n_train_per_class']}/{r['n_test_per_class']} | "
                f"{seconds:.0f} s",
                flush=True,
            )
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("reference", type=Path)
    src = p.add_mutually_exclusive_group()
    src.add_argument("--checkpoint", type=Path)
    src.add_argument("--candidate", type=Path)
    p.add_argument("--floor-reference", type=Path)
    p.add_argument("--no-floor", action="store_true", help="Skip the Geant4-vs-Geant4 floor.")
    p.add_argument("--n-train", type=int, default=10_000)
    p.add_argument("--n-test", type=int, default=10_000)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--inputs", default="voxel,high_level")
    p.add_argument("--classifiers", default=None, help="e.g. mlp,hgb (default: the protocol's)")
    p.add_argument("--protocol", default="caloforge", choices=["caloforge", "challenge"])
    p.add_argument("--json", type=Path)
    a = p.parse_args()
    kw: dict[str, Any] = {"seeds": tuple(range(a.seeds)), "n_train": a.n_train, "n_test": a.n_test}
    if a.classifiers:
        kw["classifiers"] = tuple(a.classifiers.split(","))
    cfg = ClassifierConfig.challenge(**kw) if a.protocol == "challenge" else ClassifierConfig(**kw)
    kinds = a.inputs.split(",")
    ref = ShowerFile(a.reference)
    lines: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        cand_path = a.candidate
        if a.checkpoint is not None:
            cand_path = Path(tmp) / "generated.h5"
            exe = Path(sys.executable).parent / "caloforge"
            subprocess.run(
                [
                    str(exe),
                    "generate",
                    "--checkpoint",
                    str(a.checkpoint),
                    "--conditions-from",
                    str(a.reference),
                    "-o",
                    str(cand_path),
                ],
                check=True,
            )
        if cand_path is not None:
            cand = ShowerFile(cand_path, ref.detector)
            lines += _judge(cand_path.stem, (ref, slice(None)), (cand, slice(None)), kinds, cfg)
    if not a.no_floor:
        if a.floor_reference is not None:
            floor = (ShowerFile(a.floor_reference, ref.detector), slice(None))
            lines += _judge("floor", (ref, slice(None)), floor, kinds, cfg)
        else:
            lines += _judge(
                "floor (halves)", (ref, slice(0, None, 2)), (ref, slice(1, None, 2)), kinds, cfg
            )
    if a.json is not None:
        a.json.write_text(json.dumps(lines, indent=1))


if __name__ == "__main__":
    main()
