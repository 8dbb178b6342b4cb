"""The classifier two-sample test: ~0.5 for one distribution, clearly above for a distortion."""

from __future__ import annotations

import numpy as np
import pytest

from caloforge.evaluate.classifier import (
    ClassifierConfig,
    SplitSizes,
    challenge_classifier,
    high_level_inputs,
    jsd_estimate,
    split_sizes,
    two_sample_test,
    voxel_inputs,
)
from caloforge.evaluate.observables import high_level_observables

FAST = ClassifierConfig(seeds=(0, 1), mlp_epochs=25, mlp_hidden=64, hgb_max_iter=100)
ONE_SEED = ClassifierConfig(seeds=(0,), mlp_epochs=25, mlp_hidden=64, hgb_max_iter=100)


def _inputs(det, s, c, kind):  # type: ignore[no-untyped-def]
    if kind == "voxel":
        return voxel_inputs(s, c)
    return high_level_inputs(high_level_observables(s, c.energy, det), c)


def test_jsd_estimate_limits() -> None:
    y = np.array([0, 1] * 50)
    assert jsd_estimate(np.full(100, 0.5), y) == pytest.approx(0.0)
    assert jsd_estimate(y.astype(float), y) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("kind", ["voxel", "high_level"])
def test_same_distribution_gives_half(toy_showers, atlas, kind) -> None:  # type: ignore[no-untyped-def]
    s1, c1 = toy_showers(atlas, 600, 1)
    s2, c2 = toy_showers(atlas, 600, 2, energy=c1.energy)
    r = two_sample_test(_inputs(atlas, s1, c1, kind), _inputs(atlas, s2, c2, kind), FAST)
    assert abs(r["auc"] - 0.5) < max(3 * r["auc_err"], 0.04)
    assert r["jsd"] < 0.05
    assert r["n_per_class"] == 600 and not r["subsampled"]
    assert set(r["classifiers"]) == {"mlp", "hgb"} and r["headline"] in ("mlp", "hgb")
    assert sum(r["splits"].values()) == 1200


@pytest.mark.parametrize(
    ("knob", "kind"),
    [({"scale": 1.05}, "high_level"), ({"width": 1.3}, "high_level"), ({"noise": 0.05}, "voxel")],
)
def test_distortions_are_flagged(toy_showers, atlas, knob, kind) -> None:  # type: ignore[no-untyped-def]
    s1, c1 = toy_showers(atlas, 600, 1)
    s2, c2 = toy_showers(atlas, 600, 2, energy=c1.energy, **knob)
    r = two_sample_test(_inputs(atlas, s1, c1, kind), _inputs(atlas, s2, c2, kind), ONE_SEED)
    assert r["auc"] > 0.6
    assert r["auc"] - 0.5 > 3 * r["auc_err"]


def test_conditions_are_features(toy_showers, atlas) -> None:  # type: ignore[no-untyped-def]
    """A generator that ignores its conditioning (showers of other energies) is caught."""
    s1, c1 = toy_showers(atlas, 600, 1)
    s2, _ = toy_showers(atlas, 600, 2)  # its own energies: the showers do not match c1
    r = two_sample_test(
        _inputs(atlas, s1, c1, "high_level"), _inputs(atlas, s2, c1, "high_level"), ONE_SEED
    )
    assert r["auc"] > 0.75


def test_subsampling_is_reported_and_bad_input_refused() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(300, 4)), rng.normal(size=(200, 4))
    r = two_sample_test(a, b, ClassifierConfig(seeds=(0,), max_per_class=100, classifiers=("hgb",)))
    assert r["subsampled"] and r["n_per_class"] == 100 and r["n_available"] == [300, 200]
    with pytest.raises(ValueError, match="do not match"):
        two_sample_test(a, b[:, :3])
    b[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        two_sample_test(a, b)
    with pytest.raises(ValueError, match="classifiers"):
        ClassifierConfig(classifiers=("svm",))


def test_clearly_different_samples_give_near_one(toy_showers, atlas) -> None:  # type: ignore[no-untyped-def]
    s1, c1 = toy_showers(atlas, 600, 1)
    s2, c2 = toy_showers(atlas, 600, 2, energy=c1.energy, scale=1.3)
    r = two_sample_test(
        _inputs(atlas, s1, c1, "high_level"), _inputs(atlas, s2, c2, "high_level"), ONE_SEED
    )
    assert r["auc"] > 0.95
    assert r["auc_err"] < 0.05


def test_sizes_are_recorded_and_a_small_file_is_warned(caplog) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(700, 4)), rng.normal(size=(600, 4))
    cfg = ClassifierConfig(seeds=(0, 1, 2), classifiers=("hgb",), hgb_max_iter=20)
    with caplog.at_level("WARNING", logger="caloforge.evaluate.classifier"):
        r = two_sample_test(a, b, cfg)
    # 600 per class: 60 % trains (360 < the documented 10,000: warned), 120 validate, 120 test
    assert (r["n_train_per_class"], r["n_val_per_class"], r["n_test_per_class"]) == (360, 120, 120)
    assert r["below_documented_size"] and "fewer than the documented 10000" in caplog.text
    assert r["auc_stat_err"] == pytest.approx(np.sqrt(241 / (12 * 120**2)))
    assert len(r["classifiers"]["hgb"]["auc"]) == 3
    # the seed spread enters the quoted error
    assert r["auc_err"] >= max(r["auc_stat_err"], r["classifiers"]["hgb"]["auc_std"])
    big = ClassifierConfig(seeds=(0,), classifiers=("hgb",), hgb_max_iter=5, n_train=200)
    caplog.clear()
    with caplog.at_level("WARNING", logger="caloforge.evaluate.classifier"):
        r = two_sample_test(a, b, big)
    assert r["n_train_per_class"] == 200 and not r["below_documented_size"]
    assert not caplog.text


