"""The conditions a benchmark times: energies of the training data or a specification."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from caloforge.data import Conditions, ShowerFile
from caloforge.geometry import Detector

if TYPE_CHECKING:
    from caloforge.deploy.runtime import ExportMetadata

log = logging.getLogger(__name__)


def bench_conditions(
    detector: Detector, n: int, energy: str, *, seed: int = 0, particle: str | None = None
) -> Conditions:
    """``n`` conditions: energies from ``energy`` (``loguniform:1GeV,100GeV``, a shower file
    path: its first conditions, cycled), the rest from the detector's gun."""
    if Path(energy).suffix in (".h5", ".hdf5") or Path(energy).is_file():
        ref = ShowerFile(energy, detector)
        c = ref.conditions(0, min(n, len(ref)))
        reps = math.ceil(n / len(c))
        return Conditions(
            np.tile(c.energy, reps)[:n],
            np.tile(c.particle, reps)[:n],
            np.tile(c.direction, (reps, 1))[:n],
            np.tile(c.impact, (reps, 1))[:n],
        )
    from caloforge.generate import energy_conditions

    return energy_conditions(energy, n, detector, seed=seed, particle=particle)


def take(c: Conditions, n: int) -> Conditions:
    return Conditions(c.energy[:n], c.particle[:n], c.direction[:n], c.impact[:n])


SIMULATION_SETTINGS = (
    "physics",
    "production_cut",
    "scoring_pitch",
    "scoring",
    "approximate_hadronic",
)
"""The :class:`~caloforge.simulate.SimulationConfig` fields of a training file's ``config``
record that the Geant4 baseline repeats where they differ from the detector's defaults, so
that it times the physics the model learned (a hadronic physics list, its offline
approximation, the scoring mode)."""


def _source_files(meta: ExportMetadata) -> list[Path]:
    """The training files an ONNX export's metadata names (its ``data:`` source)."""
    src = meta.trained_range.source
    return [Path(p) for p in src[5:].split(",")] if src.startswith("data:") else []


def training_files(path: Path, ckpt: Mapping[str, Any] | None = None) -> list[Path]:
    """The training files a model file names: a checkpoint's ``info.data`` (``ckpt``: the
    checkpoint at ``path`` when already loaded), an ONNX export's ``data:`` source; none
    when it names none."""
    if path.suffix == ".onnx":
        from caloforge.deploy.runtime import read_metadata

        return _source_files(read_metadata(path))
    if ckpt is None:
        from caloforge.train.checkpoint import load_checkpoint

        ckpt = load_checkpoint(path)
    return [Path(p) for p in ckpt.get("info", {}).get("data", [])]


def _file_config(data: Path) -> dict[str, Any] | None:
    """A shower file's ``config`` record; ``None`` (with a warning naming the file) when the
    file or the record cannot be read."""
    import h5py

    try:
        with h5py.File(data, "r") as f:
            raw = f.attrs.get("config")
        if raw is None:
            return None
        config = json.loads(raw)
    except (OSError, ValueError) as exc:
        log.warning(
            "%s: unreadable training file or config record (%s); the Geant4 "
            "baseline takes the detector's defaults",
            data,
            exc,
        )
        return None
    if not isinstance(config, dict):
        log.warning(
            "%s: config record is not a JSON object; the Geant4 baseline takes the "
            "detector's defaults",
            data,
        )
        return None
    return config


def simulation_settings(
    path: Path,
    detector: Detector,
    particle: str | None = None,
    *,
    files: Sequence[Path] | None = None,
) -> dict[str, Any]:
    """The Geant4 settings (:data:`SIMULATION_SETTINGS`) of the training file of a model
    file (``.pt`` checkpoint or ``.onnx`` export) that differ from those a simulation of
    ``particle`` (``None``: the gun's) in ``detector`` takes by default; none when the file
    is missing, unreadable (a warning) or not made by ``caloforge simulate``. A file's
    record leaves the ``replica`` scoring mode out: it is named when ``detector``'s own mode
    is another. ``files``: the model file's training files when already read
    (:func:`detector_and_energy`), so the model file is not opened again."""
    from caloforge.simulate import SimulationConfig

    data = training_files(path) if files is None else list(files)
    if not data or not data[0].is_file():
        return {}
    config = _file_config(data[0])
    if config is None:
        return {}
    config = {"scoring": "replica", **config}
    defaults = SimulationConfig(detector=detector, particle=particle, n=1)
    default = {
        "physics": defaults.resolved_physics,
        "production_cut": defaults.resolved_cut,
        "scoring_pitch": detector.physics.scoring_pitch,
        "scoring": defaults.resolved_scoring,
        "approximate_hadronic": defaults.approximate_hadronic,
    }
    return {
        k: config[k]
        for k in SIMULATION_SETTINGS
        if config.get(k) is not None and config[k] != default[k]
    }


def energy_of(files: Sequence[Path], *, as_range: bool = False) -> str:
    """Energy specification of a model's training files: the first when all are readable
    (or, ``as_range``, a log-uniform range over its energies); else 1-100 GeV."""
    if files and all(p.is_file() for p in files):
        if not as_range:
            return str(files[0])
        e = ShowerFile(files[0]).conditions().energy
        return f"loguniform:{e.min():.6g}MeV,{e.max():.6g}MeV"
    return "loguniform:1GeV,100GeV"


def onnx_energy(path: Path, meta: ExportMetadata | None = None) -> str:
    """Energy specification of an ONNX export (``meta``: its metadata when already read):
    its training file when readable, else the trained energy range (log-uniform)."""
    if meta is None:
        from caloforge.deploy.runtime import read_metadata

        meta = read_metadata(path)
    files = _source_files(meta)
    if files and files[0].is_file():
        return str(files[0])
    lo, hi = meta.trained_range.energy
    return f"loguniform:{lo:.6g}MeV,{hi:.6g}MeV"


def detector_and_energy(path: Path, untrained: str | None) -> tuple[Detector, str, list[Path]]:
    """The detector a model file generates for, the energy specification of its data and
    its training files (:func:`training_files`), from one read of the model file."""
    if path.suffix == ".onnx":
        from caloforge.deploy.runtime import read_metadata

        meta = read_metadata(path)
        return meta.detector, onnx_energy(path, meta), _source_files(meta)
    from caloforge.geometry import load_detector
    from caloforge.train.checkpoint import load_checkpoint
    from caloforge.train.loading import checkpoint_detector

    ckpt = load_checkpoint(path)
    det = load_detector(untrained) if untrained else checkpoint_detector(ckpt, str(path))
    files = training_files(path, ckpt)
    return det, energy_of(files, as_range=untrained is not None), files


__all__ = [
    "SIMULATION_SETTINGS",
    "bench_conditions",
    "detector_and_energy",
    "energy_of",
    "onnx_energy",
    "simulation_settings",
    "take",
    "training_files",
]
