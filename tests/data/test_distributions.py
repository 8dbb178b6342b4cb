"""Distribution strings of the conditions: energies, angles, impact points, particles."""

from __future__ import annotations

import numpy as np
import pytest

from caloforge.data import PDG_CODES
from caloforge.data.distributions import (
    condition_spec,
    parse_angle,
    parse_energy,
    parse_impact,
    parse_particles,
    parse_quantity,
)
from caloforge.geometry import load_detector


@pytest.mark.parametrize(
    ("text", "kind", "values"),
    [
        ("10GeV", "fixed", (1e4,)),
        ("1TeV", "fixed", (1e6,)),
        ("1500 MeV", "fixed", (1500.0,)),
        ("list:1GeV,10GeV", "list", (1e3, 1e4)),
        ("uniform:1GeV,100GeV", "uniform", (1e3, 1e5)),
        ("loguniform:1GeV,100GeV", "loguniform", (1e3, 1e5)),
    ],
)
def test_parse(text: str, kind: str, values: tuple[float, ...]) -> None:
    spec = parse_energy(text)
    assert spec.kind == kind
    assert spec.values == pytest.approx(values)


def test_500mev_is_parsed_then_refused_by_range() -> None:
    assert parse_quantity("500MeV") == 500.0
    assert parse_energy("500MeV", check_range=False).values == (500.0,)
    with pytest.raises(ValueError, match=r"500MeV.*1GeV\.\.1TeV"):
        parse_energy("500MeV")


@pytest.mark.parametrize(
    "bad",
    [
        "10",
        "10 parsecs",
        "gauss:1GeV,2GeV",
        "uniform:10GeV",
        "uniform:10GeV,1GeV",
        "list:",
        "2TeV",
        "loguniform:1GeV,2TeV",
    ],
)
def test_bad_spec_names_the_value(bad: str) -> None:
    with pytest.raises(ValueError, match=bad.split(":")[0][:5]):
        parse_energy(bad)


def test_sampling_is_within_bounds_and_log_uniform() -> None:
    spec = parse_energy("loguniform:1GeV,100GeV")
    rng = np.random.default_rng(0)
    e = np.array([spec.sample(rng, i) for i in range(4000)])
    assert e.min() >= 1e3 and e.max() <= 1e5
    # log-uniform: half of the events below the geometric mean
    assert np.mean(e < 1e4) == pytest.approx(0.5, abs=0.03)
    cycled = parse_energy("list:1GeV,10GeV")
    assert [cycled.sample(rng, i) for i in range(4)] == [1e3, 1e4, 1e3, 1e4]


@pytest.mark.parametrize(
    ("name", "text", "kind", "values"),
    [
        ("theta", "10", "fixed", (10.0,)),
        ("theta", "uniform:0,20", "uniform", (0.0, 20.0)),
        ("theta", "list:0,5,89.9", "list", (0.0, 5.0, 89.9)),
        ("phi", "uniform:0,360", "uniform", (0.0, 360.0)),
        ("phi", "-45", "fixed", (-45.0,)),
    ],
)
def test_angles(name: str, text: str, kind: str, values: tuple[float, ...]) -> None:
    spec = parse_angle(text, name)
    assert (spec.kind, spec.values, spec.text) == (kind, pytest.approx(values), text)


