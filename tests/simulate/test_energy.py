"""Energy specification strings."""

from __future__ import annotations

import numpy as np
import pytest

from caloforge.simulate.energy import parse_energy, parse_quantity


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
