"""Condition-by-condition validation on synthetic showers whose centres, axes, responses
and starts are known by construction."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from caloforge.data import Conditions, ShowerFile, write_showers
from caloforge.evaluate.conditional import (
    conditional_html,
    conditional_metrics,
    evaluate_conditional,
    summarise_conditional,
)
from caloforge.evaluate.observables import cell_geometry
from caloforge.geometry import Detector, load_detector

N_LAYERS = 6


@pytest.fixture(scope="module")
def det(tmp_path_factory: pytest.TempPathFactory) -> Detector:
    """6 readout layers, 10 mm apart, of 50 x 50 cells of 2 mm: every spot fits."""
    readout = "".join(
        f"""
[[readout]]
layers = [{i}, {i}]
segmentation = "cartesian"
nx = 50
ny = 50
cell_x = 2.0
cell_y = 2.0
"""
        for i in range(N_LAYERS)
    )
    text = f"""
name = "fine-6x50x50"
size_x = 100.0
size_y = 100.0

[[layers]]
absorber = "Pb"
absorber_thickness = 6.0
active = "LAr"
active_thickness = 4.0
repeat = {N_LAYERS}
{readout}"""
    path = tmp_path_factory.mktemp("det") / "fine.toml"
    path.write_text(text)
    return load_detector(path)


def _direction(theta: np.ndarray, phi: np.ndarray) -> np.ndarray:
    return np.stack(
        [np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)], axis=1
    )


def synthetic(
    det: Detector,
    n: int,
    *,
    seed: int,
    follow_impact: bool = True,
    follow_angle: bool = True,
    spread: bool = True,
) -> tuple[np.ndarray, Conditions]:
    """Gaussian spots (sigma 3 mm) centred on the trajectory (or not) in every layer;
    photons deposit 20 % of their energy from layer 0 on, electrons 10 % from layer 1 on."""
    rng = np.random.default_rng(seed)
    energy = np.exp(rng.uniform(np.log(1e3), np.log(1e5), n))
    particle = rng.choice([22, 11], n) if spread else np.full(n, 22)
    theta = rng.uniform(0, math.radians(20), n) if spread else np.zeros(n)
    phi = rng.uniform(-math.pi, math.pi, n)
    d = _direction(theta, phi)
    impact = np.zeros((n, 3))
    if spread:
        impact[:, :2] = rng.uniform(-10, 10, (n, 2))
    g = cell_geometry(det)
    z = g.z[det.layer_offsets[:-1]]
    showers = np.zeros((n, det.n_voxels), dtype=np.float32)
    for i in range(n):
        start = 0 if particle[i] == 22 else 1
        total = (0.2 if particle[i] == 22 else 0.1) * energy[i]
        for layer in range(start, N_LAYERS):
            centre = np.zeros(2)
            if follow_impact:
                centre += impact[i, :2]
            if follow_angle:
                centre += d[i, :2] / d[i, 2] * z[layer]
            sl = det.layer_slices[layer]
            w = np.exp(-0.5 * ((g.x[sl] - centre[0]) ** 2 + (g.y[sl] - centre[1]) ** 2) / 3.0**2)
            showers[i, sl] = total / (N_LAYERS - start) * w / w.sum()
    return showers, Conditions.create(energy, particle, d, impact)


def test_showers_that_follow_their_conditions(det: Detector) -> None:
    s, c = synthetic(det, 400, seed=1)
    m = conditional_metrics(summarise_conditional(s, c, det), {})
    assert m is not None
    assert m["spread"] == {"impact": True, "angles": True, "particles": ["e-", "gamma"]}
    ref = m["samples"]["reference"]
    for row in ref["centre_vs_impact"]:
        assert row["slope"] == pytest.approx(1.0, abs=0.02)
        assert row["rms"] < 1e-3  # mm
    assert ref["centre_vs_impact"][0]["n"] < 400  # electrons leave layer 0 empty
    theta_bins = ref["direction"]["theta"]
    assert [b["n"] for b in theta_bins] and sum(b["n"] for b in theta_bins) == 400
    for b in theta_bins:  # the transverse spread pulls the fitted axis a little outwards
        assert 0 < b["bias"] < math.radians(1.0) and b["resolution"] < math.radians(0.2)
    for b in ref["direction"]["phi"]:
        assert abs(b["bias"]) < 1e-6 and b["resolution"] < 1e-6
    gamma, electron = ref["per_particle"]["gamma"], ref["per_particle"]["e-"]
    assert gamma["response"]["mean"] == pytest.approx([0.2] * 5, rel=1e-4)
    assert electron["response"]["mean"] == pytest.approx([0.1] * 5, rel=1e-4)
    assert electron["response"]["resolution"] == pytest.approx([0.0] * 5, abs=1e-4)
    assert (gamma["start_mean"], electron["start_mean"]) == (0.0, 1.0)
    assert gamma["frac0_mean"] == pytest.approx(1 / 6) and electron["frac0_mean"] == 0.0
    # the floor: the reference's halves agree with each other
    even, odd = m["floor"]["reference_even"], m["floor"]["reference_odd"]
    assert even["n"] + odd["n"] == 400
    assert even["centre_vs_impact"][2]["slope"] == pytest.approx(
        odd["centre_vs_impact"][2]["slope"], abs=0.02
    )


def test_showers_that_ignore_position_and_angle_are_caught(det: Detector) -> None:
    s, c = synthetic(det, 300, seed=2)
    blind_s, blind_c = synthetic(det, 300, seed=2, follow_impact=False, follow_angle=False)
    m = conditional_metrics(
        summarise_conditional(s, c, det), {"blind": summarise_conditional(blind_s, blind_c, det)}
    )
    assert m is not None
    blind = m["samples"]["blind"]
    for row in blind["centre_vs_impact"]:
        assert row["slope"] == pytest.approx(0.0, abs=1e-9)  # the centre stays put
    for ref_bin, b in zip(
        m["samples"]["reference"]["direction"]["theta"], blind["direction"]["theta"], strict=True
    ):
        assert b["reco_mean"] == pytest.approx(0.0, abs=1e-6)  # every axis along z
        assert b["bias"] == pytest.approx(-b["true_mean"], abs=1e-6)
        assert abs(ref_bin["bias"]) < abs(b["bias"])


def test_only_spread_conditions_are_validated(det: Detector, tmp_path: Path) -> None:
    s, c = synthetic(det, 50, seed=3, spread=False)
    assert conditional_metrics(summarise_conditional(s, c, det), {}) is None
    flat = write_showers(tmp_path / "flat.h5", s, c, det)
    assert evaluate_conditional(ShowerFile(flat), {"x": ShowerFile(flat)}) is None
    assert conditional_html(None) == ""

    s, c = synthetic(det, 60, seed=4)
    ref = write_showers(tmp_path / "ref.h5", s, c, det)
    s2, c2 = synthetic(det, 60, seed=5, follow_impact=False)
    cand = write_showers(tmp_path / "cand.h5", s2, c2, det)
    m = evaluate_conditional(ShowerFile(ref), {"cand": ShowerFile(cand)}, chunk_size=25)
    assert m is not None and set(m["samples"]) == {"reference", "cand"}
    assert m["samples"]["reference"]["centre_vs_impact"][3]["slope"] == pytest.approx(1, abs=0.05)
    page = conditional_html(m)
    assert "Layer centre vs impact point" in page and "Principal-axis theta" in page
    assert page.count("<tr><td>layer ") == N_LAYERS and "reference_odd" in page


def test_evaluate_writes_the_section_into_metrics_and_report(det: Detector, tmp_path: Path) -> None:
    from caloforge.evaluate import ClassifierConfig, EvaluationConfig, evaluate

    s, c = synthetic(det, 80, seed=6)
    ref = write_showers(tmp_path / "ref.h5", s, c, det)
    s2, c2 = synthetic(det, 80, seed=7, follow_angle=False)
    cand = write_showers(tmp_path / "cand.h5", s2, c2, det)
    cfg = EvaluationConfig(
        classifier=ClassifierConfig(seeds=(0,), mlp_epochs=5, mlp_hidden=16, hgb_max_iter=20),
        n_bootstrap=2,
        plots=False,
    )
    m = evaluate(ref, {"flat": cand}, tmp_path / "out", config=cfg)
    section = json.loads((tmp_path / "out" / "metrics.json").read_text())["conditional"]
    assert section == m["conditional"] and set(section["samples"]) == {"reference", "flat"}
    flat = section["samples"]["flat"]["direction"]["theta"]
    assert all(b["reco_mean"] == pytest.approx(0.0, abs=1e-6) for b in flat if b["n"] >= 2)
    assert "Condition by condition" in (tmp_path / "out" / "report.html").read_text()


def test_plots_of_the_section(det: Detector, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from caloforge.evaluate.conditional import plot_conditional

    s, c = synthetic(det, 60, seed=8)
    m = conditional_metrics(summarise_conditional(s, c, det), {})
    images = plot_conditional(m, tmp_path)
    assert len(images) == 3 and all(p.stat().st_size > 1000 for p in images.values())
    assert plot_conditional(None, tmp_path) == {}


def test_each_axis_is_fitted_alone(det: Detector) -> None:
    s, c = synthetic(det, 200, seed=9)
    m = conditional_metrics(summarise_conditional(s, c, det), {})
    assert m is not None
    for row in m["samples"]["reference"]["centre_vs_impact"]:
        assert row["slope_x"] == pytest.approx(1.0, abs=0.02)
        assert row["slope_y"] == pytest.approx(1.0, abs=0.02)
        assert row["rms_x"] < 1e-3 and row["rms_y"] < 1e-3

