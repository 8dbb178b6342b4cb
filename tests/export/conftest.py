"""Fixtures of the export tests: tiny wgan-gp / vae checkpoints trained a few steps on TOY
synthetic showers (not physics; tests only)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from caloforge.testing import write_toy_files
from caloforge.train import train

TINY = {
    "wgan-gp": [
        "latent_dim=8",
        "generator_hidden=32,32",
        "critic_hidden=32",
        "constrainer_hidden=16",
        "n_critic=1",
    ],
    "vae": [
        "latent_dim=4",
        "encoder_hidden=32",
        "decoder_hidden=32",
        "pp_hidden=16",
        "pp_values=64",
        "kde_points=50",
    ],
    "diffusion": [
        "hidden=32",
        "depth=1",
        "time_features=4",
        "student_hidden=32",
        "student_depth=1",
        "layer_transforms=1",
        "layer_hidden=16",
        "sample_steps=3",
        "coding=hit-energy",
        "distill_start=4",
        "distill_pool=32",
        "distill_teacher_steps=2",
        "condition_bank=50",
    ],
}
FAST = [
    "train.batch_size=64",
    "train.steps=6",
    "train.log_every=3",
    "train.val_every=6",
    "train.val_showers=64",
    "train.threads=1",
    "train.finalize_showers=200",
]


def tiny_checkpoint(family: str, folder: Path, extra: tuple[str, ...] = ()) -> Path:
    """Train ``family`` for a few steps on TOY showers of the 3 x (4 x 4) toy detector."""
    train_file, val_file = write_toy_files(folder, 256, 64, impact_spread=5.0)
    result = train(
        family,
        train_file,
        val=val_file,
        out=folder / family,
        overrides=[*TINY[family], *FAST, *extra],
    )
    return result.checkpoint


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_wgan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_checkpoint("wgan-gp", tmp_path_factory.mktemp("tiny_wgan"))


@pytest.fixture(scope="session")
def tiny_vae(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_checkpoint("vae", tmp_path_factory.mktemp("tiny_vae"))


@pytest.fixture(scope="session")
def tiny_diffusion(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_checkpoint("diffusion", tmp_path_factory.mktemp("tiny_diffusion"))


@pytest.fixture(scope="session")
def tiny_wgan_stage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """wgan-gp with the stage-1 layer-energy flow (``layer_stage=true``)."""
    return tiny_checkpoint(
        "wgan-gp", tmp_path_factory.mktemp("tiny_wgan_stage"), ("layer_stage=true",)
    )


@pytest.fixture(scope="session")
def tiny_wgan_stage_first(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """wgan-gp with stage 1 coded from the back (``layer_remainder=0``)."""
    return tiny_checkpoint(
        "wgan-gp",
        tmp_path_factory.mktemp("tiny_wgan_stage_first"),
        ("layer_stage=true", "layer_remainder=0"),
    )


@pytest.fixture(scope="session")
def tiny_vae_stage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """vae with the stage-1 layer-energy flow (``layer_stage=true``)."""
    return tiny_checkpoint("vae", tmp_path_factory.mktemp("tiny_vae_stage"), ("layer_stage=true",))


def training_file(ckpt: Path) -> str:
    """The training file a tiny checkpoint was trained on."""
    from caloforge.train import load_checkpoint

    return str(load_checkpoint(ckpt)["info"]["data"][0])


@pytest.fixture(scope="session")
def calibrated(tiny_wgan: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny wgan-gp calibrated in 2 energy bins (``caloforge calibrate``)."""
    from caloforge.postprocess import calibrate

    out = tmp_path_factory.mktemp("calibrated") / "calibrated.pt"
    result = calibrate(tiny_wgan, training_file(tiny_wgan), out, bins=2, levels=65, seed=1)
    assert result.path == out and result.n_showers == 256 and result.record["bins"] == 2
    return out


@pytest.fixture(scope="session")
def refined(tiny_wgan: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny wgan-gp with a 2-classifier refiner, 8 candidates (``caloforge refine``)."""
    from caloforge.postprocess import refine

    out = tmp_path_factory.mktemp("refined") / "refined.pt"
    result = refine(
        tiny_wgan, training_file(tiny_wgan), out, candidates=8, hidden=16, ensemble=2, seed=1
    )
    assert result.path == out and result.n_showers == 256 and result.record["candidates"] == 8
    # a model trained 6 steps is easy to tell from its data
    assert result.record["held_out_auc"] > 0.8
    return out
