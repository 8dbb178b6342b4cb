"""Pretrained models: a tiny recipe run packaged as a model (``ship_model`` and
``benchmarks/pretrained_model.sh``), found through ``CALOFORGE_PRETRAINED_PATH``, listed,
and generating through ``caloforge generate --model`` and the Python API; and every model
shipped in the package loads and generates."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from tests.cli.conftest import assert_refused, caloforge
from tests.export.conftest import FAST, TINY

import caloforge as cf
from caloforge.data import ShowerFile, write_showers
from caloforge.generate import generate
from caloforge.pretrained import (
    PRETRAINED_PATH_ENV,
    PretrainedError,
    pretrained_model,
    pretrained_models,
    resolve_checkpoint,
    shipped_folder,
)
from caloforge.pretrained.packaging import ship_model
from caloforge.recipes import parse_recipe, run_recipe
from caloforge.testing import toy_detector, toy_showers
from caloforge.train.checkpoint import load_checkpoint

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "pretrained_model.sh"


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished recipe run (run seed 7) on TOY showers: a tiny wgan-gp with EMA weights
    (``model``), calibrated (``cal``)."""
    folder = tmp_path_factory.mktemp("run")
    det = toy_detector(folder)
    files = {}
    for split, n, seed in (("train", 256, 1), ("val", 64, 2)):
        s, c = toy_showers(det, n, seed=seed, impact_spread=5.0)
        files[split] = write_showers(folder / f"{split}.h5", s, c, det)
    overrides = [*TINY["wgan-gp"], *FAST, "train.ema_decay=0.9"]
    config = ", ".join(f'"{k}" = "{v}"' for k, _, v in (o.partition("=") for o in overrides))
    text = (
        f'name = "toy"\ndescription = "toy photons"\ndetector = "{folder / "toy-3x4x4.toml"}"\n'
        f'[data]\ntrain = "{files["train"]}"\nval = "{files["val"]}"\n'
        f'[[stages]]\nname = "model"\nkind = "train"\nfamily = "wgan-gp"\nthreads = 1\n'
        f"config = {{ {config} }}\n"
        '[[stages]]\nname = "cal"\nkind = "calibrate"\nfrom = "model"\nbins = 2\n'
    )
    recipe_file = folder / "toy.toml"
    recipe_file.write_text(text)
    out = folder / "out"
    run_recipe(parse_recipe(text, recipe_file), out, seed=7)
    return out


