"""The top-level API: ``import caloforge`` stays light, every name of ``__all__`` resolves to
the object of its home module, and the functions keep their names when the modules of the
same name are imported."""

from __future__ import annotations

import importlib
import inspect
import json
import subprocess
import sys

import pytest

import caloforge

HEAVY = ("torch", "h5py", "onnxruntime", "optuna", "geant4_pybind", "dask", "matplotlib")


def test_import_is_light() -> None:
    code = (
        "import json, sys, caloforge; "
        f"print(json.dumps([m for m in {list(HEAVY)!r} if m in sys.modules]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(out.stdout) == []


def test_every_name_resolves_to_its_home() -> None:
    assert set(caloforge.__all__) == {"__version__", *caloforge._API}
    for name, home in caloforge._API.items():
        value = getattr(caloforge, name)
        assert value is getattr(importlib.import_module(home), name), name
        assert name in dir(caloforge)
    with pytest.raises(AttributeError, match="no attribute 'not_an_api_name'"):
        caloforge.not_an_api_name  # noqa: B018


def test_functions_win_over_modules_of_the_same_name() -> None:
    import caloforge.evaluate.report
    import caloforge.generate
    import caloforge.simulate.engine
    import caloforge.train.trainer
    import caloforge.tune.study

    for name in ("train", "generate", "evaluate", "simulate", "tune"):
        value = getattr(caloforge, name)
        assert inspect.isfunction(value) and value.__name__ == name, name
    # the modules stay reachable by their dotted names
    assert inspect.ismodule(sys.modules["caloforge.generate"])
    from caloforge.generate import generate_file

    assert generate_file is caloforge.generate_file


def test_the_api_reads_a_detector() -> None:
    det = caloforge.load_detector("atlas-pblar")
    assert isinstance(det, caloforge.Detector) and det.n_voxels > 0
    with pytest.raises(caloforge.DetectorError, match="no such detector file or preset"):
        caloforge.load_detector("no-such-detector")
