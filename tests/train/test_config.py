"""Layered configuration: defaults < file < key=value, typed, with one-line errors."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from caloforge.config import ConfigError, config_to_dict, resolve_config, save_config
from caloforge.train import TrainConfig, resolve_run_config


@dataclass(frozen=True)
class _Model:
    width: int = 8
    hidden: tuple[int, ...] = (4, 4)
    kind: Literal["a", "b"] = "a"
    scale: float | None = None
    flag: bool = False


@dataclass(frozen=True)
class _Train:
    lr: float = 1e-3
    steps: int = 10
    flag: bool = True


SECTIONS = {"model": _Model, "train": _Train}


def test_layers_in_order(tmp_path: Path) -> None:
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(
        "model:\n  width: 16\n  hidden: [1, 2, 3]\ntrain:\n  lr: 0.5\n  steps: 20\n"
    )
    cfg = resolve_config(
        SECTIONS,
        defaults={"train": {"steps": 5}},
        file=cfg_file,
        overrides=[
            "steps=30",
            "model.kind=b",
            "scale=0.25",
            "train.flag=false",
            "model.hidden=7,8",
        ],
    )
    assert cfg["model"] == _Model(width=16, hidden=(7, 8), kind="b", scale=0.25, flag=False)
    assert cfg["train"] == _Train(lr=0.5, steps=30, flag=False)
    assert resolve_config(SECTIONS, defaults={"train": {"steps": 5}})["train"].steps == 5


def test_json_file_and_flat_keys(tmp_path: Path) -> None:
    cfg_file = tmp_path / "c.json"
    cfg_file.write_text('{"width": 3, "lr": 2}')
    cfg = resolve_config(SECTIONS, file=cfg_file)
    assert cfg["model"].width == 3 and cfg["train"].lr == 2.0


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ("nope=1", ["unknown config key 'nope'", "'1'"]),
        ("width=abc", ["model.width", "'abc'", "int"]),
        ("width=1.5", ["model.width", "'1.5'"]),
        ("kind=c", ["model.kind", "'c'", "'a'"]),
        ("flag=true", ["ambiguous", "model.flag", "train.flag"]),
        ("model.flag=maybe", ["model.flag", "'maybe'"]),
        ("other.width=1", ["unknown config section 'other'"]),
        ("width", ["key=value"]),
    ],
)
def test_bad_overrides(override: str, words: list[str]) -> None:
    with pytest.raises(ConfigError) as err:
        resolve_config(SECTIONS, overrides=[override])
    message = str(err.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_bad_file_values(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  width: '8'\n")
    with pytest.raises(ConfigError, match=r"model.width.*'8'"):
        resolve_config(SECTIONS, file=bad)
    bad.write_text("model: [1, 2\n")
    with pytest.raises(ConfigError, match="cannot parse"):
        resolve_config(SECTIONS, file=bad)
    with pytest.raises(ConfigError, match="no such config file"):
        resolve_config(SECTIONS, file=tmp_path / "missing.yaml")
    txt = tmp_path / "c.txt"
    txt.write_text("a")
    with pytest.raises(ConfigError, match="unknown config file type"):
        resolve_config(SECTIONS, file=txt)


def test_saved_config_round_trips(tmp_path: Path) -> None:
    model_cfg, train_cfg = resolve_run_config("vae", overrides=["latent_dim=5", "lr=0.01"])
    path = save_config(tmp_path / "config.json", {"model": model_cfg, "train": train_cfg})
    again = resolve_run_config("vae", base=__import__("json").loads(path.read_text()))
    assert again == (model_cfg, train_cfg)
    assert config_to_dict(model_cfg)["encoder_hidden"] == list(model_cfg.encoder_hidden)


def test_family_defaults_and_validation() -> None:
    _, train_cfg = resolve_run_config("wgan-gp")
    assert train_cfg.betas == (0.5, 0.9) and train_cfg.lr == 1e-4
    with pytest.raises(ConfigError, match="early_stop_metric"):
        resolve_run_config("vae", overrides=["early_stop_metric=auc"])
    with pytest.raises(ConfigError, match="conditions"):
        resolve_run_config("vae", overrides=["conditions=energy"])
    assert TrainConfig().device == "auto"
