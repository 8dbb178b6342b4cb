"""caloforge: machine-learning fast simulation of calorimeter showers.

The names of ``__all__`` are the library's API, each imported from its home module on
first use: ``import caloforge`` loads neither torch nor h5py nor Geant4.

Example:
    >>> import caloforge as cf
    >>> det = cf.load_detector("atlas-pblar")
    >>> cf.simulate(cf.SimulationConfig(detector=det, energy="loguniform:1GeV,100GeV",
    ...                                 n=10_000), "train.h5")
    >>> run = cf.train("diffusion", "train.h5", val="val.h5", out="runs/diffusion")
    >>> model, checkpoint = cf.load_model(run.checkpoint)
    >>> conditions = cf.ShowerFile("val.h5").conditions()
    >>> showers = cf.generate(model, conditions, seed=0)          # (N, voxels) in MeV
    >>> cf.generate_file(run.checkpoint, "gen.h5", conditions_from="val.h5")
    >>> cf.generate_file("atlas-pblar-gamma", "g.h5", energy="50GeV", n=100)  # pretrained
    >>> cf.evaluate("val.h5", {"diffusion": "gen.h5"}, "report/")

``caloforge.train``, ``caloforge.generate``, ``caloforge.evaluate``, ``caloforge.simulate``
and ``caloforge.tune`` are both the modules of those names and their main functions: calling
the module calls the function of its name (``caloforge.train(...)`` is
``caloforge.train.train(...)``), and every import form of the modules keeps working.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from caloforge._version import __version__

_API: dict[str, str] = {
    # detectors
    "load_detector": "caloforge.geometry",
    "Detector": "caloforge.geometry",
    "DetectorError": "caloforge.geometry",
    # shower files and conditions
    "ShowerFile": "caloforge.data",
    "ShowerFileError": "caloforge.data",
    "Conditions": "caloforge.data",
    "read_showers": "caloforge.data",
    "write_showers": "caloforge.data",
    # full simulation
    "simulate": "caloforge.simulate",
    "SimulationConfig": "caloforge.simulate",
    # models
    "family_names": "caloforge.models",
    "train": "caloforge.train",
    "load_checkpoint": "caloforge.train",
    "load_model": "caloforge.train.loading",
    "pretrained_models": "caloforge.pretrained",
    "calibrate": "caloforge.postprocess",
    "refine": "caloforge.postprocess",
    # generation and validation
    "generate": "caloforge.generate",
    "generate_file": "caloforge.generate",
    "energy_conditions": "caloforge.generate",
    "evaluate": "caloforge.evaluate",
    "EvaluationConfig": "caloforge.evaluate",
    "high_level_observables": "caloforge.evaluate",
    # deployment and speed
    "export": "caloforge.deploy.export",
    "OnnxGenerator": "caloforge.deploy.runtime",
    "run_bench": "caloforge.bench",
    "cpu_facts": "caloforge.hardware",
    "tune": "caloforge.tune",
}

__all__ = [
    "Conditions",
    "Detector",
    "DetectorError",
    "EvaluationConfig",
    "OnnxGenerator",
    "ShowerFile",
    "ShowerFileError",
    "SimulationConfig",
    "__version__",
    "calibrate",
    "cpu_facts",
    "energy_conditions",
    "evaluate",
    "export",
    "family_names",
    "generate",
    "generate_file",
    "high_level_observables",
    "load_checkpoint",
    "load_detector",
    "load_model",
    "pretrained_models",
    "read_showers",
    "refine",
    "run_bench",
    "simulate",
    "train",
    "tune",
    "write_showers",
]

if TYPE_CHECKING:
    from caloforge.bench import run_bench
    from caloforge.data import (
        Conditions,
        ShowerFile,
        ShowerFileError,
        read_showers,
        write_showers,
    )
    from caloforge.deploy.export import export
    from caloforge.deploy.runtime import OnnxGenerator
    from caloforge.evaluate import EvaluationConfig, evaluate, high_level_observables
    from caloforge.generate import energy_conditions, generate, generate_file
    from caloforge.geometry import Detector, DetectorError, load_detector
    from caloforge.hardware import cpu_facts
    from caloforge.models import family_names
    from caloforge.postprocess import calibrate, refine
    from caloforge.pretrained import pretrained_models
    from caloforge.simulate import SimulationConfig, simulate
    from caloforge.train import load_checkpoint, train
    from caloforge.train.loading import load_model
    from caloforge.tune import tune


_CALLABLE = frozenset({"train", "generate", "evaluate", "simulate", "tune"})
"""API functions that share their name with their module: the module is made callable."""


class _CallableModule(types.ModuleType):
    """A module that is also its main function, the function of the module's own name."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return getattr(self, self.__name__.rpartition(".")[2])(*args, **kwargs)


def __getattr__(name: str) -> Any:
    home = _API.get(name)
    if home is None:
        raise AttributeError(f"module 'caloforge' has no attribute {name!r}")
    module = importlib.import_module(home)
    if name in _CALLABLE:  # the import has set the (callable) module as our attribute
        return module
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})


class _Package(types.ModuleType):
    """The package module: the import system sets an attribute per imported submodule;
    the submodules of :data:`_CALLABLE` become callable on the way."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _CALLABLE and type(value) is types.ModuleType:
            value.__class__ = _CallableModule
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