@pytest.mark.parametrize(
    ("name", "text", "match"),
    [
        ("theta", "90", r"theta '90': values must lie in \[0, 90\) degrees"),
        ("theta", "uniform:0,95", r"theta 'uniform:0,95'"),
        ("theta", "-1", r"theta '-1'"),
        ("theta", "loguniform:1,10", "unknown distribution 'loguniform'"),
        ("theta", "uniform:0", "two bounds"),
        ("theta", "nan", "not a finite number"),
        ("theta", "ten", "^theta 'ten' is not a number$"),  # a single value is named once
        ("theta", "list:1,ten", "^theta 'list:1,ten': 'ten' is not a number$"),
        ("phi", "uniform:0,400", r"phi 'uniform:0,400'"),
        ("phi", "gauss:0,1", "unknown distribution 'gauss'"),
    ],
)
def test_bad_angles_name_the_condition_and_value(name: str, text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_angle(text, name)


@pytest.mark.parametrize(
    ("text", "x", "y"),
    [
        ("3,-4", ("fixed", (3.0,)), ("fixed", (-4.0,))),
        ("uniform:-20,20", ("uniform", (-20.0, 20.0)), ("uniform", (-20.0, 20.0))),
        ("uniform:-20,20/0", ("uniform", (-20.0, 20.0)), ("fixed", (0.0,))),
        ("list:-5,5/uniform:0,1", ("list", (-5.0, 5.0)), ("uniform", (0.0, 1.0))),
    ],
)
def test_impact(text: str, x: tuple, y: tuple) -> None:
    ax, ay = parse_impact(text, half_size=(200.0, 200.0))
    assert (ax.kind, ax.values) == x and (ay.kind, ay.values) == y


def test_impact_spread_is_a_uniform_square_around_the_point() -> None:
    ax, ay = parse_impact((1.0, 2.0), spread=10.0)
    assert (ax.kind, ax.values, ay.values) == ("uniform", (-4.0, 6.0), (-3.0, 7.0))
    assert parse_impact(None, centre=(2.5, 2.5))[0].values == (2.5,)


@pytest.mark.parametrize(
    ("text", "spread", "match"),
    [
        ("1,2,3", 0.0, "expected 'x,y'"),
        ("a,b", 0.0, "'a' is not a number"),
        ("uniform:-20,20/0/1", 0.0, "DISTX/DISTY"),
        ("loguniform:1,2", 0.0, "unknown distribution"),
        ("uniform:-300,0", 0.0, r"x from -300 to 0 mm leaves the front face"),
        ("0,0", -1.0, "impact_spread=-1"),
        ("uniform:-1,1", 2.0, "already a distribution"),
    ],
)
def test_bad_impacts(text: str, spread: float, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_impact(text, spread=spread, half_size=(200.0, 200.0))


@pytest.mark.parametrize(
    ("text", "codes", "weights"),
    [
        ("gamma", (22,), (1.0,)),
        ("gamma,e-,e+", (22, 11, -11), (1 / 3, 1 / 3, 1 / 3)),
        ("gamma:0.5, e-:0.25, e+:0.25", (22, 11, -11), (0.5, 0.25, 0.25)),
        ("211", (211,), (1.0,)),
    ],
)
def test_particles(text: str, codes: tuple, weights: tuple) -> None:
    mix = parse_particles(text)
    assert mix.codes == codes and mix.weights == pytest.approx(weights)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("mu-", "unknown particle 'mu-'"),
        ("gamma,gamma", "given twice"),
        ("gamma:0.5,e-:0.4", "sum to 0.9, not 1"),
        ("gamma:0.5,e-", "every particle or to none"),
        ("gamma:-1,e-:2", "weight '-1' must be a positive number"),
        ("gamma,", "empty particle name"),
    ],
)
def test_bad_particle_mixtures(text: str, match: str) -> None:
    with pytest.raises(ValueError, match=f"particle {text!r}: .*{match}"):
        parse_particles(text)


def test_mixture_draws_follow_the_weights() -> None:
    mix = parse_particles("gamma:0.5,e-:0.3,e+:0.2")
    rng = np.random.default_rng(1)
    drawn = np.array([mix.sample(rng) for _ in range(20_000)])
    assert [np.mean(drawn == c) for c in mix.codes] == pytest.approx([0.5, 0.3, 0.2], abs=0.015)


def test_negative_energies_are_refused_even_without_the_range_check() -> None:
    with pytest.raises(ValueError, match="energy '-5GeV': energies must be positive"):
        parse_energy("-5GeV", check_range=False)


def test_condition_spec_takes_the_gun_for_what_is_not_given() -> None:
    det = load_detector("atlas-pblar")
    spec = condition_spec(det, energy="10GeV")
    cond = spec.conditions(1, np.arange(4))
    assert np.all(cond.particle == PDG_CODES[det.gun.particle])
    assert cond.direction == pytest.approx(np.tile(det.gun.direction, (4, 1)))
    assert cond.energy == pytest.approx(1e4)
    spread = condition_spec(det, energy="10GeV", theta="uniform:0,20", phi="uniform:0,360")
    assert spread.describe()["theta"] == "uniform:0,20"
    # per-event generators: a subset of events is the same as drawn among all
    full, part = spread.conditions(7, np.arange(10)), spread.conditions(7, np.array([4, 9]))
    assert np.array_equal(full.direction[[4, 9]], part.direction)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("nan", r"^energy 'nan' is not a number with a unit"),
        ("10", r"^energy '10' is not a number with a unit"),
        ("list:1GeV,x", r"^energy 'list:1GeV,x': 'x' is not a number with a unit"),
    ],
)
def test_bad_energy_names_the_value_once(text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_energy(text)
