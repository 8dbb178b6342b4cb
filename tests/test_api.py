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
        module = importlib.import_module(home)
        if name in caloforge._CALLABLE:  # the module of that name, callable
            assert value is module and callable(value), name
        else:
            assert value is getattr(module, name), name
        assert name in dir(caloforge)
    with pytest.raises(AttributeError, match="no attribute 'not_an_api_name'"):
        caloforge.not_an_api_name  # noqa: B018


@pytest.mark.parametrize("name", sorted(caloforge._CALLABLE))
def test_modules_named_like_their_function_call_it(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = importlib.import_module(f"caloforge.{name}")
    assert getattr(caloforge, name) is module and inspect.isfunction(getattr(module, name))
    calls = []
    monkeypatch.setattr(module, name, lambda *a, **k: calls.append((a, k)) or "done")
    assert getattr(caloforge, name)(1, key=2) == "done" and calls == [((1,), {"key": 2})]


def test_every_import_form_of_the_modules_works() -> None:
    import caloforge.train.trainer as trainer
    from caloforge import generate
    from caloforge.generate import generate_file

    assert inspect.ismodule(trainer) and trainer is sys.modules["caloforge.train.trainer"]
    assert generate is sys.modules["caloforge.generate"]
    assert generate_file is caloforge.generate_file is generate.generate_file
    assert caloforge.train.load_checkpoint is caloforge.load_checkpoint


def test_the_api_reads_a_detector() -> None:
    det = caloforge.load_detector("atlas-pblar")
    assert isinstance(det, caloforge.Detector) and det.n_voxels > 0
    with pytest.raises(caloforge.DetectorError, match="no such detector file or preset"):
        caloforge.load_detector("no-such-detector")
