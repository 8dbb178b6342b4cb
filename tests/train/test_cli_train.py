"""``caloforge train`` through the installed console script: a refused resume, a diverging
run, non-finite data and an unsafe checkpoint each end in one ``error:`` line with exit
code 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from caloforge.data import write_showers
from caloforge.testing import toy_detector, toy_showers
from caloforge.train import train

from .conftest import TINY

CALOFORGE = Path(sys.executable).parent / "caloforge"


def caloforge(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CALOFORGE), *args], capture_output=True, text=True, timeout=300, env=os.environ
    )


def one_error_line(out: subprocess.CompletedProcess[str]) -> str:
    """The single stderr line of a refused command (exit code 2, no traceback)."""
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr and "weights_only" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr
    return lines[0]


@pytest.fixture(scope="module")
def run(toy: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "run"
    train("vae", toy[0], out=out, overrides=[*TINY, "steps=2"])
    return out


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--seed", "3"], "train.seed (0 -> 3)"),
        (["latent_dim=8"], "model.latent_dim (4 -> 8)"),
        (["train.lr=0.5"], "train.lr (0.001 -> 0.5)"),
    ],
)
def test_resume_with_changed_settings_is_refused(
    run: Path, toy: tuple[Path, Path], args: list[str], named: str
) -> None:
    before = (run / "checkpoint.pt").read_bytes()
    out = caloforge("train", "-m", "vae", "--data", str(toy[0]), "-o", str(run), "--resume", *args)
    line = one_error_line(out)
    assert "--resume cannot change" in line and named in line and "train.steps" in line
    assert (run / "checkpoint.pt").read_bytes() == before


def test_diverging_run_stops_at_the_first_non_finite_step(
    toy: tuple[Path, Path], tmp_path: Path
) -> None:
    run = tmp_path / "run"
    args = ["-m", "vae", "--data", str(toy[0]), "-o", str(run), "-q", "--steps", "20"]
    out = caloforge("train", *args, *TINY, "train.lr=1e30", "train.checkpoint_every=1")
    line = one_error_line(out)
    assert "training diverged at step 2" in line and "non-finite loss" in line
    assert "last good checkpoint (step 1)" in line
    assert torch.load(run / "checkpoint.pt", weights_only=True)["step"] == 1


def test_checkpoint_with_unsafe_content_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pt"
    torch.save({"format": "caloforge-checkpoint", "path": Path("x")}, bad)
    out = caloforge(
        "generate",
        "--checkpoint",
        str(bad),
        "-o",
        str(tmp_path / "g.h5"),
        "-n",
        "2",
        "--energy",
        "10GeV",
    )
    line = one_error_line(out)
    assert str(bad) in line and "not a readable caloforge checkpoint" in line
    assert not (tmp_path / "g.h5").exists()


@pytest.mark.parametrize(("dataset", "row"), [("showers", 3), ("impact_point", 7)])
def test_training_on_non_finite_data_is_refused(tmp_path: Path, dataset: str, row: int) -> None:
    det = toy_detector(tmp_path)
    s, c = toy_showers(det, 40, seed=1)
    path = write_showers(tmp_path / "toy.h5", s, c, det)
    with h5py.File(path, "a") as f:
        f[dataset][row, 0] = np.nan
    run = tmp_path / "run"
    out = caloforge("train", "-m", "vae", "--data", str(path), "-o", str(run), "-q", *TINY)
    line = one_error_line(out)
    assert str(path) in line and dataset in line and f"row {row}" in line
    assert not (run / "checkpoint.pt").exists()
