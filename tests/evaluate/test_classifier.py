"""The classifier two-sample test: ~0.5 for one distribution, clearly above for a distortion."""

from __future__ import annotations

import numpy as np
import pytest

from caloforge.evaluate.classifier import (
    ClassifierConfig,
    high_level_inputs,
    jsd_estimate,
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
