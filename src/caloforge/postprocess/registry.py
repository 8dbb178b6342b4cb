"""The post-processor registry: name -> class, imported lazily; reading them from a
checkpoint's ``state``.

A new post-processor is one module defining a
:class:`~caloforge.postprocess.base.PostProcessor` subclass plus one line in
:data:`POSTPROCESSORS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from torch import Tensor

from caloforge._registry import load_registered
from caloforge.postprocess.base import PostProcessor

POSTPROCESSORS: dict[str, str] = {
    "calibration": "caloforge.postprocess.calibration:QuantileCalibration",
    "axis_calibration": "caloforge.postprocess.axis_calibration:AxisCalibration",
    "refiner": "caloforge.postprocess.refiner:ClassifierRefiner",
}
"""Registry name -> ``module:Class``."""

LEGACY_NAMES = ("calibration", "refiner")
"""Post-processors that checkpoints written before the ``postprocessing`` prefix keep at
the top level of ``state``."""

PREFIX = "postprocessing."
"""Where a model's post-processors keep their tensors in ``state``: ``postprocessing.<name>.*``."""


V = TypeVar("V")


class UnknownPostProcessorError(KeyError):
    """The post-processor name is not registered."""


def postprocessor_names() -> list[str]:
    """Registered post-processor names, in registry order."""
    return list(POSTPROCESSORS)


def get_postprocessor(name: str) -> type[PostProcessor]:
    """The class of post-processor ``name``.

    Raises:
        UnknownPostProcessorError: naming the known post-processors.
    """
    return load_registered(
        POSTPROCESSORS, name, PostProcessor, "post-processor", UnknownPostProcessorError
    )


def current_layout(state: Mapping[str, V]) -> dict[str, V]:
    """``state`` with the keys of the current layout: checkpoints written before the
    post-processors had one home keep theirs at the top level (``calibration.*``,
    ``refiner.*``), now under :data:`PREFIX`."""
    out: dict[str, V] = {}
    for key, value in state.items():
        head = key.partition(".")[0]
        out[PREFIX + key if head in LEGACY_NAMES else key] = value
    return out


def postprocessors_in(state: Mapping[str, Tensor]) -> list[PostProcessor]:
    """Unfitted post-processors shaped like those whose tensors ``state`` (current layout)
    holds, in the order of their first tensor (the order they were fitted and apply)."""
    names: dict[str, None] = {}
    for key in state:
        if key.startswith(PREFIX):
            names.setdefault(key[len(PREFIX) :].partition(".")[0])
    out = []
    for name in names:
        own = f"{PREFIX}{name}."
        sub = {k[len(own) :]: v for k, v in state.items() if k.startswith(own)}
        out.append(get_postprocessor(name).from_state(sub))
    return out


__all__ = [
    "POSTPROCESSORS",
    "PREFIX",
    "UnknownPostProcessorError",
    "current_layout",
    "get_postprocessor",
    "postprocessor_names",
    "postprocessors_in",
]
