"""Registries of classes by name (model families, post-processors), imported lazily."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TypeVar

T = TypeVar("T")


def load_registered(
    table: Mapping[str, str], name: str, base: type[T], what: str, error: type[KeyError]
) -> type[T]:
    """The class registered as ``name`` in ``table`` (name -> ``module:Class``).

    Raises:
        error: ``name`` is not registered (naming the ``what`` s that are).
        TypeError: the entry is not a subclass of ``base`` whose ``name`` is ``name``.
    """
    if name not in table:
        raise error(f"unknown {what} {name!r}; known: {', '.join(table)}")
    module, _, attr = table[name].partition(":")
    cls = getattr(importlib.import_module(module), attr)
    if not (isinstance(cls, type) and issubclass(cls, base)) or getattr(cls, "name", "") != name:
        raise TypeError(
            f"registry entry {name!r} -> {table[name]} is not a {base.__name__} named {name!r}"
        )
    return cls


__all__ = ["load_registered"]
