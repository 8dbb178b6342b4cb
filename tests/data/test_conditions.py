"""The condition layout: the compact range record and validation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from caloforge.data import Conditions
from caloforge.data.conditions import check_ranges, condition_ranges


def _tilted(theta_deg: list[float], phi_deg: list[float]) -> np.ndarray:
    t, p = np.radians(theta_deg), np.radians(phi_deg)
    return np.stack([np.sin(t) * np.cos(p), np.sin(t) * np.sin(p), np.cos(t)], axis=1)


def test_condition_ranges_record_the_spread_of_every_condition() -> None:
    cond = Conditions.create(
        [2e3, 5e4, 1e3],
        np.array([22, 11, 22]),
        _tilted([5.0, 20.0, 0.0], [-90.0, 45.0, 0.0]),
        [[-3.0, 1.0, 0.0], [4.0, -2.0, 0.0], [0.0, 7.5, 0.0]],
    )
    r = condition_ranges(cond)
    assert r["particles"] == [11, 22]
    assert r["energy"] == [1e3, 5e4]
    assert r["theta"] == pytest.approx([0.0, math.radians(20.0)])
    # the normal-incidence row has no azimuth: phi spans the tilted rows only
    assert r["phi"] == pytest.approx([math.radians(-90.0), math.radians(45.0)])
    assert r["impact_x"] == [-3.0, 4.0] and r["impact_y"] == [-2.0, 7.5]
    assert r["showers"] == 3
    assert all(type(v) in (float, int) for v in [*r["energy"], *r["particles"]])


def test_condition_ranges_at_normal_incidence_have_no_azimuth() -> None:
    r = condition_ranges(Conditions.create([1e3, 2e3], "gamma"))
    assert r["theta"] == [0.0, 0.0] and r["phi"] is None
    with pytest.raises(ValueError, match="no rows"):
        condition_ranges(Conditions.create(np.zeros(0) + 1.0).select(slice(0, 0)))


def test_check_ranges_counts_rows_outside_and_names_unknown_particles() -> None:
    trained = condition_ranges(
        Conditions.create(
            [1e3, 1e5],
            np.array([22, 11]),
            _tilted([5.0, 10.0], [0.0, 90.0]),
            [[-5.0, -5.0, 0.0], [5.0, 5.0, 0.0]],
        )
    )
    cond = Conditions.create(
        [5e2, 2e3, 2e5, 5e4],
        np.array([22, 211, 22, -11]),
        _tilted([5.0, 15.0, 0.0, 5.0], [45.0, 45.0, 0.0, 180.0]),
        [[0.0, 0.0, 0.0], [6.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]],
    )
    r = check_ranges(cond, trained)
    assert r.unknown_particles == (-11, 211)
    assert {k: v[0] for k, v in r.outside.items()} == {
        "energy": 2,
        "theta": 2,
        "phi": 1,  # row 2 at normal incidence has no azimuth to compare
        "impact_x": 1,
    }
    assert r.n_outside == 4
    text = r.describe()
    assert "energy 1000..1e+05 MeV (2 outside)" in text and "theta 5..10 deg (2 outside)" in text
    assert "impact_x -5..5 mm (1 outside)" in text
    inside = check_ranges(cond.select(np.array([0])).select(slice(0, 0)), trained)
    assert inside.outside == {} and inside.n_outside == 0


def test_an_azimuth_range_over_the_whole_circle_holds_every_azimuth() -> None:
    """Azimuths spread over 0-360 degrees: no azimuth is outside, not even one beyond the
    extremes of the training sample (the azimuth is periodic)."""
    phi = np.linspace(-179.5, 179.5, 500)
    trained = condition_ranges(
        Conditions.create(np.full(500, 1e4), 22, _tilted([10.0] * 500, list(phi)))
    )
    cond = Conditions.create([1e4, 1e4], 22, _tilted([10.0, 10.0], [180.0, -179.9]))
    assert check_ranges(cond, trained).outside == {}
    # a half circle is still an arc with bounds
    half = condition_ranges(Conditions.create([1e4, 1e4], 22, _tilted([10.0, 10.0], [0.0, 180.0])))
    assert (
        check_ranges(Conditions.create([1e4], 22, _tilted([10.0], [-90.0])), half).outside["phi"][0]
        == 1
    )
