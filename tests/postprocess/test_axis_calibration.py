"""The axis-frame calibration on TOY showers with spread impact points and angles: where
the frame puts each cell, and a model with too wide showers calibrated in the frame of the
track against the energy-binned calibration (tests only; the toy is not physics)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from tests.export.conftest import tiny_checkpoint, training_file
from tests.export.test_export import cli

from caloforge.data import Conditions, ShowerFile
from caloforge.evaluate.conditional import centre_vs_impact, summarise_conditional
from caloforge.geometry import Detector
from caloforge.postprocess import GeneratedBatch
from caloforge.postprocess.axis_calibration import (
    AxisCalibration,
    AxisCalibrationSettings,
    AxisFrame,
    calibration_mode,
    track_cell_fraction,
    track_positions,
)
from caloforge.postprocess.calibration import QuantileCalibration
from caloforge.testing import toy_detector, toy_showers
from caloforge.train import load_model

SPREAD = {"impact_spread": 15.0, "theta_max": 20.0}
WIDE = {"spot_scale": 1.6}  # the "model": showers 1.6 times too wide
N = 3000


@pytest.fixture(scope="module")
def det(tmp_path_factory: pytest.TempPathFactory) -> Detector:
    return toy_detector(tmp_path_factory.mktemp("det"))


def test_frame_centre_is_the_cell_the_track_crosses(det: Detector) -> None:
    frame = AxisFrame.of(det)
    assert frame.size == 3 * 7 * 7  # three 4 x 4 layers: 7 x 7 positions around the track
    impact = np.array([[-15.0, 5.0, 0.0], [12.0, -3.0, 0.0]])
    cond = Conditions.create([1e4, 1e4], "gamma", (0.0, 0.0, 1.0), impact)
    positions, klass = frame.positions(cond, offset_bins=2)
    for layer, sl in enumerate(det.layer_slices):
        centre = frame.base[sl][0] + 3 * 7 + 3  # (0, 0) relative to the track
        crossed = det.voxel_index(det.readout[layer].first, impact[:, 0], impact[:, 1])
        assert (positions[np.arange(2), crossed] == centre).all()
        # each cell keeps its own position, and moving the track moves all of them
        assert len(np.unique(positions[0, sl])) == det.readout[layer].segmentation.n_cells
        assert (positions[0, sl] != positions[1, sl]).any()
    # -15 mm is 0.5 cells into its cell (offset bin 1), 5 mm also; 12 -> 0.2, -3 -> 0.7
    assert klass[0, 0] == 1 * 2 + 1 and klass[1, 0] == 0 * 2 + 1


def test_track_follows_the_angle(det: Detector) -> None:
    theta, phi = np.radians(20.0), np.radians(30.0)
    d = (np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta))
    cond = Conditions.create([1e4], "gamma", d, (1.0, 2.0, 0.0))
    track = track_positions(cond, np.array([0.0, 100.0]))
    np.testing.assert_allclose(track[0, 0], [1.0, 2.0])
    shift = 100.0 * np.tan(theta) * np.array([np.cos(phi), np.sin(phi)])
    np.testing.assert_allclose(track[0, 1], np.array([1.0, 2.0]) + shift)


def test_auto_mode_follows_the_spread(det: Detector) -> None:
    _, fixed = toy_showers(det, 50, seed=0)
    _, spread = toy_showers(det, 50, seed=0, impact_spread=5.0)
    _, tilted = toy_showers(det, 50, seed=0, theta_max=10.0)
    assert calibration_mode(fixed, det) == "energy"
    assert calibration_mode(spread, det) == "axis"
    assert calibration_mode(tilted, det) == "axis"


def test_settings_name_the_bad_key() -> None:
    with pytest.raises(ValueError, match="offset_bins must be >= 1, got 0"):
        AxisCalibrationSettings(offset_bins=0)


def test_axis_frame_fixes_what_energy_bins_cannot(det: Detector) -> None:
    train, cond = toy_showers(det, N, seed=1, **SPREAD)
    model_train, _ = toy_showers(det, N, seed=1, **SPREAD, **WIDE)
    ref, cond_t = toy_showers(det, N, seed=2, **SPREAD)
    model, _ = toy_showers(det, N, seed=2, **SPREAD, **WIDE)
    energy = QuantileCalibration(det.n_voxels, 4, 65, 256)
    energy.fit(model_train, cond.energy, train, cond.energy)
    axis = AxisCalibration(
        det.n_voxels, AxisFrame.of(det).size, 4, 2, 65, 256, layer_of_voxel=det.voxel_layer
    )
    assert axis.fit(model_train, train, cond, det) > 0
    batch = GeneratedBatch(
        torch.as_tensor(cond_t.energy, dtype=torch.float32),
        cond_t,
        det,
        torch.Generator().manual_seed(0),
    )
    x = torch.from_numpy(model)
    by_energy = energy.process(x, batch).numpy()
    by_axis = axis.process(x, batch).numpy()
    assert (by_axis >= 0).all() and np.isfinite(by_axis).all()

    # the share of the layer in the cell on the track: the energy-binned tables (pooled
    # over impact points) leave most of the model's error, the axis frame removes it
    core = {k: track_cell_fraction(s, cond_t, det) for k, s in [("ref", ref), ("model", model)]}
    core_energy, core_axis = (
        track_cell_fraction(by_energy, cond_t, det),
        track_cell_fraction(by_axis, cond_t, det),
    )
    assert (np.abs(core["model"] / core["ref"] - 1) > 0.3).all()
    assert (np.abs(core_energy / core["ref"] - 1) > 0.15).all()
    assert (np.abs(core_axis / core["ref"] - 1) < 0.05).all()

    # the layer centres against the track: slope and residual RMS closer to the reference
    def rows(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r = centre_vs_impact(summarise_conditional(s, cond_t, det))
        return np.array([row["slope"] for row in r]), np.array([row["rms"] for row in r])

    slope_ref, rms_ref = rows(ref)
    slope_e, rms_e = rows(by_energy)
    slope_a, rms_a = rows(by_axis)
    assert (np.abs(slope_a - slope_ref) < np.abs(slope_e - slope_ref)).all()
    assert (np.abs(rms_a - rms_ref) < 0.5 * np.abs(rms_e - rms_ref)).all()


def test_sparse_groups_pass_through(det: Detector) -> None:
    showers, cond = toy_showers(det, 400, seed=3, **SPREAD)
    axis = AxisCalibration(
        det.n_voxels, AxisFrame.of(det).size, 1, 1, 5, 8, layer_of_voxel=det.voxel_layer
    )
    assert axis.fit(showers * 2, showers, cond, det, min_samples=10**6) == 0
    batch = GeneratedBatch(
        torch.as_tensor(cond.energy, dtype=torch.float32), cond, det, torch.Generator()
    )
    x = torch.from_numpy(showers)
    torch.testing.assert_close(axis.process(x, batch), x)


def test_calibrate_cli_modes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    torch.set_num_threads(1)
    ckpt = tiny_checkpoint("wgan-gp", tmp_path)  # trained on impact points spread +-5 mm
    data = training_file(ckpt)
    base = ("calibrate", "--checkpoint", str(ckpt), "--data", data, "--quiet")
    code, _, err = cli(capsys, monkeypatch, *base, "-o", str(tmp_path / "x.pt"), "--mode", "tilt")
    assert (
        code == 2 and err.strip() == "error: --mode must be one of auto, energy, axis, got 'tilt'"
    )
    axis_out = tmp_path / "axis.pt"
    extra = ("--bins", "1", "--levels", "9", "--grid", "16")
    code, _, err = cli(capsys, monkeypatch, *base, *extra, "-o", str(axis_out), "--mode", "auto")
    assert code == 0, err
    model, stored = load_model(axis_out)
    assert list(model.postprocessing) == ["axis_calibration"]
    record = stored["axis_calibration"]
    assert record["kind"] == "axis-quantile" and record["bins"] == 1
    assert 0 < record["groups_calibrated"] <= record["groups"] == 4 * 3 * 49
    out = model.sample(ShowerFile(data).conditions(0, 40), torch.Generator())
    assert out.shape == (40, model.n_voxels) and np.isfinite(out).all() and (out >= 0).all()
    again = ("calibrate", "--checkpoint", str(axis_out), "--data", data, "--mode", "energy")
    code, _, err = cli(capsys, monkeypatch, *again, "-o", str(tmp_path / "again.pt"))
    assert (
        code == 2
        and err.strip()
        == f"error: {axis_out}: is already calibrated; use the checkpoint it came from"
    )
    export = ("export", "--checkpoint", str(axis_out), "-o", str(tmp_path / "m.onnx"))
    code, _, err = cli(capsys, monkeypatch, *export)
    assert code == 2 and err.strip() == f"error: {AxisCalibration.export_note}"


def test_keep_layers_keeps_the_model_layer_energies(det: Detector) -> None:
    train, cond = toy_showers(det, 600, seed=4, **SPREAD)
    wide, _ = toy_showers(det, 600, seed=4, **SPREAD, **WIDE)
    axis = AxisCalibration(
        det.n_voxels,
        AxisFrame.of(det).size,
        2,
        2,
        17,
        64,
        layer_of_voxel=det.voxel_layer,
        keep_layers=True,
    )
    assert axis.fit(wide, train, cond, det, min_samples=5) > 0
    batch = GeneratedBatch(
        torch.as_tensor(cond.energy, dtype=torch.float32), cond, det, torch.Generator()
    )
    out = axis.process(torch.from_numpy(wide), batch).numpy()
    assert not np.allclose(out, wide)
    for sl in det.layer_slices:
        np.testing.assert_allclose(out[:, sl].sum(1), wide[:, sl].sum(1), rtol=1e-4)


def test_energy_mode_on_spread_conditions_points_to_the_axis_mode(
    det: Detector, caplog: pytest.LogCaptureFixture
) -> None:
    from caloforge.postprocess import FitSamples
    from caloforge.postprocess.calibration import CalibrationSettings

    class Model:  # what QuantileCalibration.fit_to reads of a model
        n_voxels, detector = det.n_voxels, det

    settings = CalibrationSettings(bins=1, levels=9, grid=16)
    for spread, warned in (({}, False), (SPREAD, True)):
        showers, cond = toy_showers(det, 100, seed=5, **spread)
        caplog.clear()
        QuantileCalibration.fit_to(Model(), FitSamples(showers, showers, cond), settings)  # type: ignore[arg-type]
        assert any("--mode axis" in r.getMessage() for r in caplog.records) is warned
