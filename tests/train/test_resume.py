"""``resume``: which configuration keys a resumed run may change."""

from __future__ import annotations

from pathlib import Path

import pytest

from caloforge.config import ConfigError
from caloforge.train import RESUMABLE_KEYS, load_checkpoint, train
from caloforge.train.config import check_resume_config, resolve_run_config

from .conftest import TINY


@pytest.fixture(scope="module")
def run(toy: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("resume") / "run"
    train("vae", toy[0], out=out, overrides=[*TINY, "steps=2"])
    return out


def _check(run: Path, *overrides: str) -> None:
    stored = load_checkpoint(run / "checkpoint.pt")["config"]
    model, cfg = resolve_run_config("vae", overrides=overrides, base=stored)
    check_resume_config("vae", stored, model, cfg, source="ck.pt")


def test_safe_keys_may_change(run: Path) -> None:
    _check(run)
    _check(run, "train.steps=50", "train.max_time_min=5", "log_every=1", "train.threads=2")
    assert "train.lr" not in RESUMABLE_KEYS and "train.seed" not in RESUMABLE_KEYS


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        (["train.lr=0.5"], ["train.lr (0.001 -> 0.5)"]),
        (["train.seed=3", "steps=9"], ["train.seed (0 -> 3)"]),
        (["latent_dim=8", "batch_size=16"], ["model.latent_dim (4 -> 8)", "train.batch_size"]),
    ],
)
def test_other_keys_are_refused_by_name(run: Path, overrides: list[str], named: list[str]) -> None:
    with pytest.raises(ConfigError, match=r"ck\.pt: --resume cannot change") as err:
        _check(run, *overrides)
    message = str(err.value)
    for text in named:
        assert text in message
    assert "train.steps (" not in message and "train.max_time_min" in message


def test_resume_refuses_before_touching_the_run(run: Path, toy: tuple[Path, Path]) -> None:
    before = (run / "checkpoint.pt").read_bytes(), (run / "metrics.jsonl").read_bytes()
    with pytest.raises(ConfigError, match=r"model\.latent_dim"):
        train("vae", toy[0], out=run, overrides=["latent_dim=8"], resume=True)
    assert ((run / "checkpoint.pt").read_bytes(), (run / "metrics.jsonl").read_bytes()) == before
    assert train("vae", toy[0], out=run, overrides=["steps=3"], resume=True).steps == 3


def test_a_family_may_allow_its_later_phase_keys() -> None:
    from caloforge.config import config_to_dict

    model, cfg = resolve_run_config("diffusion")
    stored = config_to_dict({"model": model, "train": cfg})
    phase = ["distill_start=40", "distill_pool=64", "distill_seed=7", "sampler=student",
             "fill_empty_layers=0.01", "train.steps=90"]
    check_resume_config(
        "diffusion", stored, *resolve_run_config("diffusion", overrides=phase), source="ck.pt"
    )
    with pytest.raises(ConfigError, match=r"model\.hidden") as err:
        check_resume_config(
            "diffusion",
            stored,
            *resolve_run_config("diffusion", overrides=[*phase, "hidden=8"]),
            source="ck.pt",
        )
    assert "model.distill_start" in str(err.value)  # listed among the keys that may change
