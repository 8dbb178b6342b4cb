"""The documented minimum number of showers per class of each metric.

Below its minimum a metric is skipped with a warning, and ``metrics.json`` and the report
say so, rather than quoting a number whose error makes it meaningless (a classifier AUC
from 20 showers per class carries an error of about 0.3).

| metric | minimum per class | why |
|---|---|---|
| ``observables`` | 50 | separation power and chi2 over at least 10 bins of ~5 entries |
| ``physics_distances`` | 200 | FPD is extrapolated from subsets of N/10 showers (>= 20) |
| ``classifier`` | 200 | test split of >= 40 per class: AUC error <= 0.065 for identical samples |
| ``memorisation`` | 200 | near-copy fraction of 1 % is >= 2 showers, held-out scale from >= 200 |
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

log = logging.getLogger(__name__)

MINIMUM_PER_CLASS: Mapping[str, int] = {
    "observables": 50,
    "physics_distances": 200,
    "classifier": 200,
    "memorisation": 200,
}
"""Metric -> the fewest showers per sample (class) it is computed from."""


def below_minimum(metric: str, n: int, comparison: str) -> str | None:
    """The reason to skip ``metric`` for ``n`` showers per class, logged as a warning, or
    ``None`` when ``n`` reaches the metric's minimum.

    Arguments:
        metric: a key of :data:`MINIMUM_PER_CLASS`.
        n: showers per class available to the metric (the smaller sample).
        comparison: name of the comparison, for the message.
    """
    minimum = MINIMUM_PER_CLASS[metric]
    if n >= minimum:
        return None
    reason = f"skipped: {n} showers per class, fewer than the minimum of {minimum}"
    log.warning("%s: %s %s", comparison, metric.replace("_", " "), reason)
    return reason


__all__ = ["MINIMUM_PER_CLASS", "below_minimum"]
