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


def test_clustered_calibration_generates_and_exports(tiny_wgan: Path, tmp_path: Path) -> None:
    """``--cluster-hits``: the rank field is fitted (a mixing per layer, recorded), the model
    keeps the training hit fractions and exports with one normal number per voxel, as without
    the field; the axis mode refuses it in one line (exit 2)."""
    import subprocess
    import sys

    data = training_file(tiny_wgan)
    out = tmp_path / "c.pt"
    result = calibrate(tiny_wgan, data, out, bins=2, levels=65, seed=1, cluster_hits=True)
    field = result.record["rank_field"]
    n_layers = load_model(tiny_wgan)[0].detector.n_layers
    assert len(field["mixing"]) == len(field["adjacency_data"]) == n_layers
    model, ckpt = load_model(out)
    assert ckpt["calibration"]["cluster_hits"] is True
    ref = ShowerFile(data)
    shown = generate(model, ref.conditions(), seed=3)
    hit_data = (ref.showers() > 0).mean(0)
    assert np.abs((shown > 0).mean(0) - hit_data).mean() < 0.05
    exported = export(out, tmp_path / "m.onnx", n_parity=64)
    assert exported.max_rel_diff < 1e-4
    meta = OnnxGenerator(exported.path, threads=1).metadata
    assert model.noise_shape is not None
    assert meta.noise_shape == (int(np.prod(model.noise_shape)) + model.n_voxels + 1,)

    script = [str(Path(sys.executable).parent / "caloforge"), "calibrate", "-q"]
    args = ["--checkpoint", str(tiny_wgan), "--data", data, "-o", str(tmp_path / "a.pt")]
    fitted = ["--cluster-hits", "--bins", "2", "--levels", "65"]
    done = subprocess.run(
        [*script[:2], *args, *fitted],
        text=True,
        capture_output=True,
    )
    assert done.returncode == 0, done.stderr
    assert "rank field fitted on 256 showers: mixing per layer" in " ".join(done.stdout.split())
    r = subprocess.run(
        [*script, *args[:-1], str(tmp_path / "b.pt"), "--mode", "axis", "--cluster-hits"],
        text=True,
        capture_output=True,
    )
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == 2 and len(lines) == 1 and "--cluster-hits" in lines[0], r.stderr
    assert not (tmp_path / "b.pt").exists()


def test_too_few_showers_per_energy_bin(tiny_wgan: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="energy bin"):
        calibrate(tiny_wgan, training_file(tiny_wgan), tmp_path / "c.pt", bins=40)
    assert not (tmp_path / "c.pt").exists()
