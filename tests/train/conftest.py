"""Fixtures of the training tests: TOY shower files of a tiny detector and a tiny VAE."""

from __future__ import annotations

from pathlib import Path

import pytest

from caloforge.testing import write_toy_files

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
    return write_toy_files(tmp_path_factory.mktemp("toy"), 200, 100, seeds=(5, 6))
