"""``caloforge refine``: a refined checkpoint keeps one of several candidates per
condition, moves the showers towards the training data, refuses bad input and export.

The checkpoints are tiny models trained a few steps on TOY showers (tests only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.export.test_calibrate import training_file
from tests.export.test_export import cli

from caloforge.data import ShowerFile
from caloforge.export import export
from caloforge.generate import generate
from caloforge.models.base import ExportNotSupportedError
from caloforge.refine import refine
from caloforge.train import load_checkpoint, load_model


@pytest.fixture(scope="module")
def refined(tiny_wgan: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("refined") / "refined.pt"
    result = refine(
        tiny_wgan, training_file(tiny_wgan), out, candidates=8, hidden=16, ensemble=2, seed=1
    )
    assert result.path == out and result.n_showers == 256 and result.candidates == 8
    # a model trained 6 steps is easy to tell from its data
    assert result.held_out_auc > 0.8
    return out


def test_refined_model_moves_towards_the_data(tiny_wgan: Path, refined: Path) -> None:
    ref = ShowerFile(training_file(tiny_wgan))
    data, cond = ref.showers(), ref.conditions()
    plain, _ = load_model(tiny_wgan)
    model, ckpt = load_model(refined)
    assert plain.refiner is None and model.refiner is not None
    assert ckpt["refiner"]["candidates"] == 8 and ckpt["refiner"]["source"] == str(tiny_wgan)
    assert len(model.refiner.nets) == 2
    assert ckpt["step"] == load_checkpoint(tiny_wgan)["step"]
    before = generate(plain, cond, seed=3)
    after = generate(model, cond, seed=3, batch_size=100)  # 12 conditions x 8 per pass
    assert after.shape == data.shape and np.all(after >= 0)
    np.testing.assert_array_equal(after, generate(model, cond, seed=3, batch_size=100))

    def distance(s: np.ndarray) -> float:  # energy-ratio and per-cell mean distance
        ratio = lambda x: x.sum(1) / cond.energy  # noqa: E731
        cell = lambda x: (x / cond.energy[:, None]).mean(0)  # noqa: E731
        return abs(ratio(s).mean() - ratio(data).mean()) + np.abs(cell(s) - cell(data)).sum()

    assert distance(after) < distance(before)


def test_refined_model_does_not_export(refined: Path, tmp_path: Path) -> None:
    with pytest.raises(ExportNotSupportedError, match="refined from"):
        export(refined, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_refusals(
    tiny_wgan: Path,
    refined: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = training_file(tiny_wgan)
    with pytest.raises(FileExistsError, match="--overwrite"):
        refine(tiny_wgan, data, refined)
    with pytest.raises(ValueError, match="already refined"):
        refine(refined, data, tmp_path / "twice.pt")
    with pytest.raises(ValueError, match="name of its own"):
        refine(tiny_wgan, data, tiny_wgan, overwrite=True)
    with pytest.raises(ValueError, match="fewer than the 999"):
        refine(tiny_wgan, data, tmp_path / "r.pt", n=999)
    with pytest.raises(ValueError, match="-n must be >= 200"):
        refine(tiny_wgan, data, tmp_path / "r.pt", n=20)
    with pytest.raises(ValueError, match="candidates must be >= 2"):
        refine(tiny_wgan, data, tmp_path / "r.pt", candidates=1)
    assert not (tmp_path / "r.pt").exists()
    args = ["refine", "--checkpoint", str(tiny_wgan), "-o", str(tmp_path / "r.pt"), "-q"]
    code, _, err = cli(capsys, monkeypatch, *args, "--data", str(tmp_path / "missing.h5"))
    assert code == 2 and "missing.h5" in err and "Traceback" not in err
    code, _, _ = cli(capsys, monkeypatch, *args, "--data", data, "--candidates", "2")
    assert code == 0 and (tmp_path / "r.pt").is_file()
