"""Fixtures of the simulation tests: a private offline-data cache and tiny detectors.

Geant4 runs only in worker processes started by :func:`caloforge.simulate.simulate`
(never in the pytest process). Tests that need Geant4 are skipped when the ``geant4``
extra is not installed.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from caloforge.geometry import Detector, detector_from_dict

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


def tiny_detector(**overrides: Any) -> Detector:
    """6 x (2 mm Pb + 4 mm LAr), 100 x 100 mm, two readout layers of 4 x 4 cells of 25 mm."""
    data: dict[str, Any] = {
        "name": "tiny",
        "size_x": 100.0,
        "size_y": 100.0,
        "layers": [
            {
                "absorber": "Pb",
                "absorber_thickness": 2.0,
                "active": "LAr",
                "active_thickness": 4.0,
                "repeat": 6,
            }
        ],
        "readout": [
            {
                "group": 3,
                "repeat": 2,
                "segmentation": "cartesian",
                "nx": 4,
                "ny": 4,
                "cell_x": 25.0,
                "cell_y": 25.0,
            }
        ],
        "gun": {"particle": "e-", "position": [2.5, 2.5, -50.0]},
        "physics": {"scoring_pitch": 5.0},
    }
    data.update(overrides)
    return detector_from_dict(data)


@pytest.fixture
def tiny() -> Detector:
    return tiny_detector()
