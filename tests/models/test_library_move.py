"""The frozen-shower library for spread conditions: stored showers moved onto the requested
track (whole cells plus linear sharing of the remainder), of the requested particle; on
TOY showers of the toy detector (tests only; the toy is not physics)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from caloforge.data import Conditions, write_showers
from caloforge.evaluate.conditional import centre_vs_impact, summarise_conditional
from caloforge.evaluate.observables import layer_centroids
from caloforge.generate import generate
from caloforge.geometry import Detector
from caloforge.models.library import shift_cells
from caloforge.testing import toy_showers
from caloforge.train import load_model, train

SPREAD = {"impact_spread": 15.0, "theta_max": 20.0}


def test_shift_cells_moves_the_centre_by_the_shift() -> None:
    gen = torch.Generator().manual_seed(0)
    grid = torch.zeros(3, 8, 8)
    grid[:, 2:5, 3:6] = torch.rand(3, 3, 3, generator=gen)  # away from the edges
    shift = torch.tensor([1.0, -0.3, 1.75])
    moved = shift_cells(grid, shift, 1)
    torch.testing.assert_close(moved.sum((1, 2)), grid.sum((1, 2)))  # nothing left the grid
    x = torch.arange(8.0)[None, :, None]

    def centre(g: torch.Tensor) -> torch.Tensor:
        return (g * x).sum((1, 2)) / g.sum((1, 2))

    torch.testing.assert_close(centre(moved) - centre(grid), shift)
    torch.testing.assert_close(moved[0, 3:6], grid[0, 2:5])  # a whole cell: the same deposits
    torch.testing.assert_close(shift_cells(grid, shift, 2).sum(2), grid.sum(2))  # along y
    off = shift_cells(grid, torch.full((3,), 7.0), 1)  # moved off the grid: dropped
    assert float(off.sum()) == 0.0


@pytest.fixture(scope="module")
def library(toy_det: Detector, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("library")
    s, c = toy_showers(toy_det, 400, seed=5, **SPREAD)
    data = write_showers(folder / "spread.h5", s, c, toy_det)
    moving = train("library", data, out=folder / "moving").checkpoint
    still = train("library", data, out=folder / "still", overrides=["move=false"]).checkpoint
    return moving, still


def test_moved_showers_follow_the_requested_impact_point(
    toy_det: Detector, library: tuple[Path, Path]
) -> None:
    ref, cond = toy_showers(toy_det, 600, seed=6, **SPREAD)
    rows = {}
    for name, showers in (
        ("ref", ref),
        ("moved", generate(load_model(library[0])[0], cond, seed=0)),
        ("still", generate(load_model(library[1])[0], cond, seed=0)),
    ):
        rows[name] = centre_vs_impact(summarise_conditional(showers, cond, toy_det))
    for layer in range(toy_det.n_layers):
        ref_row, moved, still = (rows[k][layer] for k in ("ref", "moved", "still"))
        # the moved showers' centres follow the track as the reference's do (the slope a
        # little lower: what a stored shower lost off the grid is not brought back), with
        # the reference's scatter, not the scatter of the nearest stored showers left where
        # they were
        assert abs(moved["slope"] / ref_row["slope"] - 1) < 0.1
        assert abs(moved["rms"] / ref_row["rms"] - 1) < 0.2
        assert moved["rms"] < 0.5 * still["rms"]


def test_a_stored_shower_moved_by_a_fraction_of_a_cell(toy_det: Detector, tmp_path: Path) -> None:
    s, c = toy_showers(toy_det, 1, seed=8, impact_spread=3.0, theta_max=20.0)
    grid = s.reshape(toy_det.n_layers, 4, 4)
    grid[:, [0, 3], :] = 0.0  # deposits in the inner 2 x 2 cells only: none leaves the grid
    grid[:, :, [0, 3]] = 0.0
    s = grid.reshape(1, -1)
    # a second stored shower at the same point, 50 times the energy: never the nearest
    pair = Conditions(c.energy * [1, 50], c.particle[[0, 0]], c.direction[[0, 0]], c.impact[[0, 0]])
    data = write_showers(tmp_path / "pair.h5", np.concatenate([s, 50 * s]), pair, toy_det)
    model, _ = load_model(train("library", data, out=tmp_path / "pair").checkpoint)
    step = np.array([7.5, -2.5])  # mm: 0.75 and -0.25 cells
    there = Conditions(c.energy, c.particle, c.direction, c.impact + np.array([*step, 0.0]))
    a, b = generate(model, c, seed=0), generate(model, there, seed=0)
    np.testing.assert_allclose(a, s, rtol=1e-5)  # at its own point: the stored shower
    np.testing.assert_allclose(b.sum(), a.sum(), rtol=1e-5)
    assert (b > 0).sum() > (a > 0).sum()  # the remainder shared with the next cells
    (cx_a, cy_a), (cx_b, cy_b) = layer_centroids(a, toy_det), layer_centroids(b, toy_det)
    np.testing.assert_allclose(cx_b - cx_a, step[0], atol=1e-3)
    np.testing.assert_allclose(cy_b - cy_a, step[1], atol=1e-3)


def test_the_requested_particle_only(toy_det: Detector, tmp_path: Path) -> None:
    s, c = toy_showers(toy_det, 200, seed=7, **SPREAD)
    electron = np.arange(200) % 2 == 1
    s[electron] *= 0.5  # the electrons' showers are told apart by their energy
    c = Conditions(c.energy, np.where(electron, 11, 22), c.direction, c.impact)
    data = write_showers(tmp_path / "mixed.h5", s, c, toy_det)
    model, _ = load_model(train("library", data, out=tmp_path / "run").checkpoint)
    query = c.select(np.arange(200))
    for code in (11, 22):
        asked = Conditions(query.energy, np.full(200, code), query.direction, query.impact)
        ratio = generate(model, asked, seed=0).sum(1) / asked.energy
        if code == 11:  # about 0.1 (0.2 for photons), less what moving lost off the grid
            assert 0.085 < ratio.mean() < 0.105
        else:
            assert 0.17 < ratio.mean() < 0.21
