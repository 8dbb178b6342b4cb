"""The one checkpoint format: a single ``torch.save`` file of tensors and plain python types.

Keys (format version 1), loaded with ``torch.load(weights_only=True)``:

* ``format`` = ``"caloforge-checkpoint"``, ``format_version`` = 1;
* ``family``: registry name; ``caloforge_version``; ``step``: training steps done;
* ``config``: the resolved configuration, ``{"model": {...}, "train": {...}}``;
* ``detector``: the detector description JSON (:func:`caloforge.geometry.detector_to_json`);
* ``condition_features``: the condition feature names the model uses, in column order;
* ``state``: the model ``state_dict`` (networks, preprocessing buffers ``transform.*`` and
  ``cond_scaler.*``, data-sized extra state such as stored showers or KDE latents);
* ``preprocessing``: the ``transform.*`` / ``cond_scaler.*`` entries again, readable alone;
* ``ema``: EMA parameters (name -> tensor) or None;
* ``trainer``: what exact resume needs: optimiser states, random-generator states, data
  order (permutation and position), best validation metric, patience counter, elapsed time;
* ``info``: model description (parameter count, stored bytes), training data paths,
  last logged metrics.

Writes are atomic and locked (:mod:`caloforge.files`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from caloforge.files import atomic_output
from caloforge.geometry import Detector, detector_from_json
from caloforge.geometry.loader import detector_to_dict

FORMAT = "caloforge-checkpoint"
FORMAT_VERSION = 1
REQUIRED = ("family", "config", "state", "detector", "condition_features", "step")


class CheckpointError(ValueError):
    """A checkpoint file is missing, corrupt, or not a caloforge checkpoint; one line."""


class DetectorMismatchError(ValueError):
    """A checkpoint is used with data of another detector."""


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (adds ``format``/``format_version``) atomically to ``path``
    (replacing it: callers check ``overwrite`` before their work)."""
    path = Path(path)
    data = {"format": FORMAT, "format_version": FORMAT_VERSION, **payload}
    with atomic_output(path, overwrite=True) as tmp:
        torch.save(data, tmp)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and check a checkpoint safely (``weights_only=True``).

    Raises:
        CheckpointError: missing file, not a torch file, corrupt, or missing keys.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch/pickle/zip/struct errors of all kinds: not a checkpoint
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise CheckpointError(f"{path}: not a readable caloforge checkpoint ({first})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a caloforge checkpoint (no '{FORMAT}' marker)")
    if int(data.get("format_version", 0)) > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format {data['format_version']} is newer than this caloforge "
            f"reads ({FORMAT_VERSION}); upgrade caloforge"
        )
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks {', '.join(missing)}")
    return data


def checkpoint_detector(ckpt: dict[str, Any], source: str = "checkpoint") -> Detector:
    """The detector a checkpoint was trained for."""
    return detector_from_json(ckpt["detector"], source=f"{source}: detector")


def check_detector(ckpt: dict[str, Any], detector: Detector, *, checkpoint: str, data: str) -> None:
    """Refuse data of another detector than the checkpoint's.

    Raises:
        DetectorMismatchError: naming both detectors and files.
    """
    mine = checkpoint_detector(ckpt, checkpoint)
    if detector_to_dict(mine) != detector_to_dict(detector):
        what = (
            "a different description"
            if mine.name == detector.name
            else f"detector {detector.name!r}"
        )
        raise DetectorMismatchError(
            f"{checkpoint} was trained for detector {mine.name!r} ({mine.n_voxels} voxels) but "
            f"{data} is for {what} ({detector.n_voxels} voxels)"
        )


__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "CheckpointError",
    "DetectorMismatchError",
    "check_detector",
    "checkpoint_detector",
    "load_checkpoint",
    "save_checkpoint",
]
