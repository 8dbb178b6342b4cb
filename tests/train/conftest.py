"""Fixtures of the training tests: TOY shower files of a tiny detector and a tiny VAE."""

from __future__ import annotations

from pathlib import Path

import pytest

from caloforge.data import write_showers
from caloforge.testing import toy_detector, toy_showers

TINY = [
    "latent_dim=4",
    "encoder_hidden=32",
    "decoder_hidden=32",
    "postprocessor=false",
    "batch_size=32",
    "threads=1",
]
"""A VAE small enough to train a few steps in a fraction of a second."""


@pytest.fixture(scope="package")
def toy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(training file of 200 showers, validation file of 100)."""
    folder = tmp_path_factory.mktemp("toy")
    det = toy_detector(folder)
    s, c = toy_showers(det, 200, seed=5)
    s2, c2 = toy_showers(det, 100, seed=6)
    return write_showers(folder / "toy_train.h5", s, c, det), write_showers(
        folder / "toy_val.h5", s2, c2, det
    )
