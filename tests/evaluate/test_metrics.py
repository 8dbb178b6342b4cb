"""Per-observable metrics, FPD/KPD, and that they flag the matching distortion."""

from __future__ import annotations

import numpy as np
import pytest

from caloforge.evaluate import metrics as mt
from caloforge.evaluate.observables import high_level_observables


def test_separation_power_and_chi2_limits() -> None:
    a = np.array([10, 20, 30, 0])
    assert mt.separation_power(a, a) == 0.0
    assert mt.separation_power(a, 3 * a) == pytest.approx(0.0)
    assert mt.separation_power([1, 0], [0, 1]) == pytest.approx(1.0)
    # p = (1/2, 1/2), q = (1, 0): 0.5 * ((1/2)^2 / (3/2) + (1/2)^2 / (1/2)) = 1/3
    assert mt.separation_power([5, 5], [10, 0]) == pytest.approx(1 / 3)
    chi2, ndf = mt.chi2_ndf(a, a)
    assert chi2 == 0.0 and ndf == 2
    chi2, ndf = mt.chi2_ndf([100, 100], [150, 50])
    # N_a = N_b = 200: sum (n_a - n_b)^2 / (n_a + n_b) = 2500/250 + 2500/150
    assert chi2 == pytest.approx(2500 / 250 + 2500 / 150) and ndf == 1


def test_reference_bins() -> None:
    rng = np.random.default_rng(0)
    ints = rng.integers(3, 9, 500).astype(float)
    e = mt.reference_bins(ints)
    assert e[0] == 2.5 and e[-1] == 8.5 and np.all(np.diff(e) == 1.0)
    x = rng.normal(size=1000)
    e = mt.reference_bins(x, 40)
    assert len(e) == 41 and e[0] < np.quantile(x, 0.001) and e[-1] > np.quantile(x, 0.999)
    # overflow is folded into the edge bins
    assert mt.histogram(np.array([-100.0, 100.0]), e).sum() == 2


def test_wasserstein_of_a_shift() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(size=5000)
    assert mt.wasserstein(a, a + 0.3) == pytest.approx(0.3)


def test_same_sample_is_zero_and_shift_is_large() -> None:
    rng = np.random.default_rng(2)
    ref = {"a": rng.normal(size=4000), "b": rng.exponential(size=4000)}
    same = {k: v.copy() for k, v in ref.items()}
    other = {"a": rng.normal(size=4000), "b": rng.exponential(size=4000)}
    shifted = {"a": other["a"] + 0.5, "b": other["b"]}
    for m in mt.compare_observables(ref, same):
        assert m.separation == 0.0 and m.w1 == 0.0
    res = {m.name: m for m in mt.compare_observables(ref, shifted)}
    floor = {m.name: m for m in mt.compare_observables(ref, other)}
    assert mt.compare_observables(ref, shifted)[0].name == "a"  # worst first
    assert res["a"].separation > 5 * floor["a"].separation
    assert res["a"].chi2_ndf > 10 and floor["a"].chi2_ndf < 2.0
    assert res["a"].w1_norm == pytest.approx(0.5, abs=0.06)


def test_fpd_kpd() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3000, 5))
    y = rng.normal(size=(3000, 5))
    z = rng.normal(size=(3000, 5)) * [1, 1, 1, 1, 1.3] + [0.3, 0, 0, 0, 0]
    assert mt.frechet_distance(x, x) == pytest.approx(0.0, abs=1e-8)
    same = mt.physics_distances(x, y, n_bootstrap=10)
    diff = mt.physics_distances(x, z, n_bootstrap=10)
    assert same.fpd < diff.fpd / 10
    assert diff.fpd > 3 * diff.fpd_err and diff.kpd > 3 * diff.kpd_err
    assert abs(same.kpd) < 3 * same.kpd_err + 1e-4
    # the extrapolation removes the ~1/N bias of finite samples
    assert abs(same.fpd) < 3 * same.fpd_err + 1e-3
    assert mt.frechet_distance(x, y) > abs(same.fpd)
    assert same.n_features == 5 and same.n_bootstrap == 10


@pytest.mark.parametrize(
    ("knob", "observable"),
    [({"scale": 1.05}, "e_ratio"), ({"width": 1.3}, "radial_width"), ({"noise": 0.05}, "n_hits")],
)
def test_the_matching_observable_flags_a_distortion(toy_showers, atlas, knob, observable) -> None:  # type: ignore[no-untyped-def]
    s_ref, c_ref = toy_showers(atlas, 1500, 1)
    s_same, c_same = toy_showers(atlas, 1500, 2, energy=c_ref.energy)
    s_bad, c_bad = toy_showers(atlas, 1500, 2, energy=c_ref.energy, **knob)
    ref = high_level_observables(s_ref, c_ref.energy, atlas)
    floor = {
        m.name: m
        for m in mt.compare_observables(ref, high_level_observables(s_same, c_same.energy, atlas))
    }
    bad = {
        m.name: m
        for m in mt.compare_observables(ref, high_level_observables(s_bad, c_bad.energy, atlas))
    }
    assert bad[observable].separation > 0.05
    assert bad[observable].separation > 5 * floor[observable].separation
    assert max(m.separation for m in floor.values()) < 0.03
