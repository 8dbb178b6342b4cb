"""Full simulation backends: Geant4 through geant4-pybind, offline or with official data.

Public API: :class:`SimulationConfig` and :func:`simulate`; :func:`parse_energy` for
energy distributions (:mod:`caloforge.data.distributions` parses every condition);
:func:`resolve_g4data` for the Geant4 data mode. Geant4 itself
is imported only in worker processes.

Scaling out: :func:`simulate_dask` runs the shards of a simulation on a Dask cluster (a
``LocalCluster`` of one-thread worker processes by default; Dask is optional,
``pip install 'caloforge[dask]'``, and imported only when used), each shard a
``python -m caloforge.simulate.shard_worker`` process; :func:`merge_showers` streams shard
files into one file (event order restored for the complete set of shards of one run).
"""

from typing import Any

from caloforge.data.distributions import EnergySpec, parse_energy
from caloforge.simulate.config import PARTICLES, PHYSICS_LISTS, SimulationConfig
from caloforge.simulate.engine import ProgressCallback, simulate
from caloforge.simulate.g4data import G4DataError, G4DataSetup, resolve_g4data
from caloforge.simulate.merge import MergeError, merge_showers, shard_layout

__all__ = [
    "PARTICLES",
    "PHYSICS_LISTS",
    "EnergySpec",
    "G4DataError",
    "G4DataSetup",
    "MergeError",
    "ProgressCallback",
    "SimulationConfig",
    "merge_showers",
    "parse_energy",
    "resolve_g4data",
    "shard_layout",
    "simulate",
    "simulate_dask",
]


def __getattr__(name: str) -> Any:
    if name == "simulate_dask":
        from caloforge.simulate.dask_executor import simulate_dask

        return simulate_dask
    raise AttributeError(f"module 'caloforge.simulate' has no attribute {name!r}")
