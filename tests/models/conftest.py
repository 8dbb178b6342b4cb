"""Fixtures of the model tests: a tiny detector and TOY synthetic shower files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from caloforge.geometry import Detector
from caloforge.testing import toy_detector, write_toy_files

# Small networks so that every family trains a few dozen steps in seconds. A new family
# adds its entry here (a family without one runs with its defaults).
TINY: dict[str, list[str]] = {
    "wgan-gp": [
        "latent_dim=8",
        "generator_hidden=64,64",
        "critic_hidden=64,64",
        "constrainer_hidden=32",
        "n_critic=2",
        "train.lr=1e-3",
    ],
    "vae": [
        "latent_dim=4",
        "encoder_hidden=64",
        "decoder_hidden=64",
        "pp_hidden=32",
        "pp_values=128",
    ],
    "library": ["k_nearest=2"],
    "layer-gan": [
        "latent_dim=8",
        "generator_hidden=64",
        "previous_dim=16",
        "critic_hidden=32",
        "shower_critic_hidden=64",
        "n_critic=2",
        "train.lr=1e-3",
    ],
    "gan3d": [
        "latent_dim=8",
        "channels=4",
        "upsamplings=1",
        "critic_channels=4",
        "train.lr=1e-3",
    ],
    "bib-ae": [
        "latent_dim=4",
        "encoder_hidden=64",
        "decoder_hidden=64",
        "critic_hidden=32",
        "pp_hidden=32",
        "pp_values=128",
    ],
    "flow": ["transforms=2", "hidden=32", "layer_transforms=2", "layer_hidden=16"],
    "diffusion": [
        "hidden=32",
        "depth=1",
        "layer_transforms=2",
        "layer_hidden=16",
        "sample_steps=2",
        "distill_start=20",
        "distill_pool=64",
        "distill_teacher_steps=2",
        "student_hidden=16",
        "condition_bank=100",
    ],
    "patch-transformer": [
        "patch=1,2,2",
        "hidden=16",
        "depth=1",
        "heads=2",
        "student_hidden=8",
        "student_depth=1",
        "layer_transforms=2",
        "layer_hidden=16",
        "sample_steps=2",
        "distill_start=20",
        "distill_pool=64",
        "distill_teacher_steps=2",
        "condition_bank=100",
    ],
    "pixelcnn": ["bins=8", "channels=4", "depth=2", "context=4", "context_hidden=8"],
}
FAST = [
    "train.batch_size=64",
    "train.log_every=5",
    "train.val_every=10",
    "train.val_showers=200",
    "train.threads=1",
]


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def toy_det(tmp_path_factory: pytest.TempPathFactory) -> Detector:
    return toy_detector(tmp_path_factory.mktemp("toy_detector"))


@pytest.fixture(scope="session")
def toy_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(train, val) files of TOY showers on the tiny detector (not physics; tests only)."""
    return write_toy_files(tmp_path_factory.mktemp("toy_showers"), 640, 200)
