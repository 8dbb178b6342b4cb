"""The layer energies' correlations (caloforge.evaluate.correlations) on inputs whose
coefficients are known by construction."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import numpy as np
import pytest
from toy_showers import make_toy_showers

from caloforge.evaluate.correlations import (
    MAX_TABLE_ROWS,
    correlation_difference,
    correlation_html,
    correlation_section,
    layer_correlation,
    summary_layer_energies,
)
from caloforge.evaluate.observables import layer_energies, summarise_arrays
from caloforge.geometry import Detector


def _layers(n: int, seed: int) -> np.ndarray:
    """Five layers: a, 2a + a little noise (rho ~ 1), -a + as much noise (rho ~ -0.71),
    an independent one (rho ~ 0) and one always empty (no correlation)."""
    rng = np.random.default_rng(seed)
    a = rng.gamma(4.0, 10.0, n)
    return np.stack(
        [
            a,
            2 * a + 0.01 * a.std() * rng.standard_normal(n),
            100 - a + a.std() * rng.standard_normal(n),
            rng.gamma(4.0, 10.0, n),
            np.zeros(n),
        ],
        axis=1,
    )


def test_known_correlations_shape_and_symmetry() -> None:
    e = _layers(20_000, seed=1)
    r = layer_correlation(e)
    assert r.shape == (5, 5)
    varying = r[:4, :4]
    np.testing.assert_allclose(varying, varying.T, atol=1e-15)
    np.testing.assert_allclose(varying, np.corrcoef(e[:, :4], rowvar=False), atol=1e-12)
    np.testing.assert_array_equal(np.diag(varying), 1.0)
    assert r[0, 1] > 0.999
    assert r[0, 2] == pytest.approx(-1 / np.sqrt(2), abs=0.02)
    assert abs(r[0, 3]) < 0.03
    assert (np.abs(varying) <= 1.0).all()


def test_a_layer_without_variance_is_undefined_not_an_error() -> None:
    e = _layers(200, seed=2)
    e[:, 3] = 7.5  # constant but not zero: still no variance
    r = layer_correlation(e)  # warnings are errors in the tests: none is raised
    assert np.isnan(r[3]).all() and np.isnan(r[:, 3]).all()
    assert np.isnan(r[4]).all() and np.isfinite(r[:3, :3]).all()
    assert np.isnan(layer_correlation(e[:1])).all()  # one shower: nothing is defined
    assert layer_correlation(np.zeros((0, 3))).shape == (3, 3)
    with pytest.raises(ValueError, match="n_layers"):
        layer_correlation(np.zeros(5))


def test_largest_difference_names_its_pair_and_the_undefined_ones() -> None:
    ref = layer_correlation(_layers(5_000, seed=3))
    other = ref.copy()
    other[1, 3] = other[3, 1] = ref[1, 3] + 0.2
    other[0, 2] = other[2, 0] = ref[0, 2] - 0.05
    d = correlation_difference(ref, other)
    assert d.value == pytest.approx(0.2) and d.pair == (1, 3)
    assert (d.pairs, d.undefined) == (6, 0)  # the 4 varying layers make 6 pairs
    assert correlation_difference(ref, ref).value == 0.0

    flat = ref.copy()
    flat[0, :] = flat[:, 0] = np.nan  # the other sample's layer 0 does not vary
    d = correlation_difference(ref, flat)
    assert (d.pairs, d.undefined) == (6, 3) and d.pair is not None and 0 not in d.pair
    # matrices read back from metrics.json carry None for undefined coefficients
    as_json = [[None if np.isnan(x) else float(x) for x in row] for row in flat]
    assert correlation_difference(ref, as_json) == d
    nothing = correlation_difference(np.full((2, 2), np.nan), np.eye(2))
    assert (nothing.value, nothing.pair, nothing.pairs) == (None, None, 0)
    with pytest.raises(ValueError, match="shapes"):
        correlation_difference(np.eye(3), np.eye(2))


def test_section_floor_and_json() -> None:
    from caloforge.evaluate.report import _clean

    ref = _layers(4_000, seed=4)
    same = _layers(4_000, seed=5)
    decorrelated = same.copy()
    decorrelated[:, 1] = np.random.default_rng(6).permutation(decorrelated[:, 1])
    section = correlation_section(ref, {"same": same, "decorrelated": decorrelated})
    assert section["layers"] == 5
    assert set(section["samples"]) == {"reference", "same", "decorrelated"}
    assert set(section["floor"]) == {"reference_even", "reference_odd"}
    np.testing.assert_allclose(section["floor"]["reference_odd"], layer_correlation(ref[1::2]))
    diffs = section["max_abs_difference"]
    assert diffs["candidates"]["same"]["value"] < 0.05
    assert diffs["floor"]["value"] < 0.05
    worst = diffs["candidates"]["decorrelated"]
    assert worst["value"] > 0.9 and worst["pair"] == (0, 1)
    # written as metrics.json writes it: undefined coefficients become null
    text = json.dumps(_clean(section))
    back = json.loads(text)
    assert back["samples"]["reference"][4] == [None] * 5
    assert back["samples"]["reference"][0][0] == 1.0


class _Cells(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])

    def handle_data(self, data: str) -> None:
        if self.rows:
            self.rows[-1].append(data)


def test_report_table() -> None:
    from caloforge.evaluate.report import _clean

    ref = _layers(1_000, seed=7)
    cand = ref.copy()
    cand[:, 2] = np.random.default_rng(8).permutation(cand[:, 2])
    section = _clean(correlation_section(ref, {"cand": cand}))
    page = correlation_html(section)
    parser = _Cells()
    parser.feed(page)
    head, *pairs, last = parser.rows
    assert head == ["layer pair", "reference", "cand", "reference_even", "reference_odd"]
    assert len(pairs) == 10  # every pair of the 5 layers
    assert pairs[0][:3] == ["layers 0–1", "1.000", "1.000"]  # rounded from above 0.9999
    assert all(row[1:] == ["–"] * 4 for row in pairs if row[0].endswith("–4"))
    assert last[0] == "largest |Δ| from the reference" and "layers 0–2" in last[1]
    assert correlation_html(None) == ""

    many = correlation_html(_clean(correlation_section(_layers(300, seed=9).repeat(4, axis=1), {})))
    parser = _Cells()
    parser.feed(many)
    assert len(parser.rows) == 1 + MAX_TABLE_ROWS + 1 and "of 190 pairs" in many


def test_layer_energies_of_a_summary(atlas: Detector) -> None:
    s, c = make_toy_showers(atlas, 40, 11)
    summary = summarise_arrays(s, c, atlas)
    np.testing.assert_allclose(
        summary_layer_energies(summary), layer_energies(s.astype(np.float64), atlas), rtol=1e-9
    )
