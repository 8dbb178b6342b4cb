"""Correlations between the readout layers' energies: does a sample share each shower's
energy between the layers as the reference does?

:func:`layer_correlation` is the Pearson correlation matrix of the per-layer visible
energies of a sample; :func:`correlation_difference` the largest difference of two such
matrices over the layer pairs i < j. :func:`correlation_section` computes the matrices of
the reference, of every candidate and of the reference's even and odd rows (the floor), and
the largest difference of each candidate from the reference and of the odd rows from the
even rows: the ``layer_correlations`` section of ``metrics.json``, shown as a table in the
report (:func:`correlation_html`). A layer whose energy does not vary (e.g. always empty)
has no correlation with anything: its coefficients are NaN (``null`` in ``metrics.json``).

Example:
    >>> e = np.array([[1.0, 2.0, 0.0], [2.0, 4.1, 0.0], [3.0, 5.9, 0.0]])
    >>> r = layer_correlation(e)
    >>> print(round(float(r[0, 1]), 3), bool(np.isnan(r[2]).all()))
    0.999 True
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from caloforge.evaluate.observables import SampleSummary

Array = NDArray[np.float64]

FLOOR_HALVES = ("reference_even", "reference_odd")
"""The floor's samples: the reference's even rows (its Geant4) and its odd rows; their
names in every section of ``metrics.json`` that has a floor (the layer correlations, the
conditional statistics) and in the targets."""
MAX_TABLE_ROWS = 30
"""Layer pairs shown in the report (those where a candidate departs most); every pair is
in ``metrics.json``."""


def layer_correlation(energies: NDArray[Any]) -> Array:
    """Pearson correlation matrix of per-layer energies.

    Arguments:
        energies: (N, n_layers) visible energy per readout layer, MeV.

    Returns:
        (n_layers, n_layers) coefficients, 1 on the diagonal; the row and column of a layer
        whose energy does not vary, and every entry for fewer than two showers, are NaN.
    """
    x = np.asarray(energies, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"layer energies must be (N, n_layers), got shape {x.shape}")
    n_layers = x.shape[1]
    out = np.full((n_layers, n_layers), np.nan)
    if len(x) < 2:
        return out
    varies = np.ptp(x, axis=0) > 0  # exact: a constant layer has no variance at all
    c = x[:, varies] - x[:, varies].mean(axis=0)
    norm = np.sqrt((c**2).sum(axis=0))
    with np.errstate(divide="ignore", invalid="ignore"):  # variances below the float range
        r = np.clip((c.T @ c) / np.outer(norm, norm), -1.0, 1.0)
    r[~np.isfinite(r)] = np.nan
    np.fill_diagonal(r, np.where(norm > 0, 1.0, np.nan))
    out[np.ix_(varies, varies)] = r
    return out


def correlation_deviation(reference: NDArray[Any], other: NDArray[Any]) -> Array:
    """|other - reference| of two correlation matrices, NaN where either is undefined
    (NaN, or ``None`` in nested lists read from ``metrics.json``)."""
    a = np.asarray(reference, dtype=np.float64)
    b = np.asarray(other, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"correlation matrices of shapes {a.shape} and {b.shape}")
    return np.abs(b - a)


@dataclass(frozen=True)
class CorrelationDifference:
    """The largest |other - reference| of two layer-correlation matrices over the layer
    pairs i < j.

    Attributes:
        value: the largest difference over the pairs defined in both (``None``: none is).
        pair: its layers (i, j).
        pairs: layer pairs defined in the reference (both layers' energies vary there).
        undefined: of those, the pairs undefined in the other matrix (a layer whose energy
            does not vary there), a difference ``value`` cannot show.
    """

    value: float | None
    pair: tuple[int, int] | None
    pairs: int
    undefined: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def correlation_difference(reference: NDArray[Any], other: NDArray[Any]) -> CorrelationDifference:
    """:class:`CorrelationDifference` of two correlation matrices (arrays, or nested lists
    with ``None`` for undefined coefficients as in ``metrics.json``)."""
    a = np.asarray(reference, dtype=np.float64)
    dev = correlation_deviation(a, other)
    i, j = np.triu_indices(len(a), k=1)
    defined, both = np.isfinite(a[i, j]), np.isfinite(dev[i, j])
    pairs, undefined = int(defined.sum()), int((defined & ~both).sum())
    if not both.any():
        return CorrelationDifference(None, None, pairs, undefined)
    k = int(np.argmax(np.where(both, dev[i, j], -1.0)))
    return CorrelationDifference(float(dev[i[k], j[k]]), (int(i[k]), int(j[k])), pairs, undefined)


def summary_layer_energies(summary: SampleSummary) -> Array:
    """(N, n_layers) visible energy per readout layer of a sample's summary, MeV (from its
    layer fractions and total visible energy)."""
    f = summary.features
    n_layers = sum(1 for k in f if k.startswith("frac_"))
    fractions = np.stack([f[f"frac_{i}"] for i in range(n_layers)], axis=1)
    return np.asarray(fractions * f["e_vis"][:, None], dtype=np.float64)


def correlation_section(
    reference: NDArray[Any], candidates: Mapping[str, NDArray[Any]]
) -> dict[str, Any]:
    """The ``layer_correlations`` section of ``metrics.json`` from (N, n_layers) layer
    energies: ``layers``; ``samples``: the matrix of the reference and of each candidate;
    ``floor``: those of the reference's even and odd rows; ``max_abs_difference``:
    ``candidates`` (each against the reference) and ``floor`` (odd rows against even rows),
    each a :class:`CorrelationDifference`."""
    ref = np.asarray(reference, dtype=np.float64)
    samples = {"reference": layer_correlation(ref)}
    samples |= {k: layer_correlation(v) for k, v in candidates.items()}
    floor = {half: layer_correlation(ref[k::2]) for k, half in enumerate(FLOOR_HALVES)}
    return {
        "layers": ref.shape[1],
        "samples": samples,
        "floor": floor,
        "max_abs_difference": {
            "candidates": {
                k: correlation_difference(samples["reference"], samples[k]).to_dict()
                for k in candidates
            },
            "floor": correlation_difference(*floor.values()).to_dict(),
        },
    }


# ---------------------------------------------------------------------------------------
# the report's table
def _num(x: Any, fmt: str = ".3f") -> str:
    return "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, fmt)


def _coefficient(matrix: Any, i: int, j: int) -> float | None:
    value = matrix[i][j]
    return None if value is None or not math.isfinite(value) else float(value)


def _worst(diff: Mapping[str, Any] | None) -> str:
    if not diff or diff.get("value") is None:
        return "–"
    i, j = diff["pair"]
    lost = f", {diff['undefined']} pairs undefined" if diff.get("undefined") else ""
    return f"{diff['value']:.3f} (layers {i}–{j}{lost})"


def correlation_html(section: Mapping[str, Any] | None) -> str:
    """The report's table of :func:`correlation_section`: per layer pair (those where a
    candidate departs most first, at most :data:`MAX_TABLE_ROWS`) the coefficient of every
    sample, then each one's largest difference from its reference. Empty without a section."""
    if not section:
        return ""
    stats = {**section["samples"], **section["floor"]}
    names = list(stats)
    ref = section["samples"]["reference"]
    cands = [k for k in section["samples"] if k != "reference"]
    pairs = [(i, j) for i in range(section["layers"]) for j in range(i + 1, section["layers"])]

    def departure(pair: tuple[int, int]) -> float:
        r = _coefficient(ref, *pair)
        devs = [
            abs(c - r)
            for k in cands
            if r is not None and (c := _coefficient(stats[k], *pair)) is not None
        ]
        return max(devs, default=-1.0)

    shown = sorted(pairs, key=lambda p: -departure(p))[:MAX_TABLE_ROWS]
    head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
    rows = [
        f"<tr><td>layers {i}–{j}</td>"
        + "".join(f"<td>{_num(_coefficient(stats[n], i, j))}</td>" for n in names)
        + "</tr>"
        for i, j in sorted(shown)
    ]
    diffs = section["max_abs_difference"]
    worst = [_worst(diffs["candidates"].get(n)) if n in cands else "" for n in section["samples"]]
    worst += ["", _worst(diffs["floor"])]
    rows.append(
        "<tr><td>largest |Δ| from the reference</td>"
        + "".join(f"<td>{w}</td>" for w in worst)
        + "</tr>"
    )
    more = (
        f" The {len(shown)} of {len(pairs)} pairs where a candidate departs most are shown; "
        "every pair is in metrics.json."
        if len(shown) < len(pairs)
        else ""
    )
    return (
        "<h2>Layer-energy correlations</h2><p class='note'>Pearson coefficients of the "
        "visible energies of two readout layers, shower by shower. Largest |Δ|: the "
        "largest difference from the reference over the layer pairs (the floor: odd rows "
        f"against even rows). –: a layer whose energy does not vary.{more}</p>"
        f"<table id='layer_correlations'><tr><th>layer pair</th>{head}</tr>{''.join(rows)}"
        "</table>"
    )


__all__ = [
    "FLOOR_HALVES",
    "CorrelationDifference",
    "correlation_deviation",
    "correlation_difference",
    "correlation_html",
    "correlation_section",
    "layer_correlation",
    "summary_layer_energies",
]
