"""Fixtures of the validation-suite tests: toy showers (see ``toy_showers.py``), no Geant4."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from toy_showers import make_toy_showers

from caloforge.data import Conditions, write_showers
from caloforge.geometry import Detector, load_detector

ToyShowers = Callable[..., tuple[NDArray[np.float32], Conditions]]


@pytest.fixture
def toy_showers() -> ToyShowers:
    """The toy-shower generator (see :func:`make_toy_showers`)."""
    return make_toy_showers


@pytest.fixture
def atlas() -> Detector:
    return load_detector("atlas-pblar")


@pytest.fixture
def write_toy(tmp_path: Path) -> Callable[..., Path]:
    """Write toy showers of a detector (and file attributes ``attrs``) to
    ``tmp_path/name`` and return the path."""

    def write(
        name: str, det: Detector, n: int, seed: int, attrs: dict | None = None, **kw: object
    ) -> Path:
        s, c = make_toy_showers(det, n, seed, **kw)  # type: ignore[arg-type]
        return write_showers(tmp_path / name, s, c, det, attrs=attrs)

    return write
