"""Condition-by-condition validation on synthetic showers whose centres, axes, responses
and starts are known by construction."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import numpy as np
import pytest
from tests.benchmark_scripts import run_benchmark

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
    assert m["spread"] == {
        "energy": True,
        "impact": True,
        "angles": True,
        "particles": ["e-", "gamma"],
    }
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


def test_only_varying_conditions_are_validated(det: Detector, tmp_path: Path) -> None:
    s, c = synthetic(det, 50, seed=3, spread=False)
    one = Conditions(np.full(50, 1e4), c.particle, c.direction, c.impact)  # one energy
    assert conditional_metrics(summarise_conditional(s, one, det), {}) is None
    flat = write_showers(tmp_path / "flat.h5", s, one, det)
    assert evaluate_conditional(ShowerFile(flat), {"x": ShowerFile(flat)}) is None
    assert conditional_html(None) == ""

    # only the energy varies (one particle at normal incidence, one impact point): the
    # per-particle statistics, no centre (the track does not move) and no direction
    m = conditional_metrics(summarise_conditional(s, c, det), {})
    assert m is not None
    assert m["spread"] == {"energy": True, "impact": False, "angles": False, "particles": ["gamma"]}
    for stats in (m["samples"]["reference"], *m["floor"].values()):
        assert set(stats) == {"n", "per_particle"}
    response = m["samples"]["reference"]["per_particle"]["gamma"]["response"]
    assert response["mean"] == pytest.approx([0.2] * 5, rel=1e-4)
    page = conditional_html(m)
    assert "Per particle" in page and "Layer centre" not in page and "Principal-axis" not in page
    assert "standard deviation over mean, every shower" in page  # the moments' table

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
    s, c = synthetic(det, 60, seed=8, spread=False)  # only the energy varies
    m = conditional_metrics(summarise_conditional(s, c, det), {})
    assert list(plot_conditional(m, tmp_path / "energy")) == [
        "condition by condition: response per particle"
    ]


def test_each_axis_is_fitted_alone(det: Detector) -> None:
    s, c = synthetic(det, 200, seed=9)
    m = conditional_metrics(summarise_conditional(s, c, det), {})
    assert m is not None
    for row in m["samples"]["reference"]["centre_vs_impact"]:
        assert row["slope_x"] == pytest.approx(1.0, abs=0.02)
        assert row["slope_y"] == pytest.approx(1.0, abs=0.02)
        assert row["rms_x"] < 1e-3 and row["rms_y"] < 1e-3


# ---------------------------------------------------------------------------------------
# the targets of a report (caloforge.evaluate.targets, benchmarks/condition_targets.py)
def _classifier(auc: float) -> dict[str, object]:
    return {"auc": auc, "auc_err": 0.004, "n_train_per_class": 2000, "n_test_per_class": 1000}


def _targets_report(det: Detector) -> dict[str, object]:
    """Metrics of a spread reference, a perfect candidate (the reference's own showers)
    and the same showers told impact points scaled by 0.9 (their centres move 1 / 0.9 as
    far as the impact point)."""
    from caloforge.evaluate import FLOOR

    s, c = synthetic(det, 400, seed=10)
    scaled = Conditions(c.energy, c.particle, c.direction, c.impact * 0.9)
    ref = summarise_conditional(s, c, det)
    section = conditional_metrics(
        ref, {"perfect": ref, "scaled": summarise_conditional(s, scaled, det)}
    )
    clf = {"voxel": _classifier(0.5), "high_level": _classifier(0.5)}
    comparisons = {
        FLOOR: {"classifier": clf},
        "perfect": {"classifier": clf},
        "scaled": {"classifier": {"voxel": _classifier(0.8), "high_level": _classifier(0.6)}},
    }
    return {"comparisons": comparisons, "conditional": section}


def test_targets_of_a_perfect_and_a_shifted_candidate(det: Detector) -> None:
    from caloforge.evaluate.targets import TargetError, condition_targets, report_models

    m = _targets_report(det)
    assert report_models(m) == ["perfect", "scaled"]
    perfect = condition_targets(m, "perfect")
    assert all(r.reached for r in perfect)
    assert {r.target.split(":")[0] for r in perfect} >= {
        "voxel classifier AUC ≤ 0.65",
        "layer-1 centre vs impact",
        "principal-axis theta",
    }
    wheres = [r.where for r in perfect]
    assert wheres.count("x") == wheres.count("y") == 2  # slope and RMS per axis
    assert sum(w.startswith("theta ") for w in wheres) == 2 * 4  # mean, resolution per bin
    assert sum(w.startswith(("gamma ", "e- ")) for w in wheres) == 2 * 2 * 5
    assert "2,000 train / 1,000 test" in perfect[0].note

    rows = {(r.target, r.where): r for r in condition_targets(m, "scaled")}
    slope = [r for (t, _), r in rows.items() if "slope" in t]
    assert [r.where for r in slope] == ["x", "y"]
    for r in slope:  # the centre moves 1 / 0.9 as far as the impact, 1 as the angle's part
        assert not r.reached and r.deviation is not None and 5 < r.deviation < 100 / 9
        assert r.geant4 == pytest.approx(1.0, abs=0.02) and r.floor_reached
    assert not rows["voxel classifier AUC ≤ 0.65", "all showers"].reached
    assert rows["high-level classifier AUC ≤ 0.65", "all showers"].reached
    assert all(r.reached for (t, _), r in rows.items() if "theta" in t or "response" in t)

    with pytest.raises(TargetError, match=r"no model 'nope'.*perfect, scaled"):
        condition_targets(m, "nope")
    with pytest.raises(TargetError, match=r"^conditional: "):
        condition_targets({**m, "conditional": None}, "perfect")


def _targets_script(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return run_benchmark("condition_targets.py", *args)


def test_targets_script_tables_json_and_bad_input(det: Detector, tmp_path: Path) -> None:
    report = tmp_path / "report"
    report.mkdir()
    (report / "metrics.json").write_text(json.dumps(_targets_report(det)))
    proc = _targets_script(report, "--json", tmp_path / "targets.json")
    assert proc.returncode == 0, proc.stderr
    assert "### perfect" in proc.stdout and "### scaled" in proc.stdout
    n = len(json.loads((tmp_path / "targets.json").read_text())["models"]["perfect"]["rows"])
    assert f"perfect: {n} of {n} targets reached" in proc.stdout
    slope = [ln for ln in proc.stdout.splitlines() if "slope" in ln and ln.startswith("|")]
    assert [ln.split("|")[-3].strip() for ln in slope] == ["yes", "yes", "no", "no"]
    record = json.loads((tmp_path / "targets.json").read_text())["models"]["scaled"]
    missed = {r["target"].split(":")[0] for r in record["rows"] if not r["reached"]}
    assert missed == {"voxel classifier AUC ≤ 0.65", "layer-1 centre vs impact"}

    only = _targets_script(report, "--model", "scaled")
    assert only.returncode == 0 and "### perfect" not in only.stdout

    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "metrics.json").write_text(json.dumps({"comparisons": {}, "conditional": None}))
    for args, message in (
        ((tmp_path / "empty",), "empty/metrics.json: no such file"),
        ((flat,), "flat/metrics.json: conditional: no condition-by-condition section"),
        ((report, "--model", "nope"), "report/metrics.json: conditional.samples: no model 'nope'"),
        ((report, "--json", report / "metrics.json"), "metrics.json"),
    ):
        proc = _targets_script(*args)
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


# ---------------------------------------------------------------------------------------
# the pion targets: one particle at normal incidence, only the energy varies
def _pion_report(det: Detector) -> dict[str, object]:
    """Metrics of a reference whose energy alone varies and of four candidates: its own
    showers (``perfect``), the same 3 % high (``high``: within the pion tolerance, beyond
    the EM one), layer 0 taken from other showers (``shuffled``: the layers decorrelated)
    and the last layer always empty (``empty``: its correlations undefined)."""
    from caloforge.evaluate import FLOOR
    from caloforge.evaluate.correlations import correlation_section
    from caloforge.evaluate.observables import layer_energies

    s, c = synthetic(det, 400, seed=12, spread=False)
    rng = np.random.default_rng(13)
    s *= (1 + 0.05 * rng.standard_normal(len(s)))[:, None].astype(np.float32)  # a resolution
    shuffled, empty = s.copy(), s.copy()
    first, last = det.layer_slices[0], det.layer_slices[N_LAYERS - 1]
    shuffled[:, first] = s[rng.permutation(len(s)), first]
    empty[:, last] = 0.0
    models = {"perfect": s, "high": s * 1.03, "shuffled": shuffled, "empty": empty}
    clf = {"voxel": _classifier(0.5), "high_level": _classifier(0.5)}
    comparisons = {FLOOR: {"classifier": clf}, **{k: {"classifier": clf} for k in models}}
    comparisons["high"] = {
        "classifier": {"voxel": _classifier(0.7), "high_level": _classifier(0.6)}
    }
    return {
        "comparisons": comparisons,
        "conditional": conditional_metrics(
            summarise_conditional(s, c, det),
            {k: summarise_conditional(v, c, det) for k, v in models.items()},
        ),
        "layer_correlations": correlation_section(
            layer_energies(s, det), {k: layer_energies(v, det) for k, v in models.items()}
        ),
    }


def test_pion_targets_skip_what_does_not_apply(det: Detector) -> None:
    from caloforge.evaluate.targets import TARGET_SETS, TargetError, condition_targets

    m = _pion_report(det)
    pion, em = TARGET_SETS["pion"], TARGET_SETS["em"]
    assert (pion.auc, pion.response, pion.energy_resolution, pion.correlation) == (
        0.75,
        5.0,
        15.0,
        0.05,
    )
    assert (pion.response_estimate, em.response_estimate) == ("moments", "core")
    assert em == type(em)() and em.correlation is None  # the EM default is unchanged
    perfect = condition_targets(m, "perfect", pion)
    # 2 AUCs, response and resolution in 5 energy bins, one correlation row; no centre and
    # no angle rows: the sample neither moves nor tilts its particles
    assert len(perfect) == 2 + 2 * 5 + 1 and all(r.reached for r in perfect)
    assert all(r.floor_reached for r in perfect if "resolution" not in r.target)
    assert not any("centre" in r.target or "theta" in r.target for r in perfect)
    corr = perfect[-1]
    assert corr.target == "layer-energy correlations: largest |Δρ| over layer pairs ≤ 0.05"
    assert corr.where.endswith("(worst of 15 pairs)") and corr.deviation == pytest.approx(0)
    assert corr.note.startswith("15 of 15 pairs within 0.05")
    assert len(condition_targets(m, "perfect", em)) == 2 + 2 * 5  # no correlation row
    # the pion set reads the mean and std / mean of every shower, the EM set the core fit
    gamma = m["conditional"]["samples"]["reference"]["per_particle"]["gamma"]  # type: ignore[index]
    response, resolution = perfect[2], perfect[3]
    assert response.target == "response, mean E_vis / E_inc within 5 % of Geant4"
    assert resolution.target == "relative resolution, std / mean within 15 % of Geant4"
    assert response.geant4 == gamma["moments"]["mean"][0]
    assert resolution.geant4 == gamma["moments"]["resolution"][0]
    assert condition_targets(m, "perfect", em)[2].geant4 == gamma["response"]["mean"][0]

    high = {r.target: r for r in condition_targets(m, "high", pion)}
    assert all(r.reached for r in condition_targets(m, "high", pion))
    assert high["voxel classifier AUC ≤ 0.75"].model == 0.7
    em_high = condition_targets(m, "high", em)
    assert not any(r.reached for r in em_high if "response" in r.target)
    assert not next(r for r in em_high if r.target.startswith("voxel")).reached

    shuffled = condition_targets(m, "shuffled", pion)[-1]
    assert not shuffled.reached and shuffled.floor_reached
    assert shuffled.deviation is not None and shuffled.deviation > 0.5
    assert shuffled.where.startswith("layers 0–") and shuffled.geant4 == pytest.approx(1.0)
    assert shuffled.note.startswith("10 of 15 pairs within 0.05")  # the pairs without layer 0

    empty = condition_targets(m, "empty", pion)[-1]
    assert not empty.reached and empty.deviation is None
    assert "5 pairs undefined in the model" in empty.note

    with pytest.raises(TargetError, match=r"^layer_correlations: "):
        condition_targets({**m, "layer_correlations": None}, "perfect", pion)
    del gamma["moments"]  # a report made before the moments
    with pytest.raises(TargetError, match=r"per_particle\.gamma\.moments: absent"):
        condition_targets(m, "perfect", pion)
    with pytest.raises(ValueError, match="response_estimate 'median'"):
        type(pion)(response_estimate="median")


def test_targets_script_pion_set(det: Detector, tmp_path: Path) -> None:
    from caloforge.evaluate.report import _clean

    report = tmp_path / "report"
    report.mkdir()
    (report / "metrics.json").write_text(json.dumps(_clean(_pion_report(det))))
    proc = _targets_script(report, "--targets", "pion", "--json", tmp_path / "t.json")
    assert proc.returncode == 0, proc.stderr
    corr = [ln for ln in proc.stdout.splitlines() if ln.startswith("| layer-energy")]
    assert len(corr) == 4 and corr[0].split("|")[-3].strip() == "yes"  # perfect
    assert "perfect: 13 of 13 targets reached" in proc.stdout
    record = json.loads((tmp_path / "t.json").read_text())
    assert record["targets"] == "pion" and not record["models"]["shuffled"]["rows"][-1]["reached"]
    em = _targets_script(report)
    assert em.returncode == 0 and "perfect: 12 of 12 targets reached" in em.stdout
    bad = _targets_script(report, "--targets", "hadron")
    assert bad.returncode == 2 and "invalid choice: 'hadron'" in bad.stderr
