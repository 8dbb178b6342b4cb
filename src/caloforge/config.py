"""Layered configuration: dataclass defaults < config file (YAML/JSON) < ``key=value`` overrides.

A configuration is a set of named *sections*, each a frozen dataclass (for training:
``model`` = the family's config, ``train`` = :class:`caloforge.train.TrainConfig`).
Values are layered, later layers win:

1. the dataclass defaults (and per-family defaults given as plain dicts);
2. a config file, YAML (``.yaml``/``.yml``) or JSON, with one mapping per section
   (``model: {latent_dim: 16}``, ``train: {lr: 1e-3}``) or flat keys;
3. ``key=value`` strings from the command line, typed by the dataclass field types
   (``train.lr=3e-4``, ``model.hidden=256,256``); an unqualified key (``lr=3e-4``) is
   accepted when exactly one section has that field.

An unknown key or a value of the wrong type raises :class:`ConfigError` (a ``ValueError``)
naming the key and the value. :func:`config_to_dict` gives the resolved configuration as
plain JSON-able types, which is saved with every output.

Example:
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Opt:
    ...     lr: float = 1e-3
    ...     steps: int = 100
    >>> resolve_config({"train": Opt}, overrides=["lr=0.01"])["train"].lr
    0.01
"""

from __future__ import annotations

import dataclasses
import json
import types
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from caloforge.files import write_text


class ConfigError(ValueError):
    """A configuration key is unknown or its value has the wrong type; one line."""


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML or JSON config file into a mapping.

    Raises:
        ConfigError: missing file, unknown extension, parse error, or not a mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    suffix = path.suffix.lower()
    text = path.read_text()
    try:
        if suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        elif suffix == ".json":
            data = json.loads(text)
        else:
            raise ConfigError(
                f"{path}: unknown config file type {suffix!r} (use .yaml, .yml or .json)"
            )
    except ConfigError:
        raise
    except Exception as exc:  # yaml / json parser errors
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"{path}: cannot parse config file: {first}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must hold a mapping, got {type(data).__name__}")
    return data


