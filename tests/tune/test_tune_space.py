"""Search-space files: distributions, checks against the family's configuration, and
one-line errors naming the file and key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from caloforge.tune import Distribution, SpaceError, load_space, override

GOOD = """
train.lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
latent_dim: {type: int, low: 2, high: 8, step: 2}
model:
  encoder_hidden: {type: categorical, choices: [[32, 32], [64]]}
train:
  batch_size: {type: categorical, choices: [32, 64]}
  weight_decay: {type: log, low: 1.0e-6, high: 1.0e-3}
"""


def test_space_is_parsed_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "space.yaml"
    path.write_text(GOOD)
    space = {d.key: d for d in load_space(path, "vae")}
    assert space["train.lr"] == Distribution("train.lr", "float", 1e-4, 1e-2, log=True)
    assert space["latent_dim"].kind == "int" and space["latent_dim"].step == 2
    assert space["model.encoder_hidden"].edge_values() == ["32,32", "64"]
    assert space["train.weight_decay"].log and space["train.weight_decay"].kind == "float"
    assert override("model.encoder_hidden", "32,32") == "model.encoder_hidden=32,32"
    assert override("postprocessor", False) == "postprocessor=false"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nonsense_key: {type: float, low: 0, high: 1}", "unknown config key 'nonsense_key'"),
        ("train.lr: {type: gaussian, low: 0, high: 1}", "type 'gaussian' is not one of"),
        ("train.lr: {type: float, low: 1, high: 0.1}", "low=1 must be < high=0.1"),
        ("train.lr: {type: float, low: 0, high: 1, log: true}", "log scale needs low > 0"),
        ("train.lr: {type: float, low: 0.1}", "needs 'high'"),
        ("latent_dim: {type: categorical}", "non-empty list 'choices'"),
        ("latent_dim: {type: int, low: 2, high: 8, steps: 2}", "unknown field(s) ['steps']"),
        ("latent_dim: {type: int, low: 2.5, high: 8}", "int bounds must be integers"),
        ("latent_dim: {type: categorical, choices: [4, many]}", "'model.latent_dim'"),
        ("train.lr: 0.001", "expected a mapping"),
        ("train.lr: {type: float, low: 1, high: [2]}", "high=[2] is not a finite number"),
        ("[1, 2]", "must hold a mapping"),
        ("{}", "empty"),
        ("train.lr: {type: float, low: 1e-4, high: 1e-2", "cannot parse"),
    ],
)
def test_bad_space_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "space.yaml"
    path.write_text(text)
    with pytest.raises(SpaceError) as err:
        load_space(path, "vae")
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_cli_reports_one_line(tmp_path: Path) -> None:
    space = tmp_path / "space.yaml"
    space.write_text("no_such_key: {type: int, low: 1, high: 3}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "caloforge", "tune", "--model", "vae", "--space", str(space),
         "--data", str(tmp_path / "x.h5"), "--val", str(tmp_path / "y.h5"),
         "-o", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error:") and "no_such_key" in proc.stderr
    assert proc.stderr.strip().count("\n") == 0
    missing = load_space  # the missing file is named too
    with pytest.raises(SpaceError, match="no such config file"):
        missing(tmp_path / "absent.yaml")
