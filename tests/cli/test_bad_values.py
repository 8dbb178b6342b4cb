"""Bad values on the command line: one ``error:`` line naming the option, key or file,
exit code 2, no traceback, nothing written."""

from __future__ import annotations

import pathlib
from pathlib import Path

import pytest
import torch
from tests.export.conftest import FAST, TINY

from .conftest import assert_refused, caloforge

COUNTS = [
    ("simulate", "-n", "0"),
    ("simulate", "-n", "-3"),
    ("simulate", "--workers", "0"),
    ("simulate", "--chunk-size", "0"),
    ("generate", "-n", "-1"),
    ("generate", "--batch-size", "0"),
    ("calibrate", "--batch-size", "0"),
    ("calibrate", "--levels", "1"),
    ("refine", "--hidden", "0"),
    ("refine", "--candidates", "1"),
    ("export", "--parity", "-1"),
    ("train", "--steps", "0"),
]


def _command(verb: str, toy: Path, out: Path) -> list[str | Path]:
    ckpt = toy / "wgan-gp" / "checkpoint.pt"
    data = toy / "toy_train.h5"
    return {
        "simulate": ["simulate", "-o", out],
        "generate": ["generate", "--checkpoint", ckpt, "--conditions", data, "-o", out],
        "calibrate": ["calibrate", "--checkpoint", ckpt, "--data", data, "-o", out],
        "refine": ["refine", "--checkpoint", ckpt, "--data", data, "-o", out],
        "export": ["export", "--checkpoint", ckpt, "-o", out],
        "train": ["train", "-m", "wgan-gp", "--data", data, "-o", out],
    }[verb]


@pytest.mark.parametrize(("verb", "option", "value"), COUNTS)
def test_counts_must_be_positive(
    toy: Path, tmp_path: Path, verb: str, option: str, value: str
) -> None:
    out = tmp_path / "out"
    quiet = [] if verb == "export" else ["-q"]
    res = caloforge(*_command(verb, toy, out), option, value, *quiet)
    line = assert_refused(res, f"{option} {value}: must be at least")
    assert line == res.stderr.strip()  # one line, no usage line
    assert list(tmp_path.iterdir()) == []


def test_train_detector_is_never_ignored(toy: Path, tmp_path: Path) -> None:
    base = ["train", "-m", "wgan-gp", "--data", toy / "toy_train.h5", "--steps", "1", "-q"]
    res = caloforge(*base, "-o", tmp_path / "a", "-d", "nosuchdet")
    assert_refused(res, "nosuchdet", "no such detector")
    res = caloforge(*base, "-o", tmp_path / "b", "-d", "atlas-pblar")
    assert_refused(res, str(toy / "toy_train.h5"), "'toy-3x4x4'", "'atlas-pblar'")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("override", "key"),
    [("train.lr=-1", "train.lr"), ("train.lr=nan", "train.lr"), ("train.grad_clip=-1", "grad")],
)
def test_bad_train_setting_names_the_key(
    toy: Path, tmp_path: Path, override: str, key: str
) -> None:
    res = caloforge(
        "train", "-m", "wgan-gp", "--data", toy / "toy_train.h5", "-o", tmp_path / "run",
        "-q", *TINY["wgan-gp"], *FAST, override,
    )  # fmt: skip
    assert_refused(res, key)
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_a_stage1_remainder_outside_the_readout_names_key_and_detector(
    toy: Path, tmp_path: Path
) -> None:
    res = caloforge(
        "train", "-m", "wgan-gp", "--data", toy / "toy_train.h5", "-o", tmp_path / "run",
        "-q", *TINY["wgan-gp"], *FAST, "layer_stage=true", "layer_remainder=5",
    )  # fmt: skip
    assert_refused(res, "layer_remainder=5 is not a readout layer", "toy-3x4x4", "of 3")
    assert not (tmp_path / "run").exists()


def test_foreign_checkpoint_is_named_without_unsafe_advice(toy: Path, tmp_path: Path) -> None:
    """A pickle holding more than tensors is refused naming the file; caloforge never
    repeats torch's advice to load it with ``weights_only=False``."""
    foreign = tmp_path / "foreign.pt"
    torch.save({"format": "caloforge-checkpoint", "path": pathlib.PurePosixPath("/x")}, foreign)
    before = foreign.read_bytes()
    res = caloforge(
        "generate", "--checkpoint", foreign, "--energy", "1GeV", "-n", "4", "-o", tmp_path / "g.h5"
    )
    assert_refused(res, str(foreign), "not a readable caloforge checkpoint")
    assert "weights_only" not in res.stderr and "weights_only" not in res.stdout
    assert res.stdout == ""  # no progress bar drawn before the error
    assert foreign.read_bytes() == before and not (tmp_path / "g.h5").exists()


def test_output_that_is_a_folder(toy: Path, tmp_path: Path) -> None:
    folder = tmp_path / "a_folder"
    folder.mkdir()
    (folder / "keep.txt").write_text("kept")
    for extra in ([], ["--overwrite"]):
        res = caloforge(*_command("generate", toy, folder), "-n", "4", "-q", *extra)
        assert_refused(res, str(folder), "folder")
    assert [p.name for p in folder.iterdir()] == ["keep.txt"]


@pytest.mark.parametrize("verb", ["simulate", "generate"])
def test_unknown_particle_names_the_value(toy: Path, tmp_path: Path, verb: str) -> None:
    out = tmp_path / "x.h5"
    extra = ["--energy", "1GeV", "-n", "4"] if verb == "generate" else ["-n", "4"]
    args = [a for a in _command(verb, toy, out) if a not in ("--conditions", toy / "toy_train.h5")]
    res = caloforge(*args, *extra, "--particle", "13", "-q")
    assert_refused(res, "'13'", "PDG")
    assert not out.exists()


@pytest.mark.parametrize(
    ("value", "fragment"),
    [("fp32,fp64", "'fp64' is not one of auto, fp32, bf16"), (",", "expected one or more")],
)
def test_bench_precision_list_names_option_and_value(
    tmp_path: Path, value: str, fragment: str
) -> None:
    """A bad ``--precision`` list is refused before any model is read."""
    out = tmp_path / "b.json"
    res = caloforge("bench", "--checkpoint", tmp_path / "m.pt", "--no-geant4",
                    "--json", out, "--precision", value)
    line = assert_refused(res, f"--precision {value!r}", fragment)
    assert line == res.stderr.strip()
    assert list(tmp_path.iterdir()) == []
