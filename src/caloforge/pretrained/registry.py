"""Where pretrained models are found, and what each one is.

A pretrained model is a folder ``NAME/`` holding ``model.pt`` (a caloforge checkpoint that
:func:`caloforge.train.loading.load_model` loads, post-processors included),
``MODEL_CARD.md`` and ``manifest.json`` (the recipe run's, with a ``pretrained`` record
added by :func:`caloforge.pretrained.packaging.ship_model`). Folders are searched in order:
those of the environment variable ``CALOFORGE_PRETRAINED_PATH`` (separated like ``PATH``;
missing ones are skipped), then the package's own, ``caloforge/pretrained/``. The first
folder holding a name wins.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from caloforge.recipes.card import MODEL_CARD
from caloforge.recipes.runner import MANIFEST

PRETRAINED_PATH_ENV = "CALOFORGE_PRETRAINED_PATH"
"""Environment variable: folders of pretrained models searched before the shipped ones."""

CHECKPOINT = "model.pt"
RECORD = "pretrained"
"""The key of the ``manifest.json`` record describing the packaged model."""


class PretrainedError(ValueError):
    """An unknown pretrained model name, or a model folder that breaks the contract."""


def shipped_folder() -> Path:
    """The package's folder of pretrained models."""
    return Path(str(resources.files("caloforge.pretrained")))


def search_path() -> list[Path]:
    """The folders searched for pretrained models, in order."""
    extra = os.environ.get(PRETRAINED_PATH_ENV, "")
    folders = [Path(p).expanduser() for p in extra.split(os.pathsep) if p]
    return [f for f in folders if f.is_dir()] + [shipped_folder()]


def _folders(path: Sequence[Path] | None) -> dict[str, Path]:
    """name -> model folder, the first of the search path winning."""
    out: dict[str, Path] = {}
    for root in search_path() if path is None else path:
        for entry in sorted(root.iterdir()) if root.is_dir() else ():
            if (entry / CHECKPOINT).is_file():
                out.setdefault(entry.name, entry)
    return out


@dataclass(frozen=True)
class PretrainedModel:
    """A pretrained model: its folder and the facts its manifest records.

    Arguments:
        name: what ``caloforge generate --model`` takes.
        folder: the folder holding ``model.pt``, ``MODEL_CARD.md``, ``manifest.json``.
        description: the recipe's description.
        detector: the detector's name.
        family: the model family.
        conditions: the checkpoint's record of its training conditions
            (:func:`caloforge.data.conditions.condition_ranges`), or None.
    """

    name: str
    folder: Path
    description: str
    detector: str
    family: str
    conditions: Mapping[str, Any] | None

    @property
    def checkpoint(self) -> Path:
        return self.folder / CHECKPOINT

    @property
    def card(self) -> Path:
        return self.folder / MODEL_CARD

    @property
    def manifest(self) -> Path:
        return self.folder / MANIFEST

    @property
    def size_mb(self) -> float:
        """Size of the checkpoint file, MB (10^6 bytes)."""
        return self.checkpoint.stat().st_size / 1e6


def _read(name: str, folder: Path) -> PretrainedModel:
    path = folder / MANIFEST
    try:
        record = json.loads(path.read_text())[RECORD]
    except (OSError, json.JSONDecodeError, KeyError, TypeError):
        raise PretrainedError(
            f"{path}: no readable '{RECORD}' record (package models with "
            "benchmarks/pretrained_model.sh)"
        ) from None
    return PretrainedModel(
        name=name,
        folder=folder,
        description=str(record.get("description", "")),
        detector=str(record.get("detector", "")),
        family=str(record.get("family", "")),
        conditions=record.get("conditions"),
    )


def pretrained_models(path: Sequence[Path] | None = None) -> list[PretrainedModel]:
    """The pretrained models found in ``path`` (default: :func:`search_path`), by name.

    Raises:
        PretrainedError: a model folder without its manifest record.
    """
    return [_read(n, f) for n, f in sorted(_folders(path).items())]


def _unknown(name: str, known: Sequence[str]) -> PretrainedError:
    listed = ", ".join(known) if known else f"none yet; {PRETRAINED_PATH_ENV} adds folders"
    return PretrainedError(f"unknown pretrained model {name!r} (known: {listed})")


def pretrained_model(name: str, path: Sequence[Path] | None = None) -> PretrainedModel:
    """The pretrained model of this name.

    Raises:
        PretrainedError: an unknown name (the message lists the known ones).
    """
    folders = _folders(path)
    if name not in folders:
        raise _unknown(name, sorted(folders))
    return _read(name, folders[name])


def resolve_checkpoint(checkpoint: str | os.PathLike[str]) -> Path:
    """The checkpoint file meant by ``checkpoint``: a ``str`` that names a pretrained model
    is that model's ``model.pt``; anything else is a path.

    Raises:
        PretrainedError: a ``str`` without a folder or suffix that is neither a pretrained
            model nor an existing file (the message lists the known models).
    """
    path = Path(checkpoint)
    if not isinstance(checkpoint, str):
        return path
    folders = _folders(None)
    if checkpoint in folders:
        return folders[checkpoint] / CHECKPOINT
    if not path.exists() and not path.suffix and len(path.parts) == 1:
        raise _unknown(checkpoint, sorted(folders))
    return path


def describe_conditions(record: Mapping[str, Any] | None) -> str:
    """A short text of a training-conditions record: particles, energies, and the angles
    and impact points where they spread."""
    from math import degrees

    from caloforge.data.conditions import PARTICLE_NAMES

    if not record:
        return "-"
    parts = [", ".join(PARTICLE_NAMES.get(int(p), str(p)) for p in record["particles"])]
    lo, hi = record["energy"]
    parts.append(f"{lo / 1e3:.3g}-{hi / 1e3:.3g} GeV")
    theta = record.get("theta")
    if theta and theta[1] > 1e-6:
        parts.append(f"theta {degrees(theta[0]):.3g}-{degrees(theta[1]):.3g} deg")
    for axis in ("x", "y"):
        span = record.get(f"impact_{axis}")
        if span and span[1] - span[0] > 1e-3:
            parts.append(f"impact {axis} {span[0]:.3g} to {span[1]:.3g} mm")
    return "; ".join(parts)


__all__ = [
    "CHECKPOINT",
    "PRETRAINED_PATH_ENV",
    "PretrainedError",
    "PretrainedModel",
    "describe_conditions",
    "pretrained_model",
    "pretrained_models",
    "resolve_checkpoint",
    "search_path",
    "shipped_folder",
]
