"""The one condition layout shared by simulation, data files and every model.

A shower is generated for conditions: the incident energy (MeV), the particle (PDG code),
the incidence direction (unit vector) and the impact point (mm, where the particle's
straight-line trajectory crosses the calorimeter front face z = 0). Models turn them into
a float feature matrix with :func:`condition_features`, in a fixed column order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

PDG_CODES: dict[str, int] = {"e-": 11, "e+": -11, "gamma": 22, "pi+": 211, "pi-": -211}
PARTICLE_NAMES: dict[int, str] = {v: k for k, v in PDG_CODES.items()}

CONDITION_FEATURES = ("log_energy", "particle", "theta", "phi", "impact_x", "impact_y")
"""Names of the model condition features, in column order. ``log_energy`` is
``log(E / 1 GeV)``; ``particle`` is the rank of the PDG code in
``sorted(PDG_CODES.values())``; ``theta`` and ``phi`` are the polar and azimuthal
incidence angles (rad); ``impact_*`` in mm."""


DIRECTION_TOLERANCE = 1e-3
"""Largest accepted | |direction| - 1 | of a stored direction (float32 storage: ~1e-7)."""

CONDITION_FIELDS = ("energy", "particle", "direction", "impact")


class ConditionError(ValueError):
    """A condition value is invalid; ``field`` and ``row`` say where (the first bad row)."""

    def __init__(self, field: str, row: int, problem: str) -> None:
        super().__init__(f"{field} row {row} {problem}")
        self.field, self.row, self.problem = field, row, problem


def check_conditions(
    energy: NDArray[np.floating],
    particle: NDArray[np.integer],
    direction: NDArray[np.floating],
    impact: NDArray[np.floating],
    *,
    unit: bool = True,
) -> None:
    """Validate condition columns, vectorised: energies finite and positive, PDG codes
    known, directions finite and of unit length (within :data:`DIRECTION_TOLERANCE`;
    ``unit=False``: only not zero), impact points finite.

    Raises:
        ConditionError: naming the field (one of :data:`CONDITION_FIELDS`) and its first
            bad row, checked in that order.
    """

    def first(bad: NDArray[np.bool_]) -> int | None:
        return int(np.argmax(bad)) if bad.any() else None

    if (i := first(~np.isfinite(energy) | ~(energy > 0))) is not None:
        raise ConditionError(
            "energy", i, f"is {float(energy[i])}: energies must be finite and positive (MeV)"
        )
    if (i := first(~np.isin(particle, list(PARTICLE_NAMES)))) is not None:
        raise ConditionError(
            "particle",
            i,
            f"is {int(particle[i])}: unknown PDG code; known: {sorted(PARTICLE_NAMES)}",
        )
    for field, values in (("direction", direction), ("impact", impact)):
        if (i := first(~np.isfinite(values).all(axis=1))) is not None:
            raise ConditionError(field, i, f"is {values[i].tolist()}: values must be finite")
    norm = np.linalg.norm(direction, axis=1)
    bad = np.abs(norm - 1.0) > DIRECTION_TOLERANCE if unit else ~(norm > 0)
    if (i := first(bad)) is not None:
        need = f"unit length (within {DIRECTION_TOLERANCE:g})" if unit else "a non-zero length"
        raise ConditionError(
            "direction", i, f"has length {float(norm[i]):.6g}: directions must have {need}"
        )


def particle_code(name_or_code: str | int) -> int:
    """PDG code of a particle name (``"gamma"``) or code; ValueError if unknown."""
    if isinstance(name_or_code, str):
        if name_or_code not in PDG_CODES:
            raise ValueError(f"unknown particle {name_or_code!r}; known: {', '.join(PDG_CODES)}")
        return PDG_CODES[name_or_code]
    if int(name_or_code) not in PARTICLE_NAMES:
        raise ValueError(f"unknown PDG code {name_or_code!r}; known: {sorted(PARTICLE_NAMES)}")
    return int(name_or_code)


@dataclass(frozen=True)
class Conditions:
    """Per-shower conditions, all arrays with the same first dimension N.

    Arguments:
        energy: (N,) incident energy, MeV.
        particle: (N,) PDG code.
        direction: (N, 3) unit incidence direction.
        impact: (N, 3) impact point on the front face, mm (z = 0).
    """

    energy: NDArray[np.float64]
    particle: NDArray[np.int64]
    direction: NDArray[np.float64]
    impact: NDArray[np.float64]

    def __post_init__(self) -> None:
        n = len(self.energy)
        for name in ("particle", "direction", "impact"):
            if len(getattr(self, name)) != n:
                raise ValueError(
                    f"conditions: {name} has {len(getattr(self, name))} rows, energy has {n}"
                )

    def __len__(self) -> int:
        return len(self.energy)

    @classmethod
    def create(
        cls,
        energy: ArrayLike,
        particle: str | int | ArrayLike = "gamma",
        direction: ArrayLike = (0.0, 0.0, 1.0),
        impact: ArrayLike = (0.0, 0.0, 0.0),
    ) -> Conditions:
        """Broadcast scalars / single vectors to N showers, validate them
        (:func:`check_conditions`; directions need only be non-zero) and normalise the
        directions.

        Raises:
            ConditionError: naming the field and the first bad row.
        """
        e = np.atleast_1d(np.asarray(energy, dtype=np.float64)).reshape(-1)
        n = len(e)
        if isinstance(particle, str | int):
            p = np.full(n, particle_code(particle), dtype=np.int64)
        else:
            items = np.asarray(particle).reshape(-1)
            if items.dtype.kind in "US":
                items = np.asarray([particle_code(str(v)) for v in items.tolist()])
            p = np.broadcast_to(items.astype(np.int64), (n,)).copy()
        d = np.broadcast_to(np.asarray(direction, dtype=np.float64), (n, 3)).copy()
        i = np.broadcast_to(np.asarray(impact, dtype=np.float64), (n, 3)).copy()
        check_conditions(e, p, d, i, unit=False)
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        return cls(e, p, d, i)

    def select(self, index: slice | NDArray[np.int64] | NDArray[np.bool_]) -> Conditions:
        """Conditions of a subset of showers."""
        return Conditions(
            self.energy[index], self.particle[index], self.direction[index], self.impact[index]
        )

    @staticmethod
    def concatenate(parts: list[Conditions]) -> Conditions:
        return Conditions(
            np.concatenate([c.energy for c in parts]),
            np.concatenate([c.particle for c in parts]),
            np.concatenate([c.direction for c in parts]),
            np.concatenate([c.impact for c in parts]),
        )


def condition_features(
    cond: Conditions, names: tuple[str, ...] = CONDITION_FEATURES
) -> NDArray[np.float32]:
    """(N, len(names)) float32 model inputs, columns in the order of ``names``.

    ``names`` is a subset of :data:`CONDITION_FEATURES`; a model declares the subset it uses.
    """
    cols = []
    particles = list(PDG_CODES.values())
    for name in names:
        if name == "log_energy":
            cols.append(np.log(cond.energy / 1000.0))
        elif name == "particle":
            cols.append(np.searchsorted(np.sort(particles), cond.particle).astype(np.float64))
        elif name == "theta":
            cols.append(_angles(cond.direction)[0])
        elif name == "phi":
            cols.append(_angles(cond.direction)[1])
        elif name == "impact_x":
            cols.append(cond.impact[:, 0])
        elif name == "impact_y":
            cols.append(cond.impact[:, 1])
        else:
            raise ValueError(
                f"unknown condition feature {name!r}; known: {', '.join(CONDITION_FEATURES)}"
            )
    return np.stack(cols, axis=1).astype(np.float32)


def _angles(direction: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(theta, phi) of unit directions, rad; phi in (-pi, pi]."""
    theta = np.arccos(np.clip(direction[:, 2], -1.0, 1.0))
    return theta, np.arctan2(direction[:, 1], direction[:, 0])


