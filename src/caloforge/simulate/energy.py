"""Incident-energy specifications: ``10GeV``, ``500MeV``, ``list:1GeV,10GeV``,
``uniform:1GeV,100GeV``, ``loguniform:1GeV,100GeV``.

Energies are in MeV inside caloforge; the accepted range of full simulation is
1 GeV to 1 TeV.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import numpy as np

E_MIN_MEV = 1.0e3
"""Lowest incident energy accepted by :func:`parse_energy` (1 GeV)."""
E_MAX_MEV = 1.0e6
"""Highest incident energy accepted by :func:`parse_energy` (1 TeV)."""

_UNITS = {"ev": 1e-6, "kev": 1e-3, "mev": 1.0, "gev": 1e3, "tev": 1e6}
_QUANTITY = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([a-zA-Z]+)\s*$")

Kind = Literal["fixed", "list", "uniform", "loguniform"]


@dataclass(frozen=True)
class EnergySpec:
    """A parsed energy specification (MeV).

    Arguments:
        kind: ``"fixed"``, ``"list"`` (cycled over events), ``"uniform"`` or ``"loguniform"``.
        values: the energy (fixed), the list, or the (low, high) bounds.
        text: the specification as written.
    """

    kind: Kind
    values: tuple[float, ...]
    text: str

    def sample(self, rng: np.random.Generator, index: int) -> float:
        """Energy of event ``index`` (MeV); ``rng`` is that event's own generator."""
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
        """(lowest, highest) energy the specification can give, MeV."""
        return min(self.values), max(self.values)


def parse_quantity(text: str) -> float:
    """``"10GeV"`` -> 10000.0 (MeV). A bare number is refused (the unit is required)."""
    m = _QUANTITY.match(text)
    if not m or m.group(2).lower() not in _UNITS:
        raise ValueError(
            f"energy {text!r} is not a number with a unit (eV, keV, MeV, GeV, TeV), e.g. '10GeV'"
        )
    return float(m.group(1)) * _UNITS[m.group(2).lower()]


def parse_energy(spec: str | float | EnergySpec, *, check_range: bool = True) -> EnergySpec:
    """Parse an energy specification string; a float is a fixed energy in MeV.

    Arguments:
        spec: ``"10GeV"``, ``"500MeV"``, ``"list:1GeV,10GeV"``, ``"uniform:1GeV,100GeV"``,
            ``"loguniform:1GeV,100GeV"``, a float in MeV, or an :class:`EnergySpec`.
        check_range: refuse energies outside 1 GeV..1 TeV.

    Raises:
        ValueError: naming the bad specification.

    Example:
        >>> parse_energy("loguniform:1GeV,100GeV").values
        (1000.0, 100000.0)
    """
    if isinstance(spec, EnergySpec):
        parsed = spec
    elif isinstance(spec, int | float) and not isinstance(spec, bool):
        parsed = EnergySpec("fixed", (float(spec),), f"{float(spec)}MeV")
    elif isinstance(spec, str):
        parsed = _parse_text(spec)
    else:
        raise ValueError(f"energy specification {spec!r} must be a string such as '10GeV'")
    if check_range:
        lo, hi = parsed.bounds
        if lo < E_MIN_MEV * (1 - 1e-9) or hi > E_MAX_MEV * (1 + 1e-9):
            raise ValueError(
                f"energy {parsed.text!r} is outside the supported range 1GeV..1TeV "
                f"(got {lo:g}..{hi:g} MeV)"
            )
    return parsed


def _parse_text(text: str) -> EnergySpec:
    head, sep, tail = text.partition(":")
    kind = head.strip().lower()
    if not sep:
        return EnergySpec("fixed", (parse_quantity(text),), text)
    if kind not in ("list", "uniform", "loguniform"):
        raise ValueError(
            f"energy {text!r}: unknown distribution {head!r}; use list:, uniform: or loguniform:"
        )
    items = [s for s in tail.split(",") if s.strip()]
    if not items:
        raise ValueError(f"energy {text!r}: no values after {head}:")
    values = tuple(parse_quantity(s) for s in items)
    if kind == "list":
        return EnergySpec("list", values, text)
    if len(values) != 2 or not values[0] < values[1]:
        raise ValueError(f"energy {text!r}: {kind} needs two bounds LOW,HIGH with LOW < HIGH")
    return EnergySpec(kind, values, text)  # type: ignore[arg-type]
