"""What the post-processors fitted to a trained checkpoint share (``caloforge calibrate``,
``caloforge refine``): opening the checkpoint with its training data, with the same checks
and messages, and writing the checkpoint extended by the fitted module.

A post-processor is a submodule of the model stored under ``<key>.*`` in ``state`` with a
record ``<key>`` (how it was fitted: data, showers, source checkpoint and its own
settings); :func:`caloforge.train.trainer.load_model` attaches it again on loading.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from caloforge.data import ShowerFile
from caloforge.files import check_output
from caloforge.models import ShowerModel
from caloforge.train.checkpoint import check_detector, load_checkpoint, save_checkpoint
from caloforge.train.trainer import load_model, open_data, resolve_device


@dataclass(frozen=True)
class FitSource:
    """A trained checkpoint (its dict and model, EMA weights) and the first ``count``
    showers of its training data."""

    path: Path
    checkpoint: dict[str, Any]
    model: ShowerModel
    data: ShowerFile
    count: int


def open_fit_source(
    checkpoint: str | Path,
    data: str | Path,
    out: str | Path,
    *,
    key: str,
    done: str,
    n: int | None = None,
    min_showers: int = 1,
    device: str = "cpu",
    overwrite: bool = False,
) -> FitSource:
    """Check the arguments of a post-processor fit and open its inputs.

    Arguments:
        checkpoint / data / out: the trained checkpoint, its training showers, the output.
        key: the post-processor's state prefix and record name (``calibration``).
        done: the word for a checkpoint that has one (``calibrated``).
        n: showers to use (None: all). min_showers: the fewest the fit accepts.
        device / overwrite: where to load the model; whether ``out`` may be replaced.

    Raises:
        FileExistsError: ``out`` exists; ValueError: ``out`` is an input, bad ``n``, an
        input that already has the post-processor, too few showers; CheckpointError;
        DetectorMismatchError.
    """
    check_output(out, overwrite=overwrite, inputs=(checkpoint, data))
    if n is not None and n < min_showers:
        raise ValueError(f"-n must be >= {min_showers}, got {n}")
    ckpt = load_checkpoint(checkpoint)
    model, _ = load_model(ckpt, resolve_device(device), use_ema=True)
    if getattr(model, key) is not None or key in ckpt:
        raise ValueError(f"{checkpoint}: is already {done}; use the checkpoint it came from")
    ref = open_data(data, model.detector)
    check_detector(ckpt, ref.detector, checkpoint=str(checkpoint), data=str(data))
    count = len(ref) if n is None else n
    if count > len(ref):
        raise ValueError(f"{data}: holds {len(ref)} showers, fewer than the {count} requested (-n)")
    if count < min_showers:
        raise ValueError(f"{data}: {count} showers are too few (at least {min_showers})")
    return FitSource(Path(checkpoint), ckpt, model, ref, count)


def write_fitted(
    out: str | Path, source: FitSource, key: str, module: nn.Module, record: dict[str, Any]
) -> Path:
    """Write ``source``'s checkpoint with ``module`` as ``<key>.*`` state and ``record``
    (plus the data, the number of showers and the source path) as ``<key>`` (atomic)."""
    ckpt = source.checkpoint
    state = dict(ckpt["state"])
    state.update({f"{key}.{k}": v.cpu() for k, v in module.state_dict().items()})
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


__all__ = ["FitSource", "open_fit_source", "write_fitted"]