_NORMAL_INCIDENCE = 1e-9
"""sin(theta) below which the azimuth of a direction is undefined (not recorded)."""


def condition_ranges(cond: Conditions) -> dict[str, Any]:
    """The compact record of a set of conditions (e.g. a model's training conditions).

    Returns:
        Plain Python types: ``particles`` (sorted PDG codes), ``energy`` [min, max] MeV,
        ``theta`` and ``phi`` [min, max] rad (``phi`` None when every direction is along
        the z axis, where the azimuth is undefined), ``impact_x`` and ``impact_y``
        [min, max] mm, and ``showers`` (how many). The keys read by
        :class:`caloforge.deploy.runtime.TrainedRange` have the same meaning there.
    """
    if len(cond) == 0:
        raise ValueError("conditions: no rows to take ranges of")
    theta, phi = _angles(cond.direction)
    tilted = np.sin(theta) > _NORMAL_INCIDENCE

    def span(x: NDArray[np.float64]) -> list[float]:
        return [float(x.min()), float(x.max())]

    return {
        "particles": sorted(int(p) for p in np.unique(cond.particle)),
        "energy": span(cond.energy),
        "theta": span(theta),
        "phi": span(phi[tilted]) if tilted.any() else None,
        "impact_x": span(cond.impact[:, 0]),
        "impact_y": span(cond.impact[:, 1]),
        "showers": len(cond),
    }


