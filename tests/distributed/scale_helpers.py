"""Helpers of the scale-out tests: TOY shower shards (tests only, not physics) and a tiny
Geant4 detector."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import numpy as np

from caloforge.data import Conditions, write_showers
from caloforge.geometry import Detector
from caloforge.testing import toy_showers

HAS_GEANT4 = importlib.util.find_spec("geant4_pybind") is not None
HAS_DASK = importlib.util.find_spec("distributed") is not None


def toy_run(det: Detector, n: int, seed: int = 3) -> tuple[np.ndarray, Conditions, np.ndarray]:
    """TOY showers, conditions and a per-shower extra column (``cpu_time``)."""
    s, c = toy_showers(det, n, seed=seed, impact_spread=5.0)
    return s, c, np.random.default_rng(seed).uniform(0.1, 1.0, n)


def write_toy_shards(
    folder: Path, det: Detector, n: int, n_shards: int, config: dict[str, Any] | None = None
) -> tuple[list[Path], tuple[np.ndarray, Conditions, np.ndarray]]:
    """Split a TOY run into the shard files ``--shard k/N`` would write (same attributes)."""
    showers, cond, extra = toy_run(det, n)
    paths = []
    for k in range(n_shards):
        idx = np.arange(k, n, n_shards)
        cfg = {"n": n, "seed": 7, "workers": 1, "energy": "toy", **(config or {})}
        cfg["shard"] = [k, n_shards]
        attrs = {"config": cfg, "seed": 7, "generator": {"backend": "toy", "shard": [k, n_shards]}}
        sub = Conditions(
            cond.energy[idx], cond.particle[idx], cond.direction[idx], cond.impact[idx]
        )
        paths.append(
            write_showers(
                folder / f"toy.shard-{k}.h5",
                showers[idx],
                sub,
                det,
                attrs=attrs,
                extras={"cpu_time": extra[idx]},
            )
        )
    return paths, (showers, cond, extra)


def attrs_json(path: Path, key: str) -> Any:
    import h5py

    with h5py.File(path) as f:
        return json.loads(f.attrs[key])
