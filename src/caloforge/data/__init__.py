"""Shower data: the condition layout and the one HDF5 reader/writer."""

from caloforge.data.conditions import (
    CONDITION_FEATURES,
    PDG_CODES,
    Conditions,
    condition_features,
    particle_code,
)
from caloforge.data.hdf5 import (
    SCHEMA_VERSION,
    ShowerFile,
    ShowerFileError,
    ShowerWriter,
    describe,
    read_showers,
    write_showers,
)

__all__ = [
    "CONDITION_FEATURES",
    "PDG_CODES",
    "SCHEMA_VERSION",
    "Conditions",
    "ShowerFile",
    "ShowerFileError",
    "ShowerWriter",
    "condition_features",
    "describe",
    "particle_code",
    "read_showers",
    "write_showers",
]
