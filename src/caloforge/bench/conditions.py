"""The conditions a benchmark times: energies of the training data or a specification."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from caloforge.data import Conditions, ShowerFile
from caloforge.geometry import Detector


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
record that the Geant4 baseline repeats, so that it times the physics the model learned
(a hadronic physics list, its offline approximation, the scoring mode)."""


def simulation_settings(path: Path, detector: Detector | None = None) -> dict[str, Any]:
    """The Geant4 settings (:data:`SIMULATION_SETTINGS`) of the training file of a model
    file (``.pt`` checkpoint or ``.onnx`` export) when that file is readable and was made by
    ``caloforge simulate``; else none (the detector's defaults). A file's record leaves the
    ``replica`` scoring mode out: it is named when ``detector``'s own mode is another."""
    if path.suffix == ".onnx":
        from caloforge.deploy.runtime import read_metadata

        src = read_metadata(path).trained_range.source
        data = [src[5:].split(",")[0]] if src.startswith("data:") else []
    else:
        from caloforge.train.checkpoint import load_checkpoint

        data = load_checkpoint(path).get("info", {}).get("data", [])
    if not data or not Path(data[0]).is_file():
        return {}
    import h5py

    with h5py.File(data[0], "r") as f:
        raw = f.attrs.get("config")
    if raw is None:
        return {}
    config = json.loads(raw)
    settings = {k: config[k] for k in SIMULATION_SETTINGS if config.get(k) is not None}
    if "scoring" not in settings and detector is not None and detector.physics.scoring != "replica":
        settings["scoring"] = "replica"
    return settings


def energy_of(ckpt: dict[str, Any], *, as_range: bool = False) -> str:
    """Energy specification of a checkpoint's training data: its file when readable (or,
    ``as_range``, a log-uniform range over the file's energies); else 1-100 GeV."""
    paths = [Path(p) for p in ckpt.get("info", {}).get("data", [])]
    if paths and all(p.is_file() for p in paths):
        if not as_range:
            return str(paths[0])
        e = ShowerFile(paths[0]).conditions().energy
        return f"loguniform:{e.min():.6g}MeV,{e.max():.6g}MeV"
    return "loguniform:1GeV,100GeV"


def onnx_energy(path: Path) -> str:
    from caloforge.deploy.runtime import read_metadata

    meta = read_metadata(path)
    src = meta.trained_range.source
    if src.startswith("data:") and Path(src[5:].split(",")[0]).is_file():
        return src[5:].split(",")[0]
    lo, hi = meta.trained_range.energy
    return f"loguniform:{lo:.6g}MeV,{hi:.6g}MeV"


def detector_and_energy(path: Path, untrained: str | None) -> tuple[Detector, str]:
    """The detector a model file generates for and the energy specification of its data."""
    if path.suffix == ".onnx":
        from caloforge.deploy.runtime import read_metadata

        return read_metadata(path).detector, onnx_energy(path)
    from caloforge.geometry import load_detector
    from caloforge.train.checkpoint import load_checkpoint
    from caloforge.train.loading import checkpoint_detector

    ckpt = load_checkpoint(path)
    det = load_detector(untrained) if untrained else checkpoint_detector(ckpt, str(path))
    return det, energy_of(ckpt, as_range=untrained is not None)


__all__ = [
    "SIMULATION_SETTINGS",
    "bench_conditions",
    "detector_and_energy",
    "energy_of",
    "onnx_energy",
    "simulation_settings",
    "take",
]
