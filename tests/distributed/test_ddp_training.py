"""Data-parallel training under ``torchrun`` with 2 CPU processes (gloo): the same global
batch and data order as one process gives the same weights up to floating-point noise,
and a 2-process run resumed from its checkpoint continues exactly. Slow tier: every
``torchrun`` launch starts two Python processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from caloforge.data import write_showers
from caloforge.geometry import Detector
from caloforge.models import family_names, get_family
from caloforge.testing import toy_showers
from caloforge.train import load_checkpoint, train

pytestmark = pytest.mark.slow

PIXELCNN = ["bins=8", "channels=4", "depth=2", "context=4", "context_hidden=8"]
VAE = ["latent_dim=4", "encoder_hidden=32", "decoder_hidden=32", "postprocessor=false"]
COMMON = ["train.batch_size=64", "train.log_every=1", "train.threads=1", "train.lr=3e-3"]


@pytest.fixture(scope="module")
def toy_train(tmp_path_factory: pytest.TempPathFactory, toy_det: Detector) -> Path:
    """TOY showers (tests only, not physics)."""
    s, c = toy_showers(toy_det, 320, seed=11)
    return write_showers(tmp_path_factory.mktemp("ddp") / "toy_train.h5", s, c, toy_det)


def torchrun(nproc: int, *args: str) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    cmd += [f"--nproc-per-node={nproc}", "-m", "caloforge", "train", "--quiet", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]


def _losses(run: Path) -> list[dict[str, float]]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [json.loads(ln)["loss"] for ln in lines if "loss" in json.loads(ln)]


def test_two_processes_match_one(toy_train: Path, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    one = train(
        "pixelcnn", toy_train, out=tmp_path / "one", overrides=[*PIXELCNN, *COMMON, "steps=8"]
    )
    two = tmp_path / "two"
    torchrun(2, "-m", "pixelcnn", "--data", str(toy_train), "-o", str(two), "--steps", "8",
             *PIXELCNN, *COMMON)  # fmt: skip
    a, b = load_checkpoint(one.checkpoint), load_checkpoint(two / "checkpoint.pt")
    assert b["step"] == 8 and b["info"]["processes"] == 2
    assert a["trainer"]["perm"].equal(b["trainer"]["perm"])  # the same data order
    moved = 0.0
    init = train(
        "pixelcnn", toy_train, out=tmp_path / "zero", overrides=[*PIXELCNN, *COMMON, "steps=0"]
    )
    start = load_checkpoint(init.checkpoint)["state"]
    for k, v in a["state"].items():
        if isinstance(v, torch.Tensor) and v.is_floating_point():
            torch.testing.assert_close(b["state"][k], v, rtol=1e-4, atol=1e-5, msg=k)
            moved = max(moved, float((v - start[k]).abs().max()))
    assert moved > 1e-3  # the weights did move: the comparison is not trivial
    for la, lb in zip(_losses(tmp_path / "one"), _losses(two), strict=True):
        assert lb["nll_per_voxel"] == pytest.approx(la["nll_per_voxel"], rel=1e-4)


def test_resume_across_ranks(toy_train: Path, tmp_path: Path) -> None:
    """VAE (noise in every step: each rank's generator state is checkpointed)."""
    args = ["-m", "vae", "--data", str(toy_train), *VAE, *COMMON]
    torchrun(2, *args, "-o", str(tmp_path / "full"), "--steps", "6")
    torchrun(2, *args, "-o", str(tmp_path / "part"), "--steps", "3")
    part = load_checkpoint(tmp_path / "part" / "checkpoint.pt")
    assert len(part["trainer"]["rank_generators"]) == 2
    torchrun(2, *args, "-o", str(tmp_path / "part"), "--steps", "6", "--resume")
    full = load_checkpoint(tmp_path / "full" / "checkpoint.pt")
    resumed = load_checkpoint(tmp_path / "part" / "checkpoint.pt")
    assert resumed["step"] == 6
    for k, v in full["state"].items():
        if isinstance(v, torch.Tensor) and v.is_floating_point():
            torch.testing.assert_close(resumed["state"][k], v, rtol=1e-6, atol=1e-7, msg=k)
    for la, lb in zip(_losses(tmp_path / "part"), _losses(tmp_path / "full"), strict=True):
        assert la == pytest.approx(lb)


def _tiny_configs() -> dict[str, list[str]]:
    """The model tests' tiny configurations (tests/models/conftest.py), if present."""
    import importlib.util

    path = Path(__file__).parents[1] / "models" / "conftest.py"
    spec = importlib.util.spec_from_file_location("_models_tiny", path)
    if spec is None or spec.loader is None or not path.exists():
        return {}
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return dict(getattr(module, "TINY", {}))


@pytest.mark.parametrize("family", family_names())
def test_every_family_trains_with_two_processes(
    family: str, toy_train: Path, tmp_path: Path
) -> None:
    out = tmp_path / family
    tiny = _tiny_configs().get(family, [])
    args = ["--steps", "4", "train.batch_size=64", "train.threads=1", *tiny]
    torchrun(2, "-m", family, "--data", str(toy_train), "-o", str(out), *args)
    ckpt = load_checkpoint(out / "checkpoint.pt")
    assert ckpt["info"]["processes"] == 2
    assert ckpt["step"] == (4 if get_family(family).trainable else 0)
    assert len(ckpt["trainer"]["rank_generators"]) == 2