@pytest.fixture(scope="module")
def models(run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of pretrained models holding ``tiny``, the calibrated stage of ``run``."""
    folder = tmp_path_factory.mktemp("models")
    ship_model(run, "cal", "tiny", folder=folder, command="ship tiny")
    return folder


@pytest.fixture
def on_path(models: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(PRETRAINED_PATH_ENV, str(models))
    return models


def test_packaged_model_is_the_stage_for_inference(run: Path, models: Path) -> None:
    folder = models / "tiny"
    assert sorted(p.name for p in folder.iterdir()) == [
        "MODEL_CARD.md", "manifest.json", "model.pt"
    ]
    shipped, source = load_checkpoint(folder / "model.pt"), load_checkpoint(run / "cal.pt")
    assert "trainer" not in shipped and shipped["ema"] is None and source["ema"]
    assert (folder / "model.pt").stat().st_size < (run / "cal.pt").stat().st_size
    cond = ShowerFile(run.parent / "val.h5").conditions()
    a, b = (cf.load_model(c)[0] for c in (folder / "model.pt", run / "cal.pt"))
    # the same showers: the EMA weights, calibration included
    np.testing.assert_array_equal(generate(a, cond, seed=3), generate(b, cond, seed=3))

    record = json.loads((folder / "manifest.json").read_text())["pretrained"]
    # the machine's own paths are left out: the run folder is RUN, files go by their names
    recipe = "caloforge recipe run toy.toml --out RUN --seed 7"
    assert record["recipe_command"] == recipe and record["command"] == "ship tiny"
    assert record["stage"] == "cal" and record["family"] == "wgan-gp" and record["ema"]
    assert record["detector"] == "toy-3x4x4" and record["conditions"]["particles"] == [22]
    card = (folder / "MODEL_CARD.md").read_text()
    assert card.startswith("# ") and "## Pretrained model" in card
    assert "its EMA weights as its weights" in card
    assert recipe in card and "ship tiny" in card
    for text in (card, (folder / "manifest.json").read_text()):
        assert str(run.parent) not in text


def test_ship_refusals(run: Path, tmp_path: Path) -> None:
    with pytest.raises(PretrainedError, match=r"more than the 0.001 MB"):
        ship_model(run, "cal", "big", folder=tmp_path, max_mb=0.001)
    assert not (tmp_path / "big").exists()
    ship_model(run, "model", "m", folder=tmp_path)
    with pytest.raises(FileExistsError, match="OVERWRITE=1"):
        ship_model(run, "cal", "m", folder=tmp_path)
    ship_model(run, "cal", "m", folder=tmp_path, overwrite=True)
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert manifest["pretrained"]["stage"] == "cal"
    with pytest.raises(ValueError, match=r"no stage 'nope' \(stages: model, cal\)"):
        ship_model(run, "nope", "x", folder=tmp_path)
    with pytest.raises(PretrainedError, match="model name 'Bad Name'"):
        ship_model(run, "cal", "Bad Name", folder=tmp_path)


def test_script_ships_and_refuses_to_overwrite(run: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHON": sys.executable, "DEST": str(tmp_path)}

    def script(*args: str | Path, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(SCRIPT), *map(str, args)],
            capture_output=True, text=True, timeout=300, env={**env, **extra},
        )

    assert script().returncode == 2
    done = script(run, "cal", "tiny")
    assert done.returncode == 0, done.stderr
    record = json.loads((tmp_path / "tiny" / "manifest.json").read_text())["pretrained"]
    assert record["command"] == "benchmarks/pretrained_model.sh RUN cal tiny"
    refused = script(run, "cal", "tiny")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert refused.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'tiny'}: a model of that name exists; overwrite=True "
        "(OVERWRITE=1) replaces it"
    ]
    assert script(run, "cal", "tiny", OVERWRITE="1").returncode == 0


def test_registry_and_python_api(on_path: Path, tmp_path: Path) -> None:
    (found,) = [m for m in cf.pretrained_models() if m.name == "tiny"]
    assert found.folder == on_path / "tiny" and found.detector == "toy-3x4x4"
    assert found.description == "toy photons" and found.card.is_file() and found.size_mb > 0
    assert resolve_checkpoint("tiny") == on_path / "tiny" / "model.pt"
    assert resolve_checkpoint(Path("tiny")) == Path("tiny")  # a Path is always a file
    with pytest.raises(PretrainedError, match=r"unknown pretrained model 'nope' \(known: .*tiny"):
        pretrained_model("nope")
    with pytest.raises(PretrainedError, match="'nope'"):
        cf.load_model("nope")
    model, _ = cf.load_model("tiny")
    assert model.name == "wgan-gp"
    path = cf.generate_file("tiny", tmp_path / "g.h5", energy="10GeV", n=5, seed=1)
    generator = json.loads(ShowerFile(path).attrs["generator"])
    assert generator["checkpoint"] == "tiny" and len(ShowerFile(path)) == 5


def test_cli_list_show_and_generate(
    on_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    listed = caloforge("pretrained", "list")
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if "tiny" in line)
    assert "toy-3x4x4" in row and "gamma" in row
    assert str(on_path / "tiny" / "MODEL_CARD.md") in row
    shown = caloforge("pretrained", "show", "tiny")
    assert shown.returncode == 0 and "## Pretrained model" in shown.stdout

    out = tmp_path / "g.h5"
    made = caloforge("generate", "--model", "tiny", "-e", "loguniform:1GeV,10GeV", "-n", 40,
                     "-o", out, "--quiet")
    assert made.returncode == 0, made.stderr
    f = ShowerFile(out)
    showers = f.showers()
    assert showers.shape == (40, f.detector.n_voxels) and f.detector.name == "toy-3x4x4"
    assert np.isfinite(showers).all() and (showers >= 0).all() and showers.sum() > 0

    line = assert_refused(caloforge("generate", "--model", "nope", "-e", "1GeV", "-n", 1,
                                    "-o", tmp_path / "x.h5"), "'nope'", "tiny")
    assert line.startswith("error: unknown pretrained model")
    both = ("--model", "tiny", "--checkpoint", on_path / "tiny" / "model.pt")
    for given in (both, ()):
        refused = caloforge("generate", *given, "-e", "1GeV", "-n", 1, "-o", tmp_path / "y.h5")
        assert_refused(refused, "exactly one of --checkpoint and --model")
    assert not (tmp_path / "x.h5").exists() and not (tmp_path / "y.h5").exists()
    assert_refused(caloforge("pretrained", "show", "nope"), "'nope'")


def test_empty_list_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert pretrained_models([tmp_path]) == []
    with pytest.raises(PretrainedError, match=r"known: none yet"):
        pretrained_model("x", [tmp_path])


SHIPPED = sorted(
    p.name for p in shipped_folder().iterdir() if p.is_dir() and not p.name.startswith(("_", "."))
)


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_model_loads_and_generates(name: str) -> None:
    (model_info,) = [m for m in pretrained_models([shipped_folder()]) if m.name == name]
    assert model_info.card.is_file() and model_info.manifest.is_file()
    assert model_info.size_mb <= 25
    model, ckpt = cf.load_model(model_info.checkpoint)
    lo, hi = ckpt["conditions"]["energy"]
    particle = int(ckpt["conditions"]["particles"][0])
    cond = cf.energy_conditions(
        f"loguniform:{lo}MeV,{hi}MeV", 10, model.detector, seed=1, particle=particle
    )
    showers = generate(model, cond, seed=1)
    assert showers.shape == (10, model.detector.n_voxels)
    assert np.isfinite(showers).all() and (showers >= 0).all() and showers.sum() > 0
