"""``caloforge refine``: a refined checkpoint keeps one of several candidates per
condition, moves the showers towards the training data, refuses bad input and export.

The checkpoints are tiny models trained a few steps on TOY showers (tests only)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from tests.export.conftest import training_file

from caloforge.data import ShowerFile
from caloforge.deploy.export import export
from caloforge.generate import generate
from caloforge.models.base import ExportNotSupportedError
from caloforge.postprocess import refine
from caloforge.train import load_checkpoint, load_model


def test_refined_model_moves_towards_the_data(tiny_wgan: Path, refined: Path) -> None:
    ref = ShowerFile(training_file(tiny_wgan))
    data, cond = ref.showers(), ref.conditions()
    plain, _ = load_model(tiny_wgan)
    model, ckpt = load_model(refined)
    assert plain.postprocessors == [] and list(model.postprocessing) == ["refiner"]
    assert ckpt["refiner"]["candidates"] == 8 and ckpt["refiner"]["source"] == str(tiny_wgan)
    assert len(model.postprocessing["refiner"].nets) == 2
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


def test_refiner_settings_are_checked(tiny_wgan: Path, tmp_path: Path) -> None:
    data = training_file(tiny_wgan)
    with pytest.raises(ValueError, match="-n must be >= 200"):
        refine(tiny_wgan, data, tmp_path / "r.pt", n=20)
    with pytest.raises(ValueError, match="candidates must be >= 2"):
        refine(tiny_wgan, data, tmp_path / "r.pt", candidates=1)
    assert not (tmp_path / "r.pt").exists()


def test_without_the_refiner_is_the_model_it_refines(calibrated: Path, tmp_path: Path) -> None:
    """``--without refiner`` on a calibrated, refined checkpoint generates exactly what the
    calibrated checkpoint does; a post-processor that is missing, or one that the kept
    refiner was fitted after, is refused in one line (exit 2)."""
    data = training_file(calibrated)
    both = refine(calibrated, data, tmp_path / "both.pt", candidates=4, hidden=16, seed=1).path
    cond = ShowerFile(data).conditions()
    fast, _ = load_model(both, without=("refiner",))
    plain, _ = load_model(calibrated)
    assert [p.name for p in fast.postprocessors] == ["calibration"]
    np.testing.assert_array_equal(generate(fast, cond, seed=3), generate(plain, cond, seed=3))
    with pytest.raises(ValueError, match=r"no post-processor 'foo' \(it has: calibration, refiner"):
        load_model(both, without=("foo",))
    with pytest.raises(
        ValueError, match="'refiner' was fitted after 'calibration'; leave out 'refiner' too"
    ):
        load_model(both, without=("calibration",))
    assert load_model(both, without=("calibration", "refiner"))[0].postprocessors == []

    script = [str(Path(sys.executable).parent / "caloforge"), "generate", "--checkpoint", str(both)]
    args = ["--conditions", data, "-n", "40", "-q"]
    out = tmp_path / "fast.h5"
    r = subprocess.run(
        [*script, *args, "--without", "refiner", "-o", str(out)], text=True, capture_output=True
    )
    assert r.returncode == 0, r.stderr
    with h5py.File(out) as f:
        assert json.loads(f.attrs["generator"])["postprocessors"] == ["calibration"]
    r = subprocess.run(
        [*script, *args, "--without", "calibration", "-o", str(tmp_path / "x.h5")],
        text=True,
        capture_output=True,
    )
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == 2 and len(lines) == 1 and "both.pt" in lines[0], r.stderr
    assert not (tmp_path / "x.h5").exists()
