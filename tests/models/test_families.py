"""Family-specific behaviour beyond the shared contract (TOY showers, tiny detector)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from caloforge.data import Conditions, write_showers
from caloforge.generate import generate
from caloforge.models import get_family
from caloforge.testing import toy_showers
from caloforge.train import load_model, train
from caloforge.train.loading import build_model

from .conftest import FAST, TINY


@pytest.mark.parametrize(
    ("spread", "expected"), [(0.0, [True, False, False]), (8.0, [True, True, True])]
)
def test_wgan_constrainer_regresses_impact_only_when_it_varies(
    toy_det, spread: float, expected: list[bool]
) -> None:
    cls = get_family("wgan-gp")
    model = build_model(
        "wgan-gp",
        cls.config_class(latent_dim=4, generator_hidden=(8,), critic_hidden=(8,)),
        toy_det,
    )
    s, c = toy_showers(toy_det, 100, seed=1, impact_spread=spread)
    model.fit_preprocessing(s, c)
    assert model.condition_names == ("log_energy", "impact_x", "impact_y")
    assert model._targets().tolist() == expected


def test_wgan_trains_with_spread_impact(toy_det, tmp_path: Path) -> None:
    s, c = toy_showers(toy_det, 256, seed=3, impact_spread=8.0)
    data = write_showers(tmp_path / "toy_spread.h5", s, c, toy_det)
    result = train(
        "wgan-gp", data, out=tmp_path / "run", overrides=[*TINY["wgan-gp"], *FAST, "steps=4"]
    )
    model, _ = load_model(result.checkpoint)
    cond = Conditions.create(np.full(20, 1e4), impact=(5.0, -5.0, 0.0))
    assert np.isfinite(generate(model, cond, seed=1)).all()


def test_vae_kde_and_prior_sampling(toy_files, tmp_path: Path, toy_det) -> None:
    result = train(
        "vae",
        toy_files[0],
        out=tmp_path / "run",
        overrides=[*TINY["vae"], *FAST, "steps=5", "kde_points=100"],
    )
    model, ckpt = load_model(result.checkpoint)
    assert ckpt["state"]["kde._extra_state"]["points"].shape == (100, 4)
    cond = Conditions.create(np.full(50, 1e4))
    kde = generate(model, cond, seed=1)
    prior_model, _ = load_model(result.checkpoint)
    prior_model.config = dataclasses.replace(model.config, latent_sampling="prior")
    assert not np.array_equal(kde, generate(prior_model, cond, seed=1))


def test_library_picks_nearest_conditions_and_reports_memory(toy_det, tmp_path: Path) -> None:
    s, c = toy_showers(toy_det, 100, seed=4, impact_spread=10.0)
    data = write_showers(tmp_path / "toy_lib.h5", s, c, toy_det)
    result = train("library", data, out=tmp_path / "run")
    assert result.describe["stored_bytes"] >= s.nbytes and result.describe["stored_showers"] == 100
    model, _ = load_model(result.checkpoint)
    i = 17
    query = c.select(np.array([i]))
    out = generate(model, query, seed=0)
    np.testing.assert_allclose(
        out[0], s[i], rtol=1e-5
    )  # an exact stored condition returns its shower
    doubled = Conditions.create(query.energy * 1.001, impact=query.impact)
    np.testing.assert_allclose(generate(model, doubled, seed=0)[0], s[i] * 1.001, rtol=1e-4)
    with torch.no_grad():
        assert model.describe()["parameters"] == 0
