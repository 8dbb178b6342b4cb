"""Bad input gets one clear line: unknown family, corrupt checkpoint, detector mismatch, CLI."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from caloforge.data import ShowerFile, write_showers
from caloforge.generate import generate_file
from caloforge.models import UnknownFamilyError, get_family
from caloforge.testing import TOY_DETECTOR_TOML, toy_detector, toy_showers
from caloforge.train import (
    CheckpointError,
    DetectorMismatchError,
    load_checkpoint,
    load_model,
    train,
)


@pytest.fixture(scope="module")
def library_run(toy_files: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train("library", toy_files[0], out=tmp_path_factory.mktemp("lib") / "run").checkpoint


def test_unknown_family(toy_files: tuple[Path, Path], tmp_path: Path) -> None:
    with pytest.raises(UnknownFamilyError, match="unknown model family 'nope'; known: wgan-gp"):
        get_family("nope")
    with pytest.raises(KeyError):
        train("nope", toy_files[0], out=tmp_path)


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"PK\x03\x04garbage"])
def test_corrupt_checkpoint(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "m.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_other_torch_files_and_truncation(tmp_path: Path, library_run: Path) -> None:
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(CheckpointError, match="not a caloforge checkpoint"):
        load_model(other)
    truncated = tmp_path / "trunc.pt"
    truncated.write_bytes(library_run.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="not a readable caloforge checkpoint"):
        load_checkpoint(truncated)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")


def test_detector_mismatch(tmp_path: Path, library_run: Path, toy_files: tuple[Path, Path]) -> None:
    other = tmp_path / "other.toml"
    other.write_text(
        TOY_DETECTOR_TOML.replace("nx = 4", "nx = 2").replace('"toy-3x4x4"', '"toy-other"')
    )
    from caloforge.geometry import load_detector

    det = load_detector(other)
    s = np.ones((5, det.n_voxels), dtype=np.float32)
    _, c = toy_showers(toy_detector(tmp_path), 5)
    data = write_showers(tmp_path / "other.h5", s, c, det)
    with pytest.raises(
        DetectorMismatchError, match=r"trained for detector 'toy-3x4x4'.*'toy-other'"
    ):
        generate_file(library_run, tmp_path / "gen.h5", conditions_from=data)
    assert not (tmp_path / "gen.h5").exists()
    # same name, different description
    changed = tmp_path / "changed.toml"
    changed.write_text(
        TOY_DETECTOR_TOML.replace("active_thickness = 4.0", "active_thickness = 5.0")
    )
    det2 = load_detector(changed)
    s2, c2 = toy_showers(det2, 5)
    data2 = write_showers(tmp_path / "changed.h5", s2, c2, det2)
    with pytest.raises(DetectorMismatchError, match="different description"):
        generate_file(library_run, tmp_path / "gen.h5", conditions_from=data2)
    # the same detector naming a scoring mode (data simulated per step): the same detector
    steps = tmp_path / "steps.toml"
    steps.write_text(TOY_DETECTOR_TOML + '\n[physics]\nscoring = "steps"\n')
    det3 = load_detector(steps)
    assert det3.physics.scoring == "steps"
    data3 = write_showers(tmp_path / "steps.h5", *toy_showers(det3, 5), det3)
    generate_file(library_run, tmp_path / "gen.h5", conditions_from=data3)
    assert ShowerFile(tmp_path / "gen.h5").detector.n_voxels == det3.n_voxels
    # resuming on data of another detector
    with pytest.raises((DetectorMismatchError, ValueError)):
        train("library", data, out=library_run.parent, resume=True)


def test_generate_arguments(
    library_run: Path, tmp_path: Path, toy_files: tuple[Path, Path]
) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        generate_file(library_run, tmp_path / "g.h5", n=3)
    with pytest.raises(ValueError, match="-n N"):
        generate_file(library_run, tmp_path / "g.h5", energy="10GeV")
    with pytest.raises(ValueError, match="'10 apples'"):
        generate_file(library_run, tmp_path / "g.h5", n=3, energy="10 apples")
    with pytest.raises(ValueError, match="fewer than the 100000 requested"):
        generate_file(library_run, tmp_path / "g.h5", n=100_000, conditions_from=toy_files[1])


def _cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    from caloforge.cli import main

    monkeypatch.setattr(sys, "argv", ["caloforge", *map(str, args)])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_train_generate_models(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    toy_files: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    code, out, _ = _cli(monkeypatch, capsys, "models")
    assert code == 0 and all(name in out for name in ("wgan-gp", "vae", "library"))
    code, _, err = _cli(
        monkeypatch, capsys, "train", "--model", "nope", "--data", toy_files[0], "--out", tmp_path
    )
    assert code == 2 and err.count("\n") == 1 and "unknown model family 'nope'" in err
    code, _, err = _cli(
        monkeypatch,
        capsys,
        "train",
        "--model",
        "vae",
        "--data",
        toy_files[0],
        "--out",
        tmp_path / "r",
        "latent_dimm=3",
    )
    assert code == 2 and "unknown config key 'latent_dimm'" in err and err.count("\n") == 1
    code, _, err = _cli(
        monkeypatch,
        capsys,
        "train",
        "--model",
        "vae",
        "--data",
        toy_files[0],
        "--out",
        tmp_path / "r",
        "latent_dim=three",
    )
    assert code == 2 and "model.latent_dim" in err and "'three'" in err
    code, out, err = _cli(
        monkeypatch,
        capsys,
        "train",
        "--model",
        "vae",
        "--data",
        toy_files[0],
        "--out",
        tmp_path / "r",
        "--steps",
        "3",
        "--threads",
        "1",
        "--quiet",
        "encoder_hidden=16",
        "decoder_hidden=16",
        "postprocessor=false",
    )
    assert code == 0, err
    ckpt = tmp_path / "r" / "checkpoint.pt"
    assert ckpt.exists()
    code, out, err = _cli(
        monkeypatch,
        capsys,
        "generate",
        "--checkpoint",
        ckpt,
        "--energy",
        "loguniform:1GeV,100GeV",
        "-n",
        "7",
        "-o",
        tmp_path / "g.h5",
        "--seed",
        "2",
    )
    assert code == 0, err
    from caloforge.data import read_showers

    showers, cond, _ = read_showers(tmp_path / "g.h5")
    assert showers.shape[0] == 7 and cond.energy.min() >= 1e3 and cond.energy.max() <= 1e5
    bad = tmp_path / "bad.pt"
    bad.write_text("junk")
    code, _, err = _cli(
        monkeypatch,
        capsys,
        "generate",
        "--checkpoint",
        bad,
        "--energy",
        "10GeV",
        "-n",
        "2",
        "-o",
        tmp_path / "g2.h5",
    )
    assert code == 2 and "not a readable caloforge checkpoint" in err and err.count("\n") == 1


def test_reduced_precision_of_a_family_without_networks_is_refused(
    library_run: Path, toy_files: tuple[Path, Path], tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="'library' generates in fp32 only"):
        generate_file(
            library_run, tmp_path / "g.h5", conditions_from=toy_files[1], precision="bf16"
        )
    assert not (tmp_path / "g.h5").exists()
