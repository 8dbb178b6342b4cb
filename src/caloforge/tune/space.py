"""The search space: a file of distributions over configuration keys, checked against a
family's configuration when loaded (format in :mod:`caloforge.tune`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from caloforge.config import ConfigError, load_config_file

KINDS = ("float", "int", "categorical", "log")


FIELDS = {"type", "low", "high", "log", "step", "choices"}


SECTIONS = ("model", "train")


class SpaceError(ValueError):
    """A search-space file is unreadable or names an unknown key or a bad distribution."""


@dataclass(frozen=True)
class Distribution:
    """One dimension of the search space.

    Arguments:
        key: the config key (``train.lr``, ``latent_dim``), as in ``key=value`` overrides.
        kind: ``float``, ``int`` or ``categorical``.
        low / high: bounds (inclusive) of float and int dimensions.
        log: sample on a log scale.
        step: discretisation step (int: default 1; float: None = continuous).
        choices: values of a categorical dimension (lists become ``a,b`` overrides).
    """

    key: str
    kind: Literal["float", "int", "categorical"]
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()

    def suggest(self, trial: Any) -> Any:
        """Draw a value with an Optuna trial (categorical lists come back as ``a,b`` text)."""
        if self.kind == "float":
            return trial.suggest_float(self.key, self.low, self.high, log=self.log, step=self.step)
        if self.kind == "int":
            step = int(self.step) if self.step is not None else 1
            return trial.suggest_int(
                self.key, int(self.low), int(self.high), log=self.log, step=step
            )
        return trial.suggest_categorical(self.key, [_as_choice(c) for c in self.choices])

    def edge_values(self) -> list[Any]:
        """Values checked against the configuration when the space is loaded."""
        if self.kind == "categorical":
            return [_as_choice(c) for c in self.choices]
        if self.kind == "int":
            return [int(self.low), int(self.high)]
        return [self.low, self.high]


def _as_choice(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return value


def override(key: str, value: Any) -> str:
    """``key=value`` text of a drawn value (for :func:`caloforge.train.train`)."""
    if isinstance(value, bool):
        return f"{key}={'true' if value else 'false'}"
    return f"{key}={value}"


def _number(source: str, key: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SpaceError(f"{source}: key {key!r}: {name}={value!r} is not a finite number")
    return float(value)


def parse_distribution(key: str, spec: Any, source: str = "space") -> Distribution:
    """A :class:`Distribution` from its mapping in the space file.

    Raises:
        SpaceError: naming the file, the key and the bad field.
    """
    if not isinstance(spec, Mapping):
        raise SpaceError(
            f"{source}: key {key!r}: expected a mapping like {{type: float, low: 1e-4, "
            f"high: 1e-2, log: true}}, got {spec!r}"
        )
    unknown = set(spec) - FIELDS
    if unknown:
        raise SpaceError(
            f"{source}: key {key!r}: unknown field(s) {sorted(unknown)}; "
            f"fields: {', '.join(sorted(FIELDS))}"
        )
    kind = spec.get("type")
    if kind not in KINDS:
        raise SpaceError(f"{source}: key {key!r}: type {kind!r} is not one of {', '.join(KINDS)}")
    log_flag = spec.get("log", kind == "log")
    if not isinstance(log_flag, bool):
        raise SpaceError(f"{source}: key {key!r}: log={log_flag!r} is not true or false")
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise SpaceError(f"{source}: key {key!r}: categorical needs a non-empty list 'choices'")
        extra = set(spec) - {"type", "choices"}
        if extra:
            raise SpaceError(
                f"{source}: key {key!r}: categorical takes only 'choices', not {sorted(extra)}"
            )
        return Distribution(key, "categorical", choices=tuple(choices))
    if "choices" in spec:
        raise SpaceError(f"{source}: key {key!r}: 'choices' belongs to type categorical")
    for name in ("low", "high"):
        if name not in spec:
            raise SpaceError(f"{source}: key {key!r}: type {kind} needs '{name}'")
    low = _number(source, key, "low", spec["low"])
    high = _number(source, key, "high", spec["high"])
    if not low < high:
        raise SpaceError(f"{source}: key {key!r}: low={low:g} must be < high={high:g}")
    if log_flag and low <= 0:
        raise SpaceError(f"{source}: key {key!r}: a log scale needs low > 0, got {low:g}")
    step = spec.get("step")
    if step is not None:
        step = _number(source, key, "step", step)
        if step <= 0:
            raise SpaceError(f"{source}: key {key!r}: step={step:g} must be > 0")
        if log_flag and not (kind == "int" and step == 1):
            raise SpaceError(f"{source}: key {key!r}: 'step' and 'log' cannot be combined")
    if kind == "int" and not (low.is_integer() and high.is_integer()):
        raise SpaceError(
            f"{source}: key {key!r}: int bounds must be integers, got {low:g}, {high:g}"
        )
    return Distribution(key, "int" if kind == "int" else "float", low, high, bool(log_flag), step)


def load_space(
    path: str | Path | Mapping[str, Any], family: str | None = None
) -> list[Distribution]:
    """Read a search-space file; with ``family``, check every key and bound against the
    family's configuration (``model`` and ``train`` sections).

    Raises:
        SpaceError: unreadable file, bad distribution, unknown key or ill-typed value
            (one line naming the file and key).
    """
    source = "space" if isinstance(path, Mapping) else str(path)
    if isinstance(path, Mapping):
        data: Mapping[str, Any] = path
    else:
        try:
            data = load_config_file(path)
        except ConfigError as exc:
            raise SpaceError(str(exc)) from None
    if not data:
        raise SpaceError(f"{source}: the search space is empty")
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if key in SECTIONS and isinstance(value, Mapping) and "type" not in value:
            for sub, spec in value.items():
                flat[f"{key}.{sub}"] = spec
        else:
            flat[str(key)] = value
    space = [parse_distribution(k, v, source) for k, v in flat.items()]
    if family is not None:
        from caloforge.train import resolve_run_config

        for dist in space:
            for value in dist.edge_values():
                try:
                    resolve_run_config(family, overrides=[override(dist.key, value)])
                except ConfigError as exc:
                    raise SpaceError(f"{source}: {exc}") from None
    return space


__all__ = ["Distribution", "SpaceError", "load_space", "override", "parse_distribution"]
