"""A small shared Optuna study on TOY showers with a tiny VAE: trials train and score,
two calls share one journal storage, the summary holds the Pareto front and the plots
are written; the median pruning rule stops a trial worse than the finished ones."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
import torch

from caloforge.testing import write_toy_files
from caloforge.tune import TuneSettings, tune
from caloforge.tune.pruning import Pruning

TINY = [
    "encoder_hidden=16",
    "decoder_hidden=16",
    "postprocessor=false",
    "train.batch_size=32",
    "train.steps=8",
    "train.val_every=4",
    "train.val_showers=60",
    "train.threads=1",
]
SPACE = {
    "train.lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
    "latent_dim": {"type": "int", "low": 2, "high": 6},
}


@pytest.fixture(scope="module")
def toy_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """TOY showers (tests only, not physics)."""
    return write_toy_files(tmp_path_factory.mktemp("toy_tune"), 200, 80)


def test_two_workers_share_a_study(toy_files: tuple[Path, Path], tmp_path: Path) -> None:
    torch.set_num_threads(1)
    train, val = toy_files
    storage = f"journal:{tmp_path / 'shared' / 'study.log'}"
    settings = TuneSettings(eval_showers=80, seed=1)
    first = tune(
        "vae", train, val, space=SPACE, trials=2, out=tmp_path / "w1", storage=storage,
        overrides=TINY, settings=settings,
    )  # fmt: skip
    assert first.trials_here == 2
    second = tune(
        "vae", train, val, space=SPACE, trials=1, out=tmp_path / "w2", storage=storage,
        overrides=TINY, settings=TuneSettings(eval_showers=80, seed=2),
    )  # fmt: skip
    assert second.trials_here == 1
    summary = json.loads(second.summary_path.read_text())
    assert summary["objectives"] == ["auc", "ms_per_shower"]
    assert sum(summary["trials"].values()) == 3
    front = summary["pareto_front"]
    assert front and all(0.0 <= t["values"]["auc"] <= 1.0 for t in front)
    assert all(t["values"]["ms_per_shower"] > 0 for t in front)
    assert {"train.lr", "latent_dim"} == set(front[0]["params"])
    assert Path(front[0]["run"], "checkpoint.pt").exists()
    names = {p.stem for p in second.plots}
    assert {"history", "pareto_front", "param_importances"} <= names
    assert all(p.stat().st_size > 1000 for p in second.plots)
    # each trial trained with its drawn values
    run_cfg = json.loads(Path(front[0]["run"], "config.json").read_text())
    assert run_cfg["model"]["latent_dim"] == front[0]["params"]["latent_dim"]
    assert run_cfg["train"]["lr"] == pytest.approx(front[0]["params"]["train.lr"])


def test_separation_objective_single(toy_files: tuple[Path, Path], tmp_path: Path) -> None:
    torch.set_num_threads(1)
    train, val = toy_files
    res = tune(
        "vae", train, val, space=SPACE, trials=1, out=tmp_path / "sep", overrides=TINY,
        settings=TuneSettings(objective="separation", speed=False, eval_showers=80, seed=0),
    )  # fmt: skip
    best = res.summary["best"]
    assert res.summary["objectives"] == ["separation"]
    assert len(best) == 1 and 0.0 <= best[0]["values"]["separation"] <= 1.0


def test_median_rule_prunes_a_worse_trial() -> None:
    study = optuna.create_study(directions=["minimize", "minimize"])
    dist = {"x": optuna.distributions.FloatDistribution(0, 1)}
    for value in (0.1, 0.2, 0.3):
        study.add_trial(
            optuna.trial.create_trial(
                params={"x": value}, distributions=dist, values=[value, 1.0],
                user_attrs={"intermediate": {"10": value}},
            )
        )  # fmt: skip
    settings = TuneSettings(prune_startup=3, prune_warmup=0)
    good = Pruning(study.ask(dist), settings, "val_score")
    good.on_log({"step": 10, "val": {"val_score": 0.15}})  # better than the median: goes on
    bad = Pruning(study.ask(dist), settings, "val_score")
    with pytest.raises(optuna.TrialPruned):
        bad.on_log({"step": 10, "val": {"val_score": 0.9}})
    early = Pruning(study.ask(dist), TuneSettings(prune_startup=4), "val_score")
    early.on_log({"step": 10, "val": {"val_score": 0.9}})  # too few finished trials yet
