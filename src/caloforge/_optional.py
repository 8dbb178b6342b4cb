"""Lazy imports of optional dependencies with an error naming the install command."""

from __future__ import annotations

import importlib
from types import ModuleType

EXTRAS = {
    "xraydb": "photon-data",
    "geant4_pybind": "geant4",
    "matplotlib": "plot",
    "sklearn": "eval",
    "zuko": "flow",
    "onnx": "onnx",
    "onnxruntime": "onnx",
    "optuna": "tune",
    "dask": "dask",
    "distributed": "dask",
}


class MissingDependencyError(ImportError):
    """An optional dependency is not installed; the message says how to install it."""


def require(module: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` with the pip command."""
    try:
        return importlib.import_module(module)
    except ImportError:
        top = module.split(".")[0]
        extra = EXTRAS.get(top, "all")
        raise MissingDependencyError(
            f"{top} is needed for this feature: pip install 'caloforge[{extra}]'"
        ) from None
