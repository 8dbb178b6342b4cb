"""Fixtures of the fast-simulation tests: a tiny wgan-gp trained a few steps on TOY showers
of the 3 x (4 x 4) toy detector, exported to ONNX; a private Geant4 offline-data cache."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from caloforge.deploy.export import export_onnx
from export.conftest import tiny_checkpoint

HAS_GEANT4 = importlib.util.find_spec("geant4_pybind") is not None
needs_geant4 = pytest.mark.skipif(not HAS_GEANT4, reason="needs the geant4 extra (geant4-pybind)")


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny_fastsim")
    return export_onnx(tiny_checkpoint("wgan-gp", folder), folder / "tiny.onnx").path


@pytest.fixture(autouse=True)
def _private_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Never touch the user's ~/.cache or official Geant4 data from the tests."""
    cache = tmp_path_factory.getbasetemp() / "g4data_fastsim" / "cache"
    monkeypatch.setenv("CALOFORGE_G4DATA_CACHE", str(cache))
    monkeypatch.delenv("GEANT4_DATA_DIR", raising=False)
    for var in ("G4LEDATA", "G4ENSDFSTATEDATA", "G4PARTICLEXSDATA", "G4NEUTRONHPDATA"):
        monkeypatch.delenv(var, raising=False)
