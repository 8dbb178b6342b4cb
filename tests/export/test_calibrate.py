"""``caloforge calibrate``: a calibrated checkpoint generates, exports and refuses bad input.

The checkpoints are tiny models trained a few steps on TOY showers (tests only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.export.conftest import training_file

from caloforge.data import ShowerFile
from caloforge.deploy.export import export
from caloforge.deploy.runtime import OnnxGenerator
from caloforge.generate import generate
from caloforge.postprocess import calibrate
from caloforge.train import load_checkpoint, load_model


def test_calibrated_model_has_the_training_hit_fractions(tiny_wgan: Path, calibrated: Path) -> None:
    ref = ShowerFile(training_file(tiny_wgan))
    data, cond = ref.showers(), ref.conditions()
    plain, _ = load_model(tiny_wgan)
    model, ckpt = load_model(calibrated)
    assert plain.postprocessors == [] and list(model.postprocessing) == ["calibration"]
    assert ckpt["calibration"]["showers"] == 256
    assert ckpt["step"] == load_checkpoint(tiny_wgan)["step"]
    before = generate(plain, cond, seed=3)
    after = generate(model, cond, seed=3)
    assert after.shape == data.shape and np.all(after >= 0)
    hit_data = (data > 0).mean(0)
    err_before = np.abs((before > 0).mean(0) - hit_data).mean()
    err_after = np.abs((after > 0).mean(0) - hit_data).mean()
    assert err_after < 0.05 and err_after < err_before
    # the mean deposit of each voxel follows the data too
    rel = lambda s: (s / cond.energy[:, None]).mean(0)  # noqa: E731
    assert np.abs(rel(after) - rel(data)).sum() < np.abs(rel(before) - rel(data)).sum()


def test_calibrated_model_exports_with_its_ranks(calibrated: Path, tmp_path: Path) -> None:
    result = export(calibrated, tmp_path / "m.onnx", n_parity=64)
    assert result.max_rel_diff < 1e-4  # float32 round-off only
    model, _ = load_model(calibrated)
    meta = OnnxGenerator(result.path, threads=1).metadata
    assert model.noise_shape is not None
    assert meta.noise_shape == (int(np.prod(model.noise_shape)) + model.n_voxels + 1,)


def test_too_few_showers_per_energy_bin(tiny_wgan: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="energy bin"):
        calibrate(tiny_wgan, training_file(tiny_wgan), tmp_path / "c.pt", bins=40)
    assert not (tmp_path / "c.pt").exists()
