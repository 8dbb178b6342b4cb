"""SimulationConfig validation and per-event conditions."""

from __future__ import annotations

import numpy as np
import pytest

from caloforge.geometry import Detector
from caloforge.simulate import SimulationConfig
from caloforge.simulate.config import event_batch


def test_defaults_from_the_gun(tiny: Detector) -> None:
    cfg = SimulationConfig(tiny, n=3)
    assert cfg.particle_name == "e-"
    assert cfg.resolved_physics == "em_opt0"
    assert cfg.impact_centre == pytest.approx([2.5, 2.5])
    b = event_batch(cfg, cfg.event_indices())
    assert b.position[:, 2] == pytest.approx(-50.0)
    assert b.impact[:, :2] == pytest.approx(np.tile([2.5, 2.5], (3, 1)))


def test_hadrons_get_a_hadronic_list(tiny: Detector) -> None:
    assert SimulationConfig(tiny, particle="pi+").resolved_physics == "FTFP_BERT"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"particle": "mu-"}, "mu-"),
        ({"n": -1}, "n=-1"),
        ({"workers": 0}, "workers=0"),
        ({"theta": 95.0}, "theta=95"),
        ({"shard": (3, 3)}, "shard"),
        ({"physics": "QGSP"}, "QGSP"),
        ({"energy": "0.5GeV"}, "0.5GeV"),
        ({"impact_spread": -1.0}, "impact_spread"),
        ({"particle": "pi+", "physics": "em_opt0"}, "hadronic physics list"),
    ],
)
def test_bad_values_are_named(tiny: Detector, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        SimulationConfig(tiny, **kwargs)


def test_events_depend_only_on_seed_and_index(tiny: Detector) -> None:
    cfg = SimulationConfig(
        tiny, energy="uniform:1GeV,100GeV", n=10, impact_spread=5.0, theta=10, phi=30, seed=7
    )
    full = event_batch(cfg, np.arange(10))
    part = event_batch(cfg, np.array([3, 7]))
    assert full.energy[[3, 7]] == pytest.approx(part.energy)
    assert np.array_equal(full.g4_seed[[3, 7]], part.g4_seed)
    assert np.all(np.abs(full.impact[:, :2] - 2.5) <= 2.5)
    # the gun starts on the line through the impact point along the direction
    t = (full.impact - full.position) / full.direction
    assert t[:, 0] == pytest.approx(t[:, 2])
    other = event_batch(
        SimulationConfig(tiny, energy="uniform:1GeV,100GeV", n=10, seed=8), np.arange(10)
    )
    assert not np.allclose(full.energy, other.energy)


def test_shards_partition_the_events(tiny: Detector) -> None:
    parts = [SimulationConfig(tiny, n=11, shard=(k, 3)).event_indices() for k in range(3)]
    assert sorted(np.concatenate(parts).tolist()) == list(range(11))
