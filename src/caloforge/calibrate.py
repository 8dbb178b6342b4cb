"""Fit a per-voxel quantile calibration (:mod:`caloforge.models.calibration`) to a trained
checkpoint and write the calibrated checkpoint.

The model (EMA weights) generates one shower for each training shower's conditions; the
calibration tabulates, in bins of incident energy, the distribution of each voxel in these
showers and in the training showers, and from then on maps the first onto the second.
The output is an ordinary checkpoint (same family, weights, step and config) whose state
has ``calibration.*`` entries and whose ``calibration`` entry records how it was fitted;
``generate``, ``evaluate``, ``bench`` and ``export`` use it like any other. Fit it on the
training data, never on the validation file the model is judged on.

Example:
    >>> calibrate("runs/d/best.pt", "train.h5", "runs/d/calibrated.pt")  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from caloforge.files import writes_output
from caloforge.generate import generate
from caloforge.models.calibration import QuantileCalibration
from caloforge.train.postfit import open_fit_source, write_fitted


@dataclass(frozen=True)
class CalibrationResult:
    """What :func:`calibrate` wrote: the checkpoint, the showers it used, its time (s)."""

    path: Path
    n_showers: int
    bins: int
    seconds: float


@writes_output("out", inputs=("checkpoint", "data"))
def calibrate(
    checkpoint: str | Path,
    data: str | Path,
    out: str | Path,
    *,
    n: int | None = None,
    bins: int = 8,
    levels: int = 257,
    grid: int = 1024,
    keep_layers: bool = False,
    seed: int = 0,
    batch_size: int = 10_000,
    device: str = "cpu",
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> CalibrationResult:
    """Fit the quantile calibration of ``checkpoint`` on training ``data``; write ``out``.

    Arguments:
        checkpoint: a trained caloforge checkpoint (not already calibrated).
        data: the training showers (HDF5, the same detector).
        out: the calibrated checkpoint (atomic write; an existing file is kept unless
            ``overwrite``; it may not be ``checkpoint`` itself).
        n: showers used (the first ``n`` of ``data``; None: all).
        bins / levels / grid: energy bins, quantile levels of the data's table and points
            of the model's CDF table.
        keep_layers: rescale each calibrated layer to the model's layer energy (for models
            whose layer energies are already right, e.g. with a stage-1 flow).
        seed: seed of the model's showers. batch_size / device: generation settings.
        progress: called with (showers generated, showers in all).

    Raises:
        ValueError: bad arguments, a calibrated input, too few showers per energy bin;
        CheckpointError; DetectorMismatchError; FileExistsError: ``out`` exists.
    """
    src = open_fit_source(
        checkpoint,
        data,
        out,
        key="calibration",
        done="calibrated",
        n=n,
        device=device,
        overwrite=overwrite,
    )
    model, count = src.model, src.count
    calib = QuantileCalibration(  # checks bins / levels
        model.n_voxels,
        bins,
        levels,
        grid,
        layer_of_voxel=model.detector.voxel_layer.tolist(),
        keep_layers=keep_layers,
    )
    showers, cond = src.data.showers(0, count), src.data.conditions(0, count)
    t0 = time.perf_counter()
    done = None if progress is None else (lambda k: progress(k, count))
    generated = generate(model, cond, seed=seed, batch_size=batch_size, progress=done)
    calib.fit(generated, cond.energy, showers, cond.energy)
    record: dict[str, Any] = {
        "kind": "quantile",
        "bins": bins,
        "levels": levels,
        "grid": grid,
        "keep_layers": keep_layers,
        "seed": seed,
    }
    path = write_fitted(out, src, "calibration", calib, record)
    return CalibrationResult(path, count, bins, time.perf_counter() - t0)


__all__ = ["CalibrationResult", "calibrate"]
