"""Memorisation check: does a generator copy its training showers?

A shower library (or an over-fitted model) passes every two-sample test against the
reference, because its showers *are* full-simulation showers. What gives it away is that
its showers are closer to the training set than fresh full simulation can be. For each
shower, the distance to its nearest training shower with nearby conditions (the training
showers nearest in log incident energy) is computed on shower shapes (voxels divided by
the shower's visible energy, so that a copy rescaled to another energy is still a copy);
the same distance for held-out full-simulation showers sets the
scale. Candidates closer than the ``percentile``-th percentile of the held-out distances
are near-copies; a faithful generator has about ``percentile`` % of them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]


def normalised_voxels(showers: NDArray[Any]) -> Array:
    """Shower shapes: voxel energies divided by the shower's visible energy, (N, n_voxels)
    (zero for empty showers)."""
    s = np.asarray(showers, dtype=np.float64)
    total = s.sum(axis=1, keepdims=True)
    return np.divide(s, total, out=np.zeros_like(s), where=total > 0)


def nearest_distances(
    query: NDArray[Any],
    query_energy: NDArray[Any],
    train: NDArray[Any],
    train_energy: NDArray[Any],
    *,
    n_neighbours: int = 1000,
    block: int = 256,
) -> Array:
    """Euclidean distance of each query row to its nearest training row, among the
    ``n_neighbours`` training rows nearest in log energy.

    Arguments:
        query, train: (N, F) and (M, F) normalised showers.
        query_energy, train_energy: (N,) and (M,) incident energies, MeV.
        n_neighbours: size of the energy window of training showers searched per query.
        block: queries processed at once (bounds memory).

    Returns:
        (N,) distances.
    """
    q = np.asarray(query, dtype=np.float64)
    t = np.asarray(train, dtype=np.float64)
    if q.shape[1] != t.shape[1]:
        raise ValueError(f"query has {q.shape[1]} features, training set {t.shape[1]}")
    order = np.argsort(train_energy)
    t = t[order]
    log_t = np.log(np.asarray(train_energy, dtype=np.float64)[order])
    t2 = (t**2).sum(axis=1)
    log_q = np.log(np.asarray(query_energy, dtype=np.float64))
    k = min(n_neighbours, len(t))
    out = np.empty(len(q))
    q_order = np.argsort(log_q)
    for s in range(0, len(q), block):
        idx = q_order[s : s + block]
        # one window covering the energy neighbours of every query of the block
        pos = np.searchsorted(log_t, log_q[idx])
        lo = int(max(pos.min() - k, 0))
        hi = int(min(pos.max() + k, len(t)))
        d2 = (q[idx] ** 2).sum(axis=1)[:, None] + t2[None, lo:hi] - 2 * q[idx] @ t[lo:hi].T
        # restrict each query to its own k neighbours in energy
        rank = np.abs(log_t[None, lo:hi] - log_q[idx][:, None])
        kth = np.partition(rank, k - 1, axis=1)[:, k - 1 : k]
        d2 = np.where(rank <= kth, d2, np.inf)
        out[idx] = np.sqrt(np.clip(d2.min(axis=1), 0.0, None))
    return out


@dataclass(frozen=True)
class MemorisationResult:
    """Outcome of the memorisation check.

    Attributes:
        threshold: distance below which a shower counts as a near-copy (the
            ``percentile``-th percentile of held-out full-sim distances).
        fraction_near_copies: fraction of candidate showers below ``threshold``.
        expected_fraction: ``percentile / 100``, what fresh full simulation gives.
        fraction_exact_copies: fraction of candidates at distance ~0 (below 1e-4 of the median
            held-out distance: copies up to float32 rounding and rescaling).
        median_candidate, median_heldout: median nearest-training distances.
        flagged: ``fraction_near_copies`` exceeds the expectation by more than 3 binomial
            standard deviations and by a factor 2.
    """

    threshold: float
    fraction_near_copies: float
    expected_fraction: float
    fraction_exact_copies: float
    median_candidate: float
    median_heldout: float
    n_candidate: int
    n_heldout: int
    n_train: int
    flagged: bool

    def to_dict(self) -> dict[str, float | int | bool]:
        return asdict(self)


def memorisation_check(
    candidate_distances: NDArray[Any],
    heldout_distances: NDArray[Any],
    *,
    n_train: int,
    percentile: float = 1.0,
) -> MemorisationResult:
    """Compare nearest-training distances of candidate and held-out full-sim showers."""
    c = np.asarray(candidate_distances, dtype=np.float64)
    h = np.asarray(heldout_distances, dtype=np.float64)
    thr = float(np.percentile(h, percentile))
    frac = float(np.mean(c < thr))
    expected = percentile / 100.0
    sigma = np.sqrt(expected * (1 - expected) / max(len(c), 1))
    scale = float(np.median(h)) if len(h) else 0.0
    exact = float(np.mean(c <= 1e-4 * scale))
    return MemorisationResult(
        thr,
        frac,
        expected,
        exact,
        float(np.median(c)),
        scale,
        len(c),
        len(h),
        n_train,
        bool(frac > expected + 3 * sigma and frac > 2 * expected),
    )


__all__ = ["MemorisationResult", "memorisation_check", "nearest_distances", "normalised_voxels"]
