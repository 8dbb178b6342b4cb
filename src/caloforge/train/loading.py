"""Checkpoint -> model: build a family's model, load a trained one, check it against data.

Everything that turns a checkpoint into a usable model lives here (``generate``, ``bench``,
``export``, ``calibrate`` and ``refine`` import this module, not the trainer). The file
format itself (reading, writing, its keys) is :mod:`caloforge.train.checkpoint`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from caloforge.config import ConfigError, config_from_dict
from caloforge.data import ShowerFile, ShowerFileError
from caloforge.geometry import Detector, detector_from_json, same_detector
from caloforge.models import ModelConfig, ShowerModel, get_family
from caloforge.pretrained.registry import resolve_checkpoint
from caloforge.train.checkpoint import CheckpointError, load_checkpoint


class DetectorMismatchError(ValueError):
    """A checkpoint is used with data of another detector."""


def resolve_device(name: str) -> torch.device:
    """``auto`` -> cuda if available else cpu; otherwise the named device (checked)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(
            f"device {name!r} is not a torch device (auto, cpu, cuda, cuda:N)"
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r}: CUDA is not available on this machine")
    return device


def build_model(family: str, config: ModelConfig, detector: Detector, seed: int = 0) -> ShowerModel:
    """An untrained model of ``family``, its weights initialised from ``seed`` (the global
    torch random state is left as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return get_family(family)(config, detector)


@torch.no_grad()
def copy_parameters(model: nn.Module, weights: dict[str, torch.Tensor]) -> None:
    """Copy ``weights`` (name -> tensor, e.g. EMA weights) into the model's parameters.

    Raises:
        CheckpointError: a name that is not a parameter of the model.
    """
    params = dict(model.named_parameters())
    for n, w in weights.items():
        if n not in params:
            raise CheckpointError(f"weight {n!r} is not a parameter of the model")
        params[n].copy_(w.to(params[n].device))


def load_state(model: ShowerModel, ckpt: dict[str, Any], source: str) -> None:
    """Load the checkpoint's ``state`` into ``model``, with the post-processors it holds
    (:meth:`~caloforge.models.ShowerModel.load_checkpoint_state`).

    Raises:
        CheckpointError: the weights do not fit (another architecture), one line.
    """
    try:
        model.load_checkpoint_state(ckpt["state"])
    except (RuntimeError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0][:200]
        raise CheckpointError(
            f"{source}: weights do not fit the {model.name} model: {first}"
        ) from None


def load_model(
    checkpoint: str | Path | dict[str, Any],
    device: str | torch.device = "cpu",
    *,
    use_ema: bool = True,
    without: Sequence[str] = (),
) -> tuple[ShowerModel, dict[str, Any]]:
    """A trained model (eval mode, EMA weights when stored) and its checkpoint dict.

    Arguments:
        checkpoint: a checkpoint file, the name of a pretrained model (a ``str``,
            :func:`caloforge.pretrained_models`), or a checkpoint dict.
        without: post-processors to leave out (:func:`drop_postprocessors`), e.g.
            ``("refiner",)``: the faster model the refiner was fitted on.

    Raises:
        CheckpointError: unreadable file, unknown family or inconsistent weights;
        PretrainedError: a name that is neither a pretrained model nor a file;
        ValueError: ``without`` names a post-processor the model lacks, or one that
            others were fitted after.
    """
    source = "checkpoint" if isinstance(checkpoint, dict) else str(checkpoint)
    ckpt = (
        checkpoint
        if isinstance(checkpoint, dict)
        else load_checkpoint(resolve_checkpoint(checkpoint))
    )
    try:
        cls = get_family(ckpt["family"])
    except KeyError as exc:
        raise CheckpointError(f"{source}: {exc.args[0]}") from None
    try:
        config = config_from_dict(cls.config_class, ckpt["config"]["model"])
    except ValueError as exc:
        raise CheckpointError(f"{source}: stored model config: {exc}") from None
    model = cls(config, checkpoint_detector(ckpt, source))
    load_state(model, ckpt, source)
    if use_ema and ckpt.get("ema"):
        try:
            copy_parameters(model, model.current_names(ckpt["ema"]))
        except CheckpointError as exc:
            raise CheckpointError(f"{source}: EMA {exc}") from None
    drop_postprocessors(model, without, source)
    model.to(torch.device(device) if isinstance(device, str) else device)
    model.eval()
    return model, ckpt


def drop_postprocessors(model: ShowerModel, names: Sequence[str], source: str = "model") -> None:
    """Remove the post-processors ``names`` from ``model``: the last ones of its chain only,
    since each post-processor was fitted on the output of those before it (leaving out the
    refiner gives the calibrated model it refines; leaving out the calibration alone would
    feed the refiner showers it never saw).

    Raises:
        ValueError: a name the model has no post-processor of, or one followed by a
            post-processor that is kept.
    """
    chain = [post.name for post in model.postprocessors]
    for name in names:
        if name not in chain:
            has = ", ".join(chain) or "none"
            raise ValueError(f"{source}: has no post-processor {name!r} (it has: {has})")
    drop = set(names)
    first = next((i for i, name in enumerate(chain) if name in drop), len(chain))
    later = [name for name in chain[first + 1 :] if name not in drop]
    if later:
        flags = " ".join(f"--without {name}" for name in chain[first:])
        raise ValueError(
            f"{source}: {later[0]!r} was fitted after {chain[first]!r}; leave out "
            f"{', '.join(map(repr, later))} too ({flags}) or keep {chain[first]!r}"
        )
    for name in chain[first:]:
        del model.postprocessing[name]


def checkpoint_detector(ckpt: dict[str, Any], source: str = "checkpoint") -> Detector:
    """The detector a checkpoint was trained for."""
    return detector_from_json(ckpt["detector"], source=f"{source}: detector")


def check_detector(ckpt: dict[str, Any], detector: Detector, *, checkpoint: str, data: str) -> None:
    """Refuse data of another detector than the checkpoint's.

    Raises:
        DetectorMismatchError: naming both detectors and files.
    """
    mine = checkpoint_detector(ckpt, checkpoint)
    if not same_detector(mine, detector):
        what = (
            "a different description"
            if mine.name == detector.name
            else f"detector {detector.name!r}"
        )
        raise DetectorMismatchError(
            f"{checkpoint} was trained for detector {mine.name!r} ({mine.n_voxels} voxels) but "
            f"{data} is for {what} ({detector.n_voxels} voxels)"
        )


def open_data(
    data: str | Path | Sequence[str | Path] | ShowerFile,
    fallback: Detector | str | Path | None = None,
) -> ShowerFile:
    """Open shower file(s) with the detector they carry; ``fallback`` only for files that
    carry none (Challenge files), so that a mismatch with a checkpoint is seen."""
    if isinstance(data, ShowerFile):
        return data
    try:
        return ShowerFile(data)
    except ShowerFileError as exc:
        if fallback is None or "does not say which detector" not in str(exc):
            raise
    return ShowerFile(data, fallback)


__all__ = [
    "DetectorMismatchError",
    "build_model",
    "check_detector",
    "checkpoint_detector",
    "copy_parameters",
    "drop_postprocessors",
    "load_model",
    "load_state",
    "open_data",
    "resolve_device",
]
