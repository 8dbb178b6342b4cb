"""Where the CPU time of fast-simulated events goes, from the columns a run records.

A run with ``--fastsim`` records per event its ``cpu_time`` and the parts measured in the
worker (seconds): ``time_primary`` (the primary generator: Geant4's start of the event),
``time_stacking`` (the Python stacking calls, inside Python), ``time_model`` (the event's
share, by tracks, of the batched model calls) and ``time_deposit`` (reading the scored
hits into voxels and adding the model's showers). The remainder is Geant4's transport
(to the front face and, for the tracks left to it, through the calorimeter) and its
per-track overhead (including the Python/C++ crossing of the stacking action).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

PARTS = ("primary", "transport", "stacking", "model", "deposit")
"""The parts of an event's CPU time, in the order of an event."""


def cpu_profile(columns: Mapping[str, NDArray[np.float64]]) -> dict[str, float]:
    """Mean CPU time per event (ms) of each part of :data:`PARTS` and ``total``.

    Arguments:
        columns: ``cpu_time`` and the ``time_*`` columns of a fast-simulation run.

    Raises:
        KeyError: a column is missing (the run did not use fast simulation).
    """
    total = np.asarray(columns["cpu_time"], dtype=np.float64)
    parts = {
        p: np.asarray(columns[f"time_{p}"], dtype=np.float64) for p in PARTS if p != "transport"
    }
    parts["transport"] = total - sum(parts.values())
    out = {p: 1000.0 * float(parts[p].mean()) if len(total) else 0.0 for p in PARTS}
    out["total"] = 1000.0 * float(total.mean()) if len(total) else 0.0
    return out


__all__ = ["PARTS", "cpu_profile"]
