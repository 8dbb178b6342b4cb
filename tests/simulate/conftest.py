"""Fixtures of the simulation tests: a private offline-data cache and tiny detectors.

Geant4 runs only in worker processes started by :func:`caloforge.simulate.simulate`
(never in the pytest process). Tests that need Geant4 are skipped when the ``geant4``
extra is not installed.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from caloforge.geometry import Detector
from caloforge.testing import tiny_g4_detector

HAS_GEANT4 = importlib.util.find_spec("geant4_pybind") is not None
needs_geant4 = pytest.mark.skipif(not HAS_GEANT4, reason="needs the geant4 extra (geant4-pybind)")


@pytest.fixture(scope="session")
def g4cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session-wide offline data cache (generated once, in about a second)."""
    return tmp_path_factory.mktemp("g4data") / "cache"


@pytest.fixture(autouse=True)
def _private_cache(g4cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never touch the user's ~/.cache or official data from the tests."""
    monkeypatch.setenv("CALOFORGE_G4DATA_CACHE", str(g4cache))
    monkeypatch.delenv("GEANT4_DATA_DIR", raising=False)
    for var in ("G4LEDATA", "G4ENSDFSTATEDATA", "G4PARTICLEXSDATA", "G4NEUTRONHPDATA"):
        monkeypatch.delenv(var, raising=False)


tiny_detector = tiny_g4_detector
"""6 x (2 mm Pb + 4 mm LAr), two readout layers of 4 x 4 cells (see caloforge.testing)."""


@pytest.fixture
def tiny() -> Detector:
    return tiny_detector()
