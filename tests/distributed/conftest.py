"""Fixtures of the scale-out tests: the TOY detector and a private Geant4 data cache."""

from __future__ import annotations

import pytest

from caloforge.geometry import Detector
from caloforge.testing import toy_detector


@pytest.fixture(scope="session")
def toy_det(tmp_path_factory: pytest.TempPathFactory) -> Detector:
    return toy_detector(tmp_path_factory.mktemp("toy_detector"))


@pytest.fixture
def g4_private_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Never touch the user's Geant4 data cache: a private offline cache for this test
    (inherited by the Dask worker processes and their shard processes)."""
    monkeypatch.setenv("CALOFORGE_G4DATA_CACHE", str(tmp_path_factory.mktemp("g4data") / "cache"))
    monkeypatch.delenv("GEANT4_DATA_DIR", raising=False)
    for var in ("G4LEDATA", "G4ENSDFSTATEDATA", "G4PARTICLEXSDATA", "G4NEUTRONHPDATA"):
        monkeypatch.delenv(var, raising=False)
