"""The calibration with spread impact points and angles: a checkpoint uncalibrated, with the
energy-binned calibration and with the axis-frame calibration, against a Geant4 test file,
layer by layer.

Usage:
    python benchmarks/axis_calibration.py CHECKPOINT.pt TRAIN.h5 TEST.h5 --out DIR
        [--n-train N] [--n-test N] [--seed 0] [--json out.json]

Both calibrations are fitted on TRAIN.h5 (the checkpoint's training file: ``caloforge
calibrate --mode energy`` / ``--mode axis``, written as DIR/energy.pt and DIR/axis.pt,
reused when present), then each model generates TEST.h5's conditions (first ``--n-test``
showers) into DIR/MODEL.h5. Per readout layer it prints, for the test file and each model, the
slope and residual RMS of the energy-weighted layer centre against the track (as in
``caloforge evaluate``'s conditional section) and the mean fraction of the layer's energy in
the cell the track crosses; each model's figures are also given relative to the test file's. The
full comparison (AUCs, condition-by-condition metrics with the Geant4 floor) is then
``caloforge evaluate TEST.h5 DIR/*.h5 --train TRAIN.h5 --out DIR/report``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from caloforge.data import ShowerFile, write_showers
from caloforge.evaluate.conditional import centre_vs_impact, summarise_conditional
from caloforge.generate import generate
from caloforge.postprocess import calibrate
from caloforge.postprocess.axis_calibration import track_cell_fraction
from caloforge.train import load_model


def layer_figures(showers: np.ndarray, cond: Any, det: Any) -> list[dict[str, Any]]:
    rows = centre_vs_impact(summarise_conditional(showers, cond, det))
    core = track_cell_fraction(showers, cond, det)
    return [
        {"layer": r["layer"], "slope": r["slope"], "rms": r["rms"], "track_cell": float(c)}
        for r, c in zip(rows, core, strict=True)
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("train", type=Path)
    ap.add_argument("test", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--n-train", type=int, default=None)
    ap.add_argument("--n-test", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    models = {"uncalibrated": args.checkpoint}
    for mode in ("energy", "axis"):
        path = args.out / f"{mode}.pt"
        if not path.exists():
            t0 = time.perf_counter()
            result = calibrate(
                args.checkpoint, args.train, path, mode=mode, n=args.n_train, seed=args.seed
            )
            print(f"calibrated ({mode}): {path}, {time.perf_counter() - t0:.1f} s, {result.record}")
        models[mode] = path

    test = ShowerFile(args.test)
    n = len(test) if args.n_test is None else min(args.n_test, len(test))
    cond, det = test.conditions(0, n), test.detector
    figures = {"reference": layer_figures(test.showers(0, n), cond, det)}
    for name, path in models.items():
        model, _ = load_model(path)
        showers = generate(model, cond, seed=args.seed + 1)
        write_showers(args.out / f"{name}.h5", showers, cond, det, overwrite=True)
        figures[name] = layer_figures(showers, cond, det)

    print(f"\n{n} test showers of {args.test}; per layer: slope, RMS (mm), track-cell fraction")
    for layer, g4 in enumerate(figures["reference"]):
        print(f"layer {layer}: reference {g4['slope']}, {g4['rms']}, {g4['track_cell']:.4f}")
        for name in models:
            row = figures[name][layer]
            ratios = [
                (row[k] / g4[k] if row[k] is not None and g4[k] else float("nan"))
                for k in ("slope", "rms", "track_cell")
            ]
            print(
                f"  {name:>12}: {row['slope']}, {row['rms']}, {row['track_cell']:.4f} "
                f"(/ reference: {ratios[0]:.3f}, {ratios[1]:.3f}, {ratios[2]:.3f})"
            )
    if args.json is not None:
        args.json.write_text(json.dumps({"showers": n, "figures": figures}, indent=1))


if __name__ == "__main__":
    main()
