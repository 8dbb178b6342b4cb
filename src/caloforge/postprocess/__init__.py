"""Post-processing of generated showers: fitted on a trained model and its training data
after training, held by the model in one ordered list, applied by ``sample``, the ONNX
export and the runtime alike.

* :mod:`~caloforge.postprocess.base`: the contract (:class:`PostProcessor`);
* :mod:`~caloforge.postprocess.registry`: name -> class, reading them from a checkpoint;
* :mod:`~caloforge.postprocess.calibration`: the per-voxel quantile calibration;
* :mod:`~caloforge.postprocess.axis_calibration`: the same in a frame that follows the
  track (spread impact points and angles);
* :mod:`~caloforge.postprocess.refiner`: the classifier refiner (keeps 1 of K showers);
* :mod:`~caloforge.postprocess.fitting`: fitting one to a checkpoint (``calibrate``,
  ``refine``; imported on first use: it loads the trainer).

Example:
    >>> from caloforge.postprocess import postprocessor_names
    >>> postprocessor_names()
    ['calibration', 'axis_calibration', 'refiner']
"""

from __future__ import annotations

from typing import Any

from caloforge.postprocess.base import FitSamples, GeneratedBatch, PostProcessor
from caloforge.postprocess.registry import (
    POSTPROCESSORS,
    UnknownPostProcessorError,
    get_postprocessor,
    postprocessor_names,
)

_FITTING = ("FitResult", "calibrate", "fit_checkpoint", "refine")


def __getattr__(name: str) -> Any:
    if name in _FITTING:
        from caloforge.postprocess import fitting

        return getattr(fitting, name)
    raise AttributeError(f"module 'caloforge.postprocess' has no attribute {name!r}")


__all__ = [
    "POSTPROCESSORS",
    "FitResult",
    "FitSamples",
    "GeneratedBatch",
    "PostProcessor",
    "UnknownPostProcessorError",
    "calibrate",
    "fit_checkpoint",
    "get_postprocessor",
    "postprocessor_names",
    "refine",
]
