"""Fitting a post-processor to a trained checkpoint (``caloforge calibrate``,
``caloforge refine``): open the checkpoint with its training data (the same checks and
messages for every post-processor), generate the model's showers at the training
conditions, fit, and write the checkpoint extended by the fitted module.

The output is an ordinary checkpoint (same family, weights, step and config) whose state
has ``postprocessing.<name>.*`` tensors and whose ``<name>`` entry records the fit (its
settings and figures, the data, the number of showers, the seed and the source
checkpoint); ``generate``, ``evaluate``, ``bench`` and ``export`` use it like any other.
Fit on the training data, never on the validation file the model is judged on.

Example:
    >>> calibrate("runs/d/best.pt", "train.h5", "runs/d/calibrated.pt")  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from caloforge.data import ShowerFile
from caloforge.files import check_output, writes_output
from caloforge.generate import generate
from caloforge.models import ShowerModel
from caloforge.postprocess.axis_calibration import AxisCalibrationSettings, calibration_mode
from caloforge.postprocess.base import FitSamples, PostProcessor
from caloforge.postprocess.calibration import CalibrationSettings
from caloforge.postprocess.refiner import RefinerSettings
from caloforge.postprocess.registry import PREFIX, get_postprocessor
from caloforge.train.checkpoint import load_checkpoint, save_checkpoint
from caloforge.train.loading import (
    check_detector,
    checkpoint_detector,
    load_model,
    open_data,
    resolve_device,
)


@dataclass(frozen=True)
class FitSource:
    """A trained checkpoint (its dict and model, EMA weights) and the first ``count``
    showers of its training data."""

    path: Path
    checkpoint: dict[str, Any]
    model: ShowerModel
    data: ShowerFile
    count: int


@dataclass(frozen=True)
class FitResult:
    """What :func:`fit_checkpoint` wrote: the checkpoint, the showers it used, the record
    of the fit (settings and figures, e.g. ``bins``, ``held_out_auc``), its time (s)."""

    path: Path
    n_showers: int
    record: dict[str, Any]
    seconds: float


def open_fit_source(
    checkpoint: str | Path,
    data: str | Path,
    out: str | Path,
    cls: type[PostProcessor],
    *,
    n: int | None = None,
    device: str = "cpu",
    overwrite: bool = False,
) -> FitSource:
    """Check the arguments of fitting post-processor ``cls`` and open its inputs.

    Raises:
        FileExistsError: ``out`` exists; ValueError: ``out`` is an input, bad ``n``, an
        input that already has the post-processor, too few showers; CheckpointError;
        DetectorMismatchError.
    """
    check_output(out, overwrite=overwrite, inputs=(checkpoint, data))
    if n is not None and n < cls.min_showers:
        raise ValueError(f"-n must be >= {cls.min_showers}, got {n}")
    ckpt = load_checkpoint(checkpoint)
    model, _ = load_model(ckpt, resolve_device(device), use_ema=True)
    if cls.name in model.postprocessing or cls.name in ckpt:
        raise ValueError(f"{checkpoint}: is already {cls.done}; use the checkpoint it came from")
    ref = open_data(data, model.detector)
    check_detector(ckpt, ref.detector, checkpoint=str(checkpoint), data=str(data))
    count = len(ref) if n is None else n
    if count > len(ref):
        raise ValueError(f"{data}: holds {len(ref)} showers, fewer than the {count} requested (-n)")
    if count < cls.min_showers:
        raise ValueError(f"{data}: {count} showers are too few (at least {cls.min_showers})")
    return FitSource(Path(checkpoint), ckpt, model, ref, count)


def write_fitted(
    out: str | Path, source: FitSource, module: PostProcessor, record: dict[str, Any]
) -> Path:
    """Write ``source``'s checkpoint with ``module`` as ``postprocessing.<name>.*`` state
    and ``record`` (plus the data, the number of showers and the source path) as
    ``<name>`` (atomic)."""
    ckpt, key = source.checkpoint, module.name
    state = dict(ckpt["state"])
    state.update({f"{PREFIX}{key}.{k}": v.cpu() for k, v in module.state_dict().items()})
    record = record | {
        "data": [str(p) for p in source.data.paths],
        "showers": source.count,
        "source": str(source.path),
    }
    return save_checkpoint(
        out,
        {k: v for k, v in ckpt.items() if k not in ("format", "format_version")}
        | {"state": state, key: record},
    )


@writes_output("out", inputs=("checkpoint", "data"))
def fit_checkpoint(
    name: str,
    checkpoint: str | Path,
    data: str | Path,
    out: str | Path,
    settings: Any = None,
    *,
    n: int | None = None,
    seed: int = 0,
    batch_size: int = 10_000,
    device: str = "cpu",
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> FitResult:
    """Fit post-processor ``name`` to ``checkpoint`` on its training ``data``; write ``out``.

    Arguments:
        name: a registered post-processor (``calibration``, ``refiner``).
        checkpoint: a trained caloforge checkpoint that does not have this post-processor.
        data: the training showers (HDF5, the same detector).
        out: the output checkpoint (atomic, locked write; an existing file is kept unless
            ``overwrite``; it may not be one of the inputs).
        settings: the post-processor's ``settings_class`` (None: its defaults).
        n: showers used (the first ``n`` of ``data``; None: all).
        seed: seed of the model's showers and of the fit.
        batch_size / device: generation settings.
        progress: called with (showers generated, showers in all).

    Raises:
        ValueError: bad arguments, an input that has the post-processor, too few showers,
        a failed fit; CheckpointError; DetectorMismatchError; FileExistsError.
    """
    cls = get_postprocessor(name)
    settings = cls.settings_class() if settings is None else settings
    if not isinstance(settings, cls.settings_class):
        raise TypeError(f"{name}: settings must be {cls.settings_class.__name__}")
    src = open_fit_source(checkpoint, data, out, cls, n=n, device=device, overwrite=overwrite)
    count = src.count
    showers, cond = src.data.showers(0, count), src.data.conditions(0, count)
    t0 = time.perf_counter()
    done = None if progress is None else (lambda k: progress(k, count))
    generated = generate(src.model, cond, seed=seed, batch_size=batch_size, progress=done)
    samples = FitSamples(generated, showers, cond)
    try:
        module, record = cls.fit_to(src.model, samples, settings, seed=seed)
    except ValueError as exc:
        raise ValueError(f"{checkpoint}: {exc}") from None
    path = write_fitted(out, src, module, record | {"seed": seed})
    return FitResult(path, count, record, time.perf_counter() - t0)


CALIBRATION_MODES = ("auto", "energy", "axis")
"""``calibrate``'s modes: ``energy`` (``QuantileCalibration``), ``axis``
(``AxisCalibration``), ``auto`` (``axis`` when the training conditions spread:
:func:`~caloforge.postprocess.axis_calibration.calibration_mode`)."""


def calibrate(
    checkpoint: str | Path,
    data: str | Path,
    out: str | Path,
    *,
    mode: str = "energy",
    bins: int | None = None,
    levels: int | None = None,
    grid: int | None = None,
    keep_layers: bool = False,
    cluster_hits: bool = False,
    offset_bins: int | None = None,
    min_samples: int | None = None,
    **options: Any,
) -> FitResult:
    """Fit the quantile calibration of ``checkpoint`` in ``mode`` (:data:`CALIBRATION_MODES`;
    sizes left None take the chosen settings class's defaults: :class:`CalibrationSettings`,
    :class:`AxisCalibrationSettings`; ``offset_bins`` and ``min_samples`` are the axis
    mode's, ``cluster_hits`` the energy mode's); ``options`` are those of
    :func:`fit_checkpoint`.

    Raises:
        ValueError: an unknown mode, a checkpoint calibrated already, ``cluster_hits`` in the
        axis mode; those of :func:`fit_checkpoint`.
    """
    if mode not in CALIBRATION_MODES:
        raise ValueError(f"--mode must be one of {', '.join(CALIBRATION_MODES)}, got {mode!r}")
    ckpt = load_checkpoint(checkpoint)
    if any(name in ckpt for name in ("calibration", "axis_calibration")):
        raise ValueError(f"{checkpoint}: is already calibrated; use the checkpoint it came from")
    if mode == "auto":
        ref = open_data(data, checkpoint_detector(ckpt, str(checkpoint)))
        n = options.get("n")
        mode = calibration_mode(
            ref.conditions(0, len(ref) if n is None else min(n, len(ref))), ref.detector
        )
    sizes = {"bins": bins, "levels": levels, "grid": grid}
    if mode == "axis":
        if cluster_hits:
            raise ValueError(
                "--cluster-hits applies to the energy-binned calibration (--mode energy), "
                "not to the axis frame"
            )
        sizes |= {"offset_bins": offset_bins, "min_samples": min_samples}
        axis = AxisCalibrationSettings(
            keep_layers=keep_layers, **{k: v for k, v in sizes.items() if v is not None}
        )
        return fit_checkpoint("axis_calibration", checkpoint, data, out, axis, **options)
    settings = CalibrationSettings(
        keep_layers=keep_layers,
        cluster_hits=cluster_hits,
        **{k: v for k, v in sizes.items() if v is not None},
    )
    return fit_checkpoint("calibration", checkpoint, data, out, settings, **options)


def refine(
    checkpoint: str | Path,
    data: str | Path,
    out: str | Path,
    *,
    candidates: int = 8,
    hidden: int = 128,
    ensemble: int = 1,
    threshold: float = 0.0,
    threads: int = 1,
    **options: Any,
) -> FitResult:
    """Train the classifier refiner (:class:`RefinerSettings`) of ``checkpoint``, calibrated
    or not; ``options`` are those of :func:`fit_checkpoint`."""
    settings = RefinerSettings(candidates, hidden, ensemble, threshold, threads)
    return fit_checkpoint("refiner", checkpoint, data, out, settings, **options)


__all__ = [
    "CALIBRATION_MODES",
    "FitResult",
    "FitSource",
    "calibrate",
    "fit_checkpoint",
    "open_fit_source",
    "refine",
    "write_fitted",
]
