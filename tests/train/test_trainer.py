"""Trainer behaviour: schedules, early stopping, logs, refusing to clobber, bad data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from caloforge.data import ShowerFileError, write_showers
from caloforge.testing import toy_detector, toy_showers
from caloforge.train import TrainConfig, train
from caloforge.train.loading import resolve_device
from caloforge.train.trainer import lr_factor

from .conftest import TINY


def test_lr_schedules() -> None:
    cfg = TrainConfig(steps=100, warmup_steps=10, schedule="cosine", min_lr_factor=0.1)
    assert lr_factor(0, cfg) == pytest.approx(0.1)
    assert lr_factor(9, cfg) == pytest.approx(1.0)
    assert lr_factor(10, cfg) == pytest.approx(1.0)
    assert lr_factor(100, cfg) == pytest.approx(0.1)
    lin = TrainConfig(steps=100, schedule="linear")
    assert lr_factor(50, lin) == pytest.approx(0.5)
    assert lr_factor(50, TrainConfig()) == 1.0


def test_early_stopping_and_logs(toy: tuple[Path, Path], tmp_path: Path) -> None:
    train_file, val_file = toy
    result = train(
        "vae",
        train_file,
        val=val_file,
        out=tmp_path / "run",
        overrides=[
            *TINY,
            "steps=100",
            "lr=1e-30",  # below the weights' float32 resolution: nothing is learnt
            "val_every=2",
            "early_stop_patience=2",
            "log_every=1",
        ],
    )
    assert (
        result.stopped == "early stopping" and result.steps == 6
    )  # nothing learnt, no improvement
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines if "loss" in x] == list(range(1, 7))
    assert {"val_score", "val_response", "val_resolution", "val_layers"} <= set(lines[-1]["val"])
    assert result.best_checkpoint is not None and result.best_checkpoint.exists()
    assert (
        json.loads((tmp_path / "run" / "config.json").read_text())["train"]["early_stop_patience"]
        == 2
    )


def test_existing_run_needs_resume_or_overwrite(toy: tuple[Path, Path], tmp_path: Path) -> None:
    train_file, _ = toy
    train("vae", train_file, out=tmp_path / "run", overrides=[*TINY, "steps=2"])
    with pytest.raises(FileExistsError, match="--resume"):
        train("vae", train_file, out=tmp_path / "run", overrides=[*TINY, "steps=2"])
    assert (
        train(
            "vae", train_file, out=tmp_path / "run", overrides=[*TINY, "steps=3"], overwrite=True
        ).steps
        == 3
    )
    with pytest.raises(ValueError, match="holds a 'vae' run"):
        train("wgan-gp", train_file, out=tmp_path / "run", resume=True)


def test_time_limit_and_ema(toy: tuple[Path, Path], tmp_path: Path) -> None:
    train_file, _ = toy
    result = train(
        "vae",
        train_file,
        out=tmp_path / "run",
        overrides=[*TINY, "steps=1000", "max_time_min=1e-9", "ema_decay=0.9"],
    )
    assert result.stopped == "time limit" and result.steps == 1
    ckpt = torch.load(result.checkpoint, weights_only=True)
    assert ckpt["ema"] and set(ckpt["ema"]) == {
        n for n, _ in ckpt["state"].items() if n in ckpt["ema"]
    }


def test_nan_data_is_refused(tmp_path: Path) -> None:
    det = toy_detector(tmp_path)
    s, c = toy_showers(det, 20, seed=1)
    path = write_showers(tmp_path / "toy.h5", s, c, det)
    import h5py

    with h5py.File(path, "a") as f:
        f["showers"][3, 5] = np.nan
    with pytest.raises(ShowerFileError, match="row 3 holds NaN"):
        train("library", path, out=tmp_path / "run")
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_device_resolution() -> None:
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ValueError, match="device 'gpu7'"):
        resolve_device("gpu7")


def test_stage1_fitted_alone_stays_fixed_and_counts_in_the_time_limit(
    toy: tuple[Path, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``layer_fit_steps``: the trainer trains stage 1 alone before its first step
    (logged) and the loop leaves it fixed: runs of 2 and 6 steps end with the same stage 1
    and different networks. The time counts in ``max_time_min``: a limit it already spent
    stops the run after one step."""
    train_file, _ = toy
    common = [*TINY, "layer_stage=true", "layer_fit_steps=100", "layer_fit_batch=32"]
    caplog.set_level("INFO", logger="caloforge.train.trainer")

    def run(name: str, *extra: str) -> tuple[dict, dict]:
        result = train("vae", train_file, out=tmp_path / name, overrides=[*common, *extra])
        state = torch.load(result.checkpoint, weights_only=True)["state"]
        assert (
            "layers"
            not in torch.load(result.checkpoint, weights_only=True)["trainer"]["optimizers"]
        )
        split = {True: {}, False: {}}  # type: ignore[var-annotated]
        for k, v in state.items():
            split[k.startswith("stage1.flow.")][k] = v
        return split[True], split[False]

    (stage1_a, net_a), (stage1_b, net_b) = run("a", "steps=2"), run("b", "steps=6")
    assert any("stage 1 trained alone" in r.getMessage() for r in caplog.records)
    assert all(torch.equal(stage1_a[k], stage1_b[k]) for k in stage1_a)
    assert any(not torch.equal(net_a[k], net_b[k]) for k in net_a if net_a[k].is_floating_point())
    limited = train(
        "vae",
        train_file,
        out=tmp_path / "limited",
        overrides=[*common, "steps=50", "max_time_min=1e-6"],
    )
    assert limited.stopped == "time limit" and limited.steps == 1
