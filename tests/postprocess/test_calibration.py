"""QuantileCalibration: maps a model's per-voxel distributions onto the data's, keeps ranks.

The samples here are SYNTHETIC random numbers with known distributions (not showers)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import ks_2samp

from caloforge.postprocess.calibration import QuantileCalibration


def sample(kind: str, energy: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(N, 3) 'deposits' in MeV whose hit fraction and spectrum depend on the energy."""
    n = len(energy)
    frac = np.log(energy / 1e3) / np.log(100.0)  # 0 at 1 GeV, 1 at 100 GeV
    if kind == "data":  # hit fraction 0.5 -> 0.9, gamma-distributed share of E
        hit = rng.random((n, 3)) < (0.5 + 0.4 * frac)[:, None]
        value = rng.gamma(2.0, 0.01 * (1 + frac)[:, None], (n, 3))
    else:  # a 'model' with too many hits and a log-normal spectrum
        hit = rng.random((n, 3)) < 0.8
        value = np.exp(rng.normal(-5.0, 1.0, (n, 3)))
    return (hit * value * energy[:, None]).astype(np.float32)


def energies(n: int, rng: np.random.Generator) -> np.ndarray:
    return np.exp(rng.uniform(np.log(1e3), np.log(1e5), n))


def apply(calib: QuantileCalibration, x: np.ndarray, e: np.ndarray, seed: int) -> np.ndarray:
    g = torch.Generator().manual_seed(seed)
    u = torch.rand(len(x), x.shape[1] + 1, generator=g)
    out = calib(torch.from_numpy(x), torch.from_numpy(e).float(), u)
    return out.numpy()


@pytest.fixture(scope="module")
def fitted() -> QuantileCalibration:
    rng = np.random.default_rng(0)
    e = energies(40_000, rng)
    calib = QuantileCalibration(3, n_bins=8, n_levels=129)
    calib.fit(sample("model", e, rng), e, sample("data", e, rng), e)
    return calib


@pytest.mark.parametrize("window", [(1e3, 2e3), (9e3, 1.1e4), (5e4, 1e5)])
def test_calibrated_model_has_the_data_marginals(
    fitted: QuantileCalibration, window: tuple[float, float]
) -> None:
    rng = np.random.default_rng(1)
    e = np.exp(rng.uniform(*np.log(window), 20_000))
    data = sample("data", e, rng) / e[:, None]
    model = sample("model", e, rng)
    out = apply(fitted, model, e, seed=2) / e[:, None]
    for i in range(3):
        assert (out[:, i] > 0).mean() == pytest.approx((data[:, i] > 0).mean(), abs=0.02)
        hits_out, hits_data = out[out[:, i] > 0, i], data[data[:, i] > 0, i]
        assert ks_2samp(hits_out, hits_data).statistic < 0.04
        before = model[model[:, i] > 0, i] / e[model[:, i] > 0]
        assert ks_2samp(before, hits_data).statistic > 0.3  # it was far off before


def test_map_is_monotone_and_keeps_ranks(fitted: QuantileCalibration) -> None:
    """Within one energy, a larger deposit never maps to a smaller one: the model's
    correlations between voxels (its copula) are kept."""
    e = np.full(2000, 2e4)
    x = np.sort(np.exp(np.random.default_rng(3).normal(-5, 1.5, (2000, 3))), axis=0) * 2e4
    u = torch.full((2000, 4), 0.5)
    out = fitted(torch.from_numpy(x).float(), torch.from_numpy(e).float(), u).numpy()
    assert np.all(np.diff(out, axis=0) >= -1e-5 * out[1:])  # float32 round-off only
    assert np.all(out >= 0)


def test_empty_cells_fill_the_zero_atom_at_random(fitted: QuantileCalibration) -> None:
    """A model with no hits at all gives the data's hit fraction (ranks drawn uniformly)."""
    rng = np.random.default_rng(4)
    e = np.full(20_000, 5e4)  # the data leave 16 % of the cells empty here
    data = sample("data", e, rng)
    out = apply(fitted, np.zeros((20_000, 3), np.float32), e, seed=5)
    # the model table of the synthetic model has 20 % zeros: ranks u < 0.2 only, so only
    # cells the data leaves empty more often than that stay empty
    assert np.all(out >= 0)
    p_empty_data = (data == 0).mean()
    assert 0.1 < p_empty_data < 0.2
    assert (out == 0).mean() == pytest.approx(p_empty_data / 0.2, abs=0.05)


def test_fit_errors_name_the_problem() -> None:
    rng = np.random.default_rng(6)
    e = energies(500, rng)
    calib = QuantileCalibration(3, n_bins=4)
    with pytest.raises(ValueError, match="do not fit 3 voxels"):
        calib.fit(np.zeros((500, 4)), e, sample("data", e, rng), e)
    with pytest.raises(ValueError, match=r"energy bin .* fewer than 200"):
        calib.fit(sample("model", e, rng), e, sample("data", e, rng), e, min_per_bin=200)
    with pytest.raises(ValueError, match="n_bins >= 1"):
        QuantileCalibration(3, n_bins=0)


def test_state_round_trip(fitted: QuantileCalibration) -> None:
    again = QuantileCalibration.from_state(fitted.state_dict())
    again.load_state_dict(fitted.state_dict())
    rng = np.random.default_rng(7)
    e = energies(100, rng)
    x = sample("model", e, rng)
    np.testing.assert_array_equal(apply(fitted, x, e, 8), apply(again, x, e, 8))


def test_keep_layers_rescales_each_layer_to_the_model_energy() -> None:
    rng = np.random.default_rng(9)
    e = energies(20_000, rng)
    calib = QuantileCalibration(3, n_bins=4, layer_of_voxel=[0, 0, 1], keep_layers=True)
    calib.fit(sample("model", e, rng), e, sample("data", e, rng), e)
    x = sample("model", e[:2000], rng)
    out = apply(calib, x, e[:2000], seed=10)
    calib.keep_layers.fill_(False)
    raw = apply(calib, x, e[:2000], seed=10)
    calib.keep_layers.fill_(True)
    for sl in (slice(0, 2), slice(2, 3)):
        before, after = x[:, sl].sum(1), out[:, sl].sum(1)
        np.testing.assert_allclose(after, before, rtol=1e-5)
        # a layer the look-up emptied keeps the model's cells
        emptied = (before > 0) & (raw[:, sl].sum(1) == 0)
        assert emptied.any()
        np.testing.assert_array_equal(out[emptied, sl], x[emptied, sl])
    with pytest.raises(ValueError, match="keep_layers needs"):
        QuantileCalibration(3, keep_layers=True)
    again = QuantileCalibration.from_state(calib.state_dict())
    assert bool(again.keep_layers) and again.layer_map.shape == (3, 2)


def test_sparse_look_ups_give_the_exported_graphs_numbers(
    fitted: QuantileCalibration, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Eager generation looks up only the cells that need it; the traced (exported) graph
    looks up every cell. Both give the same numbers, bit for bit."""
    rng = np.random.default_rng(5)
    e = energies(2000, rng)
    x = sample("model", e, rng)
    sparse = apply(fitted, x, e, seed=9)
    monkeypatch.setattr(torch.jit, "is_tracing", lambda: True)
    dense = apply(fitted, x, e, seed=9)
    assert (x == 0).mean() > 0.1 and (sparse == 0).mean() > 0.1
    np.testing.assert_array_equal(sparse, dense)
