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

A checkpoint may be stored gzip-compressed (``save_checkpoint(..., compress=True)``; the
shipped pretrained models are, since their calibration tables shrink about 15-fold):
``load_checkpoint`` recognises it by its first bytes. Writes are atomic and locked
(:mod:`caloforge.files`).
"""

from __future__ import annotations

import gzip
import io
import re
from pathlib import Path
from typing import Any

import torch

from caloforge.files import atomic_output

FORMAT = "caloforge-checkpoint"
FORMAT_VERSION = 1
REQUIRED = ("family", "config", "state", "detector", "condition_features", "step")


class CheckpointError(ValueError):
    """A checkpoint file is missing, corrupt, or not a caloforge checkpoint; one line."""


GZIP_MAGIC = b"\x1f\x8b"


def save_checkpoint(path: str | Path, payload: dict[str, Any], *, compress: bool = False) -> Path:
    """Write ``payload`` (adds ``format``/``format_version``) atomically to ``path``
    (replacing it: callers check ``overwrite`` before their work); ``compress``: gzip the
    file (lossless; slower to write and read)."""
    path = Path(path)
    data = {"format": FORMAT, "format_version": FORMAT_VERSION, **payload}
    with atomic_output(path, overwrite=True) as tmp:
        if compress:
            buffer = io.BytesIO()
            torch.save(data, buffer)
            # no name and no time stamp in the header: the same checkpoint, the same bytes
            with open(tmp, "wb") as raw, gzip.GzipFile("", "wb", 6, raw, mtime=0) as f:
                f.write(buffer.getbuffer())
        else:
            torch.save(data, tmp)
    return path


def _reason(exc: Exception) -> str:
    """Why torch could not read a file, in a few words: torch's own message without its
    advice to load untrusted files unsafely."""
    if isinstance(exc, EOFError):
        return "empty or truncated file"
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    _, marker, detail = text.partition("WeightsUnpickler error:")
    if marker:
        first = detail.strip().split(". ")[0].splitlines()[0].rstrip(".")
        return f"content other than tensors and plain types: {first}"[:200]
    lines = [ln for ln in text.strip().splitlines() if "weights_only" not in ln]
    return (lines[0] if lines else type(exc).__name__)[:160]


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and check a checkpoint safely (``weights_only=True``).

    Raises:
        CheckpointError: missing file, not a torch file, corrupt, or missing keys.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        with path.open("rb") as f:
            compressed = f.read(2) == GZIP_MAGIC
        source: Path | io.BytesIO = path
        if compressed:
            with gzip.open(path, "rb") as f:
                source = io.BytesIO(f.read())
        data = torch.load(source, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch/pickle/zip/struct errors of all kinds: not a checkpoint
        raise CheckpointError(
            f"{path}: not a readable caloforge checkpoint ({_reason(exc)})"
        ) from None
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


__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "CheckpointError",
    "load_checkpoint",
    "save_checkpoint",
]