ENERGY_SLACK = 0.005
"""Relative slack at the energy bounds of a trained range: the extremes of a training sample
fall short of its distribution's bounds (by about 0.02 % for 20,000 log-uniform showers over
1-100 GeV, 0.5 % for 1,000), and a model is smooth over such a gap."""

FULL_CIRCLE_SLACK = 0.005
"""Relative slack of a recorded azimuth range against the full circle: a training sample of
azimuths spread over 0-360 degrees spans 2 pi less its largest gap (about 0.4 degrees for
1,000 showers); a range within this fraction of 2 pi covers every azimuth, since the
azimuth is periodic."""

_RANGE_TOLERANCE = {
    "energy": ENERGY_SLACK, "theta": 1e-6, "phi": 1e-6, "impact_x": 1e-3, "impact_y": 1e-3
}
"""Slack at the bounds of a recorded range: relative for energies, rad for angles, mm."""
_RANGE_UNITS = {"energy": "MeV", "theta": "rad", "phi": "rad", "impact_x": "mm", "impact_y": "mm"}


@dataclass(frozen=True)
class RangeCheck:
    """How a set of conditions compares with a record of :func:`condition_ranges`.

    Arguments:
        unknown_particles: PDG codes that are not in the record's particle set.
        outside: condition name -> (number of rows outside, recorded [min, max]).
        n_outside: rows with at least one continuous condition outside its range.
    """

    unknown_particles: tuple[int, ...]
    outside: dict[str, tuple[int, tuple[float, float]]]
    n_outside: int

    def describe(self) -> str:
        """``energy 1000..1e+05 MeV (3 outside), theta 0..20 deg (1 outside)``."""
        parts = []
        for name, (k, (lo, hi)) in self.outside.items():
            unit = _RANGE_UNITS[name]
            if unit == "rad":
                lo, hi, unit = math.degrees(lo), math.degrees(hi), "deg"
            parts.append(f"{name} {lo:.4g}..{hi:.4g} {unit} ({k} outside)")
        return ", ".join(parts)


def check_ranges(cond: Conditions, ranges: dict[str, Any]) -> RangeCheck:
    """Compare conditions with a recorded range (e.g. a checkpoint's training conditions).

    The azimuth is compared only for tilted directions, only when the record has one, and
    not at all when the record covers the whole circle (:data:`FULL_CIRCLE_SLACK`).
    """
    known = np.asarray(ranges["particles"], dtype=np.int64)
    unknown = tuple(
        sorted(int(p) for p in np.unique(cond.particle[~np.isin(cond.particle, known)]))
    )
    theta, phi = _angles(cond.direction)
    values = {
        "energy": cond.energy,
        "theta": theta,
        "phi": phi,
        "impact_x": cond.impact[:, 0],
        "impact_y": cond.impact[:, 1],
    }
    tilted = np.sin(theta) > _NORMAL_INCIDENCE
    any_outside = np.zeros(len(cond), dtype=bool)
    outside: dict[str, tuple[int, tuple[float, float]]] = {}
    for name, x in values.items():
        if ranges.get(name) is None:
            continue
        lo, hi = (float(v) for v in ranges[name])
        if name == "phi" and hi - lo >= 2 * math.pi * (1 - FULL_CIRCLE_SLACK):
            continue  # the whole circle: no azimuth lies outside it
        tol = _RANGE_TOLERANCE[name]
        if name == "energy":
            bad = (x < lo * (1 - tol)) | (x > hi * (1 + tol))
        else:
            bad = (x < lo - tol) | (x > hi + tol)
        if name == "phi":
            bad &= tilted
        if bad.any():
            outside[name] = (int(bad.sum()), (lo, hi))
            any_outside |= bad
    return RangeCheck(unknown, outside, int(any_outside.sum()))