def parse_override(text: str) -> tuple[str, str]:
    """``"train.lr=1e-3"`` -> ``("train.lr", "1e-3")``."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {text!r} is not of the form key=value")
    return key.strip(), value.strip()


def _type_name(tp: Any) -> str:
    if get_origin(tp) is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _parse_bool(text: str) -> bool:
    low = text.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise ValueError(text)


def coerce(value: Any, tp: Any, key: str, *, from_text: bool) -> Any:
    """Check/convert ``value`` to the field type ``tp`` (text from the command line is parsed).

    Supported types: bool, int, float, str, Literal[...], X | None, tuple[X, ...],
    tuple[X, Y], and nested combinations of these.

    Raises:
        ConfigError: naming ``key``, the value and the expected type.
    """

    def bad() -> ConfigError:
        return ConfigError(f"config key {key!r}: value {value!r} is not {_type_name(tp)}")

    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        options = get_args(tp)
        if type(None) in options and (
            value is None or (from_text and str(value).lower() in ("none", "null", ""))
        ):
            return None
        for option in options:
            if option is type(None):
                continue
            try:
                return coerce(value, option, key, from_text=from_text)
            except ConfigError:
                continue
        raise bad()
    if origin is Literal:
        choices = get_args(tp)
        for choice in choices:
            if value == choice or (from_text and str(value) == str(choice)):
                return choice
        raise ConfigError(
            f"config key {key!r}: value {value!r} is not one of {', '.join(map(repr, choices))}"
        )
    if origin is tuple:
        args = get_args(tp)
        if from_text and isinstance(value, str):
            items: list[Any] = [s.strip() for s in value.strip("()[] ").split(",") if s.strip()]
        elif isinstance(value, list | tuple):
            items = list(value)
        else:
            raise bad()
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(coerce(v, args[0], key, from_text=from_text) for v in items)
        if len(items) != len(args):
            raise ConfigError(f"config key {key!r}: value {value!r} needs {len(args)} items")
        pairs = zip(items, args, strict=True)
        return tuple(coerce(v, a, key, from_text=from_text) for v, a in pairs)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if from_text and isinstance(value, str):
            try:
                return _parse_bool(value)
            except ValueError:
                raise bad() from None
        raise bad()
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if from_text and isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                try:
                    f = float(value)
                except ValueError:
                    raise bad() from None
                if f.is_integer():
                    return int(f)
        raise bad()
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and (from_text or value.strip()):
            try:
                return float(value)
            except ValueError:
                raise bad() from None
        raise bad()
    if tp is str:
        if isinstance(value, str):
            return value
        raise bad()
    raise ConfigError(f"config key {key!r}: unsupported field type {tp!r}")


def _fields(cls: type) -> dict[str, Any]:
    hints = get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init}


def _assign(
    sections: Mapping[str, type],
    values: dict[str, dict[str, Any]],
    key: str,
    value: Any,
    *,
    from_text: bool,
    source: str,
) -> None:
    if "." in key:
        section, _, name = key.partition(".")
        if section not in sections:
            raise ConfigError(
                f"{source}: unknown config section {section!r} in key {key!r}; "
                f"sections: {', '.join(sections)}"
            )
        owners = [section] if name in _fields(sections[section]) else []
    else:
        name = key
        owners = [s for s, cls in sections.items() if name in _fields(cls)]
        if len(owners) > 1:
            raise ConfigError(
                f"{source}: config key {key!r} is ambiguous; write one of "
                + ", ".join(f"{s}.{name}" for s in owners)
            )
    if not owners:
        known = sorted(f"{s}.{n}" for s, cls in sections.items() for n in _fields(cls))
        raise ConfigError(
            f"{source}: unknown config key {key!r} (value {value!r}); "
            f"known keys: {', '.join(known)}"
        )
    section = owners[0]
    tp = _fields(sections[section])[name]
    values[section][name] = coerce(value, tp, f"{section}.{name}", from_text=from_text)


def resolve_config(
    sections: Mapping[str, type],
    *,
    defaults: Mapping[str, Mapping[str, Any]] | None = None,
    file: str | Path | Mapping[str, Any] | None = None,
    overrides: Sequence[str] = (),
) -> dict[str, Any]:
    """Build one dataclass instance per section from the configuration layers.

    Arguments:
        sections: section name -> frozen dataclass type.
        defaults: per-section values that replace the dataclass defaults (e.g. a model
            family's preferred learning rate), applied first.
        file: a YAML/JSON file path, or an already-parsed mapping (section -> mapping, or
            flat keys).
        overrides: ``key=value`` strings, applied last, in order.

    Returns:
        section name -> dataclass instance.

    Raises:
        ConfigError: unknown key or section, value of the wrong type.
    """
    values: dict[str, dict[str, Any]] = {s: {} for s in sections}
    for section, mapping in (defaults or {}).items():
        for key, value in mapping.items():
            _assign(sections, values, f"{section}.{key}", value, from_text=False, source="defaults")
    if file is not None:
        source = "config" if isinstance(file, Mapping) else str(file)
        data = dict(file) if isinstance(file, Mapping) else load_config_file(file)
        for key, value in data.items():
            if key in sections and isinstance(value, Mapping):
                for sub, subvalue in value.items():
                    _assign(
                        sections, values, f"{key}.{sub}", subvalue, from_text=False, source=source
                    )
            else:
                _assign(sections, values, str(key), value, from_text=False, source=source)
    for text in overrides:
        key, value = parse_override(text)
        _assign(sections, values, key, value, from_text=True, source="override")
    out: dict[str, Any] = {}
    for section, cls in sections.items():
        try:
            out[section] = cls(**values[section])
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"config section {section!r}: {exc}") from None
    return out


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def config_to_dict(config: Any) -> Any:
    """A dataclass (or a mapping of them) as plain JSON-able python types (tuples -> lists)."""
    return _plain(config)


def config_from_dict(cls: type, data: Mapping[str, Any], source: str = "config") -> Any:
    """Rebuild a dataclass from :func:`config_to_dict` output (lists back to tuples)."""
    return resolve_config({"x": cls}, file={"x": dict(data)})["x"] if data else cls()


def save_config(path: str | Path, config: Any) -> Path:
    """Write the resolved configuration as JSON (atomic) and return the path."""
    return write_text(path, json.dumps(config_to_dict(config), indent=2, sort_keys=True) + "\n")


__all__ = [
    "ConfigError",
    "coerce",
    "config_from_dict",
    "config_to_dict",
    "load_config_file",
    "parse_override",
    "resolve_config",
    "save_config",
]
