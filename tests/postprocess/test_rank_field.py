"""The rank field of the quantile calibration: its kernel follows the readout cells, its
ranks stay uniform, and a calibration fitted with it keeps every cell's hit rate while
placing the hits it adds next to each other as the data does."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import kstest

from caloforge.geometry import load_detector
from caloforge.postprocess.calibration import QuantileCalibration
from caloforge.postprocess.rank_field import (
    field_ranks,
    hit_adjacency,
    mixed_weights,
    neighbour_kernel,
)

DET = load_detector("atlas-pblar")  # strips of 3 x 96, then 12 x 12 and 12 x 6 cells


def test_kernel_follows_the_cells_of_each_layer() -> None:
    index, weight, adjacent = neighbour_kernel(DET)
    layer = DET.voxel_layer
    assert index.shape == weight.shape == adjacent.shape == (DET.n_voxels, 13)
    assert np.array_equal(index[:, 0], np.arange(DET.n_voxels))  # each cell first
    assert np.all(layer[index] == layer[:, None])  # never across layers
    np.testing.assert_allclose((weight.astype(np.float64) ** 2).sum(1), 1.0, rtol=1e-5)
    # a strip (5 mm wide, 160 mm long) has the strips on either side as its neighbours,
    # not the strips of the rows 160 mm away
    strip = 96 + 40  # middle row
    assert sorted(index[strip][adjacent[strip]]) == [strip - 1, strip + 1]
    # a 40 x 40 mm cell of the middle layer: its eight neighbours
    cell = 288 + 5 * 12 + 5
    assert len(index[cell][adjacent[cell]]) == 8


def test_kernel_of_a_cylindrical_layer_is_periodic_in_angle() -> None:
    """calochallenge-ds2: 16 angles x 9 radii per layer, cell ``i_alpha * 9 + i_r``: the
    neighbours are counted in cells, and the last angular bin borders the first."""
    ds2 = load_detector("calochallenge-ds2")
    index, _, adjacent = neighbour_kernel(ds2)
    cell = 15 * 9 + 4  # last angle, middle radius
    near = sorted(int(i) for i in index[cell][adjacent[cell]])
    assert near == [3, 4, 5, 129, 130, 131, 138, 140]
    assert np.all(ds2.voxel_layer[index] == ds2.voxel_layer[:, None])


def test_field_ranks_are_uniform_and_correlated_between_neighbours() -> None:
    index, weight, _ = neighbour_kernel(DET)
    g = torch.Generator().manual_seed(0)
    normal = torch.randn(20_000, DET.n_voxels, generator=g)
    for mixing in (0.0, 0.8):
        mixed = mixed_weights(weight, np.full(DET.n_voxels, mixing))
        np.testing.assert_allclose((mixed.astype(np.float64) ** 2).sum(1), 1.0, rtol=1e-5)
        u = field_ranks(normal, torch.as_tensor(index.T), torch.as_tensor(mixed.T)).numpy()
        assert kstest(u[:, 136], "uniform").pvalue > 1e-3  # a strip's rank stays uniform
        rho = np.corrcoef(u[:, 136], u[:, 137])[0, 1]
        if mixing:
            assert rho > 0.3
        else:  # no mixing: each cell its own number
            np.testing.assert_array_equal(u, 0.5 * (1 + torch.erf(normal / 2**0.5)).numpy())


def clustered(n: int, pair: bool, rng: np.random.Generator) -> np.ndarray:
    """(n, 504) toy showers: a core in the middle strips and cells, plus ``Poisson(4)`` (data,
    ``pair``: half of them in two neighbouring strips) or ``Poisson(1)`` (model: single
    strips) stray deposits in the strip layer."""
    x = np.zeros((n, DET.n_voxels), dtype=np.float32)
    x[:, 96 + 46 : 96 + 50] = rng.gamma(4.0, 50.0, (n, 4))
    x[:, 288 + 66] = rng.gamma(4.0, 500.0, n)
    for i in range(n):
        for _ in range(rng.poisson(4.0 if pair else 1.0)):
            row, iy = rng.integers(3), rng.integers(95)
            width = 2 if pair and rng.random() < 0.5 else 1
            x[i, row * 96 + iy : row * 96 + iy + width] = rng.gamma(1.0, 2.0, width)
    return x


@pytest.fixture(scope="module")
def fitted() -> tuple[QuantileCalibration, dict, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    n = 6_000
    energy = np.exp(rng.uniform(np.log(1e3), np.log(1e5), n))
    model, data = clustered(n, False, rng), clustered(n, True, rng)
    kernel = neighbour_kernel(DET)
    calib = QuantileCalibration(DET.n_voxels, 2, 65, 128, field_neighbours=kernel[0].shape[1])
    calib.fit(model, energy, data, energy)
    record = calib.fit_field(kernel, DET.voxel_layer, model, energy, data, seed=2)
    return calib, record, model, data, energy


def test_fitted_field_clusters_the_added_hits(fitted) -> None:  # type: ignore[no-untyped-def]
    calib, record, model, data, energy = fitted
    assert record["mixing"][0] > 0.3  # the strips: the data's hits come in pairs
    index, _, adjacent = neighbour_kernel(DET)
    layers = DET.voxel_layer
    g = torch.Generator().manual_seed(5)
    e = torch.tensor(energy).float()
    with torch.no_grad():
        out = calib(torch.from_numpy(model), e, calib._draw_uniform(len(model), g, e.device))
    independent = QuantileCalibration(DET.n_voxels, 2, 65, 128)
    independent.fit(model, energy, data, energy)
    with torch.no_grad():
        u = torch.rand(len(model), DET.n_voxels + 1, generator=g)
        plain = independent(torch.from_numpy(model), e, u).numpy()
    out = out.numpy()
    target = hit_adjacency(data, index, adjacent, layers)[0]
    near = hit_adjacency(out, index, adjacent, layers)[0]
    far = hit_adjacency(plain, index, adjacent, layers)[0]
    assert abs(near - target) < 0.5 * abs(far - target), (near, target, far)
    # every strip keeps the data's hit rate, as with independent ranks
    strips = slice(0, 288)
    rate = lambda s: (s[:, strips] > 0).mean(0)  # noqa: E731
    assert np.abs(rate(out) - rate(data)).max() < 0.03
    assert np.abs(rate(out) - rate(data)).mean() < 1.5 * np.abs(rate(plain) - rate(data)).mean()


def test_state_round_trip_with_and_without_a_field(fitted) -> None:  # type: ignore[no-untyped-def]
    calib = fitted[0]
    state = calib.state_dict()
    assert {"field_index", "field_weight"} <= set(state)
    again = QuantileCalibration.from_state(state)
    again.load_state_dict(state)
    assert again.noise_size == DET.n_voxels + 1  # one normal number per cell, as before
    assert torch.equal(again.field_weight, calib.field_weight)
    plain = QuantileCalibration(DET.n_voxels, 2, 65, 128)
    old = plain.state_dict()  # a calibration fitted without a field
    assert not any(k.startswith("field_") for k in old)
    rebuilt = QuantileCalibration.from_state(old)
    rebuilt.load_state_dict(old)
    assert rebuilt.field_index is None and rebuilt.noise_size == DET.n_voxels + 1


def test_process_noise_is_the_exported_map(fitted) -> None:  # type: ignore[no-untyped-def]
    """The graph's path (normal noise in, as the export feeds it) gives the eager path's
    numbers for the same ranks."""
    calib, _, model, _, energy = fitted
    x, e = torch.from_numpy(model[:64]), torch.tensor(energy[:64]).float()
    noise = torch.randn(64, calib.noise_size, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        got = calib.process_noise(x, e, noise)
        choice = 0.5 * (1 + torch.erf(noise[:, -1:] / 2**0.5))
        u = torch.cat([calib._field_ranks(noise[:, :-1]), choice], 1)
        assert torch.equal(got, calib(x, e, u))
