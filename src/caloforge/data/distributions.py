"""Distribution strings for shower conditions and the per-event draw of conditions.

One syntax serves every condition of ``caloforge simulate`` and ``caloforge generate``:

* ``VALUE``: fixed; ``list:V1,V2,...``: event ``i`` takes ``V[i % len]``;
  ``uniform:LOW,HIGH``; ``loguniform:LOW,HIGH`` (energies only).
* Energies carry a unit (``10GeV``, ``500MeV``); angles are in degrees (theta in
  [0, 90), phi in [-360, 360]); impact coordinates in mm.
* Impact point: ``x,y`` (a fixed point), ``DIST`` (each axis drawn from ``DIST``
  independently, e.g. ``uniform:-20,20``) or ``DISTX/DISTY`` (e.g. ``uniform:-20,20/0``).
* Particles: ``gamma``, ``gamma,e-,e+`` (equal parts) or ``gamma:0.5,e-:0.25,e+:0.25``
  (weights summing to one); each event draws its own.

Each event's conditions come from its own generator, seeded by ``(run seed, event
index)`` (:func:`event_seeds`), so that sharding, chunking or resuming gives the same
events. Bad strings raise ``ValueError`` naming the condition and the string.

Example:
    >>> parse_energy("loguniform:1GeV,100GeV").values
    (1000.0, 100000.0)
    >>> parse_particles("gamma:0.5,e-:0.5").codes
    (22, 11)
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from caloforge.data.conditions import PARTICLE_NAMES, Conditions, particle_code
from caloforge.geometry import Detector

E_MIN_MEV = 1.0e3
"""Lowest incident energy of full simulation (1 GeV)."""
E_MAX_MEV = 1.0e6
"""Highest incident energy of full simulation (1 TeV)."""
THETA_MAX_DEG = 90.0
"""Polar angles must stay below this (the particle must enter the front face)."""
PHI_LIMIT_DEG = 360.0
"""Azimuthal angles lie in [-PHI_LIMIT_DEG, PHI_LIMIT_DEG]."""

Kind = Literal["fixed", "list", "uniform", "loguniform"]
KINDS: tuple[Kind, ...] = ("fixed", "list", "uniform", "loguniform")

_UNITS = {"ev": 1e-6, "kev": 1e-3, "mev": 1.0, "gev": 1e3, "tev": 1e6}
_QUANTITY = re.compile(r"^\s*([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([a-zA-Z]+)\s*$")


@dataclass(frozen=True)
class Distribution:
    """A parsed distribution of one scalar condition.

    Arguments:
        kind: ``"fixed"``, ``"list"`` (cycled over events), ``"uniform"`` or ``"loguniform"``.
        values: the value (fixed), the list, or the (low, high) bounds, in caloforge
            units (MeV, mm) or degrees for angles.
        text: the string as written.
    """

    kind: Kind
    values: tuple[float, ...]
    text: str

    def sample(self, rng: np.random.Generator, index: int) -> float:
        """Value of event ``index``; ``rng`` is that event's own generator (fixed and
        list kinds draw nothing from it)."""
        if self.kind == "fixed":
            return self.values[0]
        if self.kind == "list":
            return self.values[index % len(self.values)]
        lo, hi = self.values
        if self.kind == "uniform":
            return float(rng.uniform(lo, hi))
        return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))

    @property
    def bounds(self) -> tuple[float, float]:
        """(lowest, highest) value the distribution can give."""
        return min(self.values), max(self.values)

    @property
    def is_fixed(self) -> bool:
        return self.kind == "fixed"


EnergySpec = Distribution
"""An energy distribution (MeV)."""


def fixed(value: float, text: str | None = None) -> Distribution:
    """A fixed value."""
    return Distribution("fixed", (float(value),), text if text is not None else f"{value:g}")


def parse_distribution(
    text: str,
    *,
    name: str,
    value: Callable[[str], float],
    kinds: Sequence[Kind] = KINDS,
) -> Distribution:
    """Parse ``VALUE``, ``list:...``, ``uniform:LOW,HIGH`` or ``loguniform:LOW,HIGH``.

    Arguments:
        text: the string.
        name: the condition, for error messages (``"energy"``, ``"theta"``, ...).
        value: parses one value (raises ValueError).
        kinds: the kinds accepted for this condition.

    Raises:
        ValueError: ``"<name> '<text>': <reason>"``; a single value that does not parse
            is named once, ``"<name> '<value>' is not ..."``.
    """

    def one(item: str) -> float:
        # a single value is named once: "energy 'x' is not ...", not "energy 'x': 'x' is not ..."
        where = name if item.strip() == text.strip() else f"{name} {text!r}:"
        try:
            v = value(item.strip())
        except ValueError as exc:
            raise ValueError(f"{where} {exc}") from None
        if not math.isfinite(v):
            raise ValueError(f"{where} {item.strip()!r} is not a finite number")
        return v

    head, sep, tail = text.partition(":")
    kind = head.strip().lower()
    if not sep:
        return Distribution("fixed", (one(text),), text)
    named = [k for k in kinds if k != "fixed"]
    if kind not in named:
        raise ValueError(
            f"{name} {text!r}: unknown distribution {head!r}; use "
            + ", ".join(f"{k}:" for k in named)
        )
    items = [s for s in tail.split(",") if s.strip()]
    if not items:
        raise ValueError(f"{name} {text!r}: no values after {head}:")
    values = tuple(one(s) for s in items)
    if kind == "list":
        return Distribution("list", values, text)
    if len(values) != 2 or not values[0] < values[1]:
        raise ValueError(f"{name} {text!r}: {kind} needs two bounds LOW,HIGH with LOW < HIGH")
    if kind == "loguniform" and values[0] <= 0:
        raise ValueError(f"{name} {text!r}: loguniform needs positive bounds")
    return Distribution(kind, values, text)


def parse_quantity(text: str) -> float:
    """``"10GeV"`` -> 10000.0 (MeV). A bare number is refused (the unit is required)."""
    m = _QUANTITY.match(text)
    if not m or m.group(2).lower() not in _UNITS:
        raise ValueError(
            f"{text!r} is not a number with a unit (eV, keV, MeV, GeV, TeV), e.g. '10GeV'"
        )
    return float(m.group(1)) * _UNITS[m.group(2).lower()]


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None


def _check_bounds(
    spec: Distribution, name: str, low: float, high: float, unit: str, *, open_high: bool = False
) -> Distribution:
    lo, hi = spec.bounds
    if lo < low or hi > high or (open_high and hi >= high):
        limit = f"[{low:g}, {high:g}{')' if open_high else ']'}"
        raise ValueError(f"{name} {spec.text!r}: values must lie in {limit} {unit}")
    return spec


def parse_energy(spec: str | float | Distribution, *, check_range: bool = True) -> Distribution:
    """Parse an energy distribution; a float is a fixed energy in MeV.

    Arguments:
        spec: ``"10GeV"``, ``"500MeV"``, ``"list:1GeV,10GeV"``, ``"uniform:1GeV,100GeV"``,
            ``"loguniform:1GeV,100GeV"``, a float in MeV, or a :class:`Distribution`.
        check_range: refuse energies outside 1 GeV..1 TeV (full simulation's range);
            energies must be positive in any case.

    Raises:
        ValueError: naming the bad specification.
    """
    if isinstance(spec, Distribution):
        parsed = spec
    elif isinstance(spec, int | float) and not isinstance(spec, bool):
        parsed = fixed(float(spec), f"{float(spec)}MeV")
    elif isinstance(spec, str):
        parsed = parse_distribution(spec, name="energy", value=parse_quantity)
    else:
        raise ValueError(f"energy specification {spec!r} must be a string such as '10GeV'")
    lo, hi = parsed.bounds
    if lo <= 0:
        raise ValueError(f"energy {parsed.text!r}: energies must be positive")
    if check_range and (lo < E_MIN_MEV * (1 - 1e-9) or hi > E_MAX_MEV * (1 + 1e-9)):
        raise ValueError(
            f"energy {parsed.text!r} is outside the supported range 1GeV..1TeV "
            f"(got {lo:g}..{hi:g} MeV)"
        )
    return parsed


def parse_angle(spec: str | float | Distribution, name: str) -> Distribution:
    """``theta`` (degrees in [0, 90)) or ``phi`` (degrees in [-360, 360]) distributions.

    Raises:
        ValueError: a bad string or an angle outside its range, naming both.
    """
    if isinstance(spec, Distribution):
        parsed = spec
    elif isinstance(spec, int | float) and not isinstance(spec, bool):
        parsed = fixed(float(spec), f"{spec:g}")
    else:
        parsed = parse_distribution(
            str(spec), name=name, value=_number, kinds=("fixed", "list", "uniform")
        )
    if name == "theta":
        return _check_bounds(parsed, name, 0.0, THETA_MAX_DEG, "degrees", open_high=True)
    return _check_bounds(parsed, name, -PHI_LIMIT_DEG, PHI_LIMIT_DEG, "degrees")


def parse_impact(
    spec: str | Sequence[float] | None,
    *,
    centre: tuple[float, float] = (0.0, 0.0),
    spread: float = 0.0,
    half_size: tuple[float, float] | None = None,
) -> tuple[Distribution, Distribution]:
    """The (x, y) distributions of the impact point on the front face, mm.

    Arguments:
        spec: ``"x,y"`` or ``(x, y)`` (fixed), ``"DIST"`` (both axes, drawn independently),
            ``"DISTX/DISTY"``; None: ``centre``.
        centre: the impact point when ``spec`` is None (e.g. the detector gun's).
        spread: full width of a square around the fixed point over which the impact
            is spread uniformly (``--impact-spread``); only with a fixed point.
        half_size: (half width, half height) of the front face: impacts outside are
            refused (no shower would be seen).
    """
    if spread < 0 or not math.isfinite(spread):
        raise ValueError(f"impact_spread={spread!r} must be >= 0 mm")
    kinds: tuple[Kind, ...] = ("fixed", "list", "uniform")
    text = ""
    if spec is None:
        axes = (fixed(centre[0]), fixed(centre[1]))
    elif not isinstance(spec, str):
        x, y = (float(v) for v in spec)
        axes = (fixed(x), fixed(y))
        text = f"{x:g},{y:g}"
    else:
        text = spec
        if ":" not in spec and "/" not in spec:
            parts = spec.split(",")
            if len(parts) != 2:
                raise ValueError(
                    f"impact {spec!r}: expected 'x,y' in mm, a distribution such as "
                    "'uniform:-20,20' or 'DISTX/DISTY'"
                )
            axes = (
                parse_distribution(parts[0], name="impact", value=_number, kinds=kinds),
                parse_distribution(parts[1], name="impact", value=_number, kinds=kinds),
            )
        else:
            items = spec.split("/")
            if len(items) > 2 or not all(s.strip() for s in items):
                raise ValueError(f"impact {spec!r}: expected DIST or DISTX/DISTY")
            dists = [
                parse_distribution(s, name="impact", value=_number, kinds=kinds) for s in items
            ]
            axes = (dists[0], dists[-1])
    if spread > 0:
        if not (axes[0].is_fixed and axes[1].is_fixed):
            raise ValueError(
                f"impact_spread={spread:g} spreads a fixed impact point; impact {text!r} "
                "is already a distribution"
            )
        axes = (_spread(axes[0].values[0], spread), _spread(axes[1].values[0], spread))
    if half_size is not None:
        for axis, dist, half in zip("xy", axes, half_size, strict=True):
            lo, hi = dist.bounds
            if lo < -half or hi > half:
                shown = text or dist.text
                raise ValueError(
                    f"impact {shown!r}: {axis} from {lo:g} to {hi:g} mm leaves the front face "
                    f"(|{axis}| <= {half:g} mm)"
                )
    return axes


def _spread(centre: float, width: float) -> Distribution:
    lo, hi = centre - width / 2, centre + width / 2
    return Distribution("uniform", (lo, hi), f"uniform:{lo:g},{hi:g}")


@dataclass(frozen=True)
class ParticleMix:
    """Particles drawn per event with given weights.

    Arguments:
        codes: PDG codes, in the order written. weights: their probabilities (sum 1).
        text: the string as written.
    """

    codes: tuple[int, ...]
    weights: tuple[float, ...]
    text: str

    def sample(self, rng: np.random.Generator) -> int:
        """The particle of one event (a single particle draws nothing from ``rng``)."""
        if len(self.codes) == 1:
            return self.codes[0]
        k = int(np.searchsorted(np.cumsum(self.weights), rng.random(), side="right"))
        return self.codes[min(k, len(self.codes) - 1)]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(PARTICLE_NAMES[c] for c in self.codes)


def parse_particles(spec: str | int | ParticleMix, name: str = "particle") -> ParticleMix:
    """``gamma``, ``gamma,e-,e+`` (equal parts) or ``gamma:0.5,e-:0.25,e+:0.25``.

    Raises:
        ValueError: an unknown particle, a repeated one, weights that are not all given,
            not positive or do not sum to one; naming the string.
    """
    if isinstance(spec, ParticleMix):
        return spec
    if isinstance(spec, int):
        return ParticleMix((particle_code(spec),), (1.0,), str(spec))
    items = [s.strip() for s in spec.split(",")]
    if not all(items):
        raise ValueError(f"{name} {spec!r}: empty particle name")
    codes: list[int] = []
    weights: list[float] = []
    for item in items:
        label, sep, w = item.partition(":")
        try:
            code = particle_code(int(label) if label.lstrip("-").isdigit() else label.strip())
        except ValueError as exc:
            raise ValueError(f"{name} {spec!r}: {exc}") from None
        if code in codes:
            raise ValueError(f"{name} {spec!r}: {label.strip()} is given twice")
        codes.append(code)
        if sep:
            weights.append(_number(w) if w.strip() else math.nan)
            if not weights[-1] > 0 or not math.isfinite(weights[-1]):
                raise ValueError(f"{name} {spec!r}: weight {w.strip()!r} must be a positive number")
    if weights and len(weights) != len(codes):
        raise ValueError(f"{name} {spec!r}: give a weight to every particle or to none")
    if not weights:
        weights = [1.0 / len(codes)] * len(codes)
    elif abs(sum(weights) - 1.0) > 1e-6:
        raise ValueError(f"{name} {spec!r}: weights sum to {sum(weights):g}, not 1")
    return ParticleMix(tuple(codes), tuple(weights), spec)


def event_seeds(seed: int, index: int) -> tuple[int, np.random.Generator]:
    """(Geant4 seed, numpy generator) of event ``index`` of a run seeded ``seed``."""
    ss = np.random.SeedSequence([seed, int(index)])
    g4s, np_seed = ss.generate_state(2, dtype=np.uint32)
    return int(g4s) & 0x7FFFFFFF or 1, np.random.default_rng(int(np_seed))


@dataclass(frozen=True)
class ConditionSpec:
    """The distributions of every condition of a run.

    Arguments:
        energy: MeV. particles: the per-event particle mixture.
        theta, phi: incidence angles, degrees; ``theta`` None: every event along
            ``direction``.
        impact_x, impact_y: impact point on the front face, mm.
        direction: the unit direction used when ``theta`` is None.
    """

    energy: Distribution
    particles: ParticleMix
    theta: Distribution | None
    phi: Distribution
    impact_x: Distribution
    impact_y: Distribution
    direction: tuple[float, float, float] = (0.0, 0.0, 1.0)

    def event(
        self, rng: np.random.Generator, index: int
    ) -> tuple[float, int, tuple[float, float, float], tuple[float, float]]:
        """(energy, PDG code, direction, (x, y)) of event ``index`` drawn from its ``rng``.

        The draws come in a fixed order: energy, impact x, impact y, theta, phi, particle.
        """
        energy = self.energy.sample(rng, index)
        xy = (self.impact_x.sample(rng, index), self.impact_y.sample(rng, index))
        if self.theta is None:
            d = self.direction
        else:
            t = math.radians(self.theta.sample(rng, index))
            p = math.radians(self.phi.sample(rng, index))
            d = (math.sin(t) * math.cos(p), math.sin(t) * math.sin(p), math.cos(t))
        return energy, self.particles.sample(rng), d, xy

    def conditions(self, seed: int, indices: NDArray[np.int64]) -> Conditions:
        """Conditions of the events ``indices`` of a run seeded ``seed``."""
        return self.draw(seed, indices)[0]

    def draw(self, seed: int, indices: NDArray[np.int64]) -> tuple[Conditions, NDArray[np.int64]]:
        """(conditions, Geant4 seeds) of the events ``indices``: a function of (seed, index)."""
        n = len(indices)
        energy, particle = np.empty(n), np.empty(n, dtype=np.int64)
        direction, impact = np.empty((n, 3)), np.zeros((n, 3))
        g4 = np.empty(n, dtype=np.int64)
        for j, i in enumerate(np.asarray(indices, dtype=np.int64).tolist()):
            g4[j], rng = event_seeds(seed, i)
            energy[j], particle[j], direction[j], impact[j, :2] = self.event(rng, i)
        return Conditions(energy, particle, direction, impact), g4

    def describe(self) -> dict[str, object]:
        """The distributions as written (JSON-friendly)."""
        return {
            "energy": self.energy.text,
            "particle": self.particles.text,
            "theta": self.theta.text if self.theta is not None else None,
            "phi": self.phi.text,
            "impact": [self.impact_x.text, self.impact_y.text],
        }


def gun_impact(detector: Detector) -> tuple[float, float]:
    """Where the detector gun's straight line crosses the front face z = 0, mm."""
    pos = np.asarray(detector.gun.position, dtype=np.float64)
    d = np.asarray(detector.gun.direction, dtype=np.float64)
    if pos[2] >= 0 or d[2] <= 0:
        raise ValueError(
            f"detector {detector.name!r}: the gun must start upstream (z < 0) and point to +z"
        )
    xy = pos[:2] + d[:2] * (-pos[2] / d[2])
    return float(xy[0]), float(xy[1])


def condition_spec(
    detector: Detector,
    *,
    energy: str | float | Distribution,
    particle: str | int | ParticleMix | None = None,
    theta: str | float | Distribution | None = None,
    phi: str | float | Distribution = 0.0,
    impact: str | Sequence[float] | None = None,
    impact_spread: float = 0.0,
    check_energy_range: bool = True,
) -> ConditionSpec:
    """The condition distributions of a run on ``detector``; what is not given is the gun's.

    Arguments:
        detector: gives the default particle, direction and impact point, and the front
            face that impact points must hit.
        energy, particle, theta, phi, impact, impact_spread: see the module syntax.
        check_energy_range: refuse energies outside full simulation's 1 GeV..1 TeV.

    Raises:
        ValueError: naming the condition and the bad string.
    """
    gun = detector.gun
    d = np.asarray(gun.direction, dtype=np.float64)
    d = d / np.linalg.norm(d)
    phi_dist = parse_angle(phi, "phi")
    if theta is None and not (phi_dist.is_fixed and phi_dist.values[0] == 0.0):
        raise ValueError(f"phi {phi_dist.text!r}: give theta too (without it: the gun's direction)")
    x, y = parse_impact(
        impact,
        centre=gun_impact(detector) if impact is None else (0.0, 0.0),
        spread=impact_spread,
        half_size=(detector.size_x / 2, detector.size_y / 2),
    )
    return ConditionSpec(
        energy=parse_energy(energy, check_range=check_energy_range),
        particles=parse_particles(particle if particle is not None else gun.particle),
        theta=parse_angle(theta, "theta") if theta is not None else None,
        phi=phi_dist,
        impact_x=x,
        impact_y=y,
        direction=(float(d[0]), float(d[1]), float(d[2])),
    )


__all__ = [
    "E_MAX_MEV",
    "E_MIN_MEV",
    "ConditionSpec",
    "Distribution",
    "EnergySpec",
    "ParticleMix",
    "condition_spec",
    "event_seeds",
    "gun_impact",
    "parse_angle",
    "parse_distribution",
    "parse_energy",
    "parse_impact",
    "parse_particles",
    "parse_quantity",
]
