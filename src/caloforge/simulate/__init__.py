"""Full simulation backends: Geant4 through geant4-pybind, offline or with official data.

Public API: :class:`SimulationConfig` and :func:`simulate`; :func:`parse_energy` for
energy distributions (:mod:`caloforge.data.distributions` parses every condition);
:func:`resolve_g4data` for the Geant4 data mode. Geant4 itself
is imported only in worker processes.
"""

from caloforge.data.distributions import EnergySpec, parse_energy
from caloforge.simulate.config import PARTICLES, PHYSICS_LISTS, SimulationConfig
from caloforge.simulate.engine import ProgressCallback, simulate
from caloforge.simulate.g4data import G4DataError, G4DataSetup, resolve_g4data

__all__ = [
    "PARTICLES",
    "PHYSICS_LISTS",
    "EnergySpec",
    "G4DataError",
    "G4DataSetup",
    "ProgressCallback",
    "SimulationConfig",
    "parse_energy",
    "resolve_g4data",
    "simulate",
]