def test_split_sizes() -> None:
    cfg = ClassifierConfig()
    assert split_sizes(50_000, cfg) == SplitSizes(10_000, 3_333, 10_000, 36_667)
    assert split_sizes(5_000, cfg) == SplitSizes(3_000, 1_000, 1_000, 3_000)
    assert split_sizes(20_000, cfg) == SplitSizes(10_000, 3_333, 6_667, 10_000)


@pytest.mark.parametrize(("curve", "sizes"), [("auto", [100, 200, 360]), ("full", [100, 200, 360])])
def test_learning_curve(toy_showers, atlas, curve, sizes) -> None:  # type: ignore[no-untyped-def]
    s1, c1 = toy_showers(atlas, 600, 1)
    s2, c2 = toy_showers(atlas, 600, 2, energy=c1.energy, width=1.3)
    cfg = ClassifierConfig(
        seeds=(0,),
        classifiers=("hgb",),
        hgb_max_iter=50,
        learning_curve=curve,
        curve_sizes=(100, 200, 1_000),
    )
    r = two_sample_test(
        _inputs(atlas, s1, c1, "high_level"), _inputs(atlas, s2, c2, "high_level"), cfg
    )
    points = r["learning_curve"]
    assert [p["n_train_per_class"] for p in points] == sizes
    assert all(p["n_test_per_class"] == r["n_test_per_class"] for p in points)
    assert points[-1]["auc"] == r["auc"]  # the headline point
    assert all(0.5 < p["auc"] <= 1.0 for p in points)
    off = two_sample_test(
        _inputs(atlas, s1, c1, "high_level"), _inputs(atlas, s2, c2, "high_level"), ONE_SEED
    )
    assert off["learning_curve"] == []


def test_full_learning_curve_uses_the_pool() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(2_000, 3)), rng.normal(0.3, 1.0, size=(2_000, 3))
    cfg = ClassifierConfig(
        seeds=(0,),
        classifiers=("hgb",),
        hgb_max_iter=20,
        n_train=300,
        n_test=300,
        learning_curve="full",
        curve_sizes=(100, 1_000, 10_000),
    )
    r = two_sample_test(a, b, cfg)
    # 2,000 per class: 100 validate, 300 test, a pool of 1,600 to train from
    assert [p["n_train_per_class"] for p in r["learning_curve"]] == [100, 300, 1_000]
    assert r["n_per_class"] == 1_400 and r["subsampled"]


def test_challenge_classifier() -> None:
    net = challenge_classifier(10)
    widths = [m.out_features for m in net if hasattr(m, "out_features")]
    assert widths == [2048, 2048, 2048, 1]
    assert not any("Dropout" in type(m).__name__ for m in net)
    cfg = ClassifierConfig()
    assert (cfg.challenge_epochs, cfg.challenge_lr, cfg.challenge_batch) == (50, 2e-4, 1000)
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(400, 5)), rng.normal(1.0, 1.0, size=(400, 5))
    small = ClassifierConfig.challenge(
        seeds=(0,), challenge_hidden=32, challenge_epochs=5, challenge_batch=100
    )
    r = two_sample_test(a, b, small, standardise=False)
    assert r["headline"] == "challenge" and r["protocol"] == "challenge"
    assert r["auc"] > 0.8


def test_challenge_voxel_inputs(toy_showers, atlas) -> None:  # type: ignore[no-untyped-def]
    s, c = toy_showers(atlas, 5, 1)
    x = voxel_inputs(s, c, "challenge")
    assert x[:, 0] == pytest.approx(np.log10(c.energy))
    assert x[:, 1 : 1 + s.shape[1]] == pytest.approx(s / c.energy[:, None], rel=1e-6)
    with pytest.raises(ValueError, match="input style"):
        voxel_inputs(s, c, "other")


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match=r"protocol 'caloforge'.*challenge"):
        ClassifierConfig(classifiers=("challenge",))
    with pytest.raises(ValueError, match="classifier protocol"):
        ClassifierConfig(protocol="svm")
    with pytest.raises(ValueError, match="learning_curve"):
        ClassifierConfig(learning_curve="sometimes")
