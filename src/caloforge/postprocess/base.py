"""The contract every post-processor fulfils: fitted on a trained model and its training
data after training, applied to the showers the model generates.

A post-processor is a subclass of :class:`PostProcessor` (an ``nn.Module``) with

* ``name`` (registry name; also the prefix ``postprocessing.<name>.`` of its tensors in
  a checkpoint's ``state`` and the key of the record of how it was fitted), ``summary``
  (one line), ``done`` (the word for a checkpoint that has one: ``calibrated``),
  ``settings_class`` (a frozen dataclass of its settings, checked on construction) and
  ``min_showers`` (the fewest training showers its fit accepts);
* :meth:`fit_to` (classmethod): the fitted module, and the record of its fit, from a
  trained model, the model's showers at the training conditions and the training showers;
* :meth:`from_state` (classmethod): an unfitted module shaped like its own tensors, which
  ``load_state_dict`` then fills (a checkpoint holds tensors only);
* :meth:`process`: generated showers (MeV) -> post-processed showers, eagerly
  (:meth:`caloforge.models.ShowerModel.sample`); it may keep one of :attr:`draws`
  adjacent showers per condition;
* for export, either :attr:`noise_size` and :meth:`process_noise` (the same map with its
  randomness given as standard normal noise, traceable: it goes inside the ONNX graph) or
  ``export_note``, one line saying why a model carrying it does not export.

:class:`~caloforge.models.ShowerModel` holds its post-processors in one ordered
``postprocessing`` dict, applied in order by ``sample`` and by the export module; a new
post-processor is one module plus one line in :data:`caloforge.postprocess.registry.POSTPROCESSORS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor, nn

from caloforge.data import Conditions
from caloforge.geometry import Detector

if TYPE_CHECKING:
    from typing import Self

    from caloforge.models.base import ShowerModel


@dataclass(frozen=True)
class FitSamples:
    """What a post-processor is fitted on.

    Arguments:
        generated: (N, V) the model's showers at ``conditions``, MeV.
        showers: (N, V) the training showers, MeV.
        conditions: the N training conditions.
    """

    generated: NDArray[np.float32]
    showers: NDArray[np.float32]
    conditions: Conditions


@dataclass(frozen=True)
class GeneratedBatch:
    """What :meth:`PostProcessor.process` receives beside the showers (one row per shower).

    Arguments:
        energy: (B,) incident energies, MeV, on the showers' device.
        conditions: the B conditions (numpy).
        detector: the showers' geometry.
        generator: random generator on the showers' device.
    """

    energy: Tensor
    conditions: Conditions
    detector: Detector
    generator: torch.Generator

    def every(self, k: int) -> GeneratedBatch:
        """The batch of one row in ``k`` (after keeping one of ``k`` adjacent candidates)."""
        if k == 1:
            return self
        rows = np.arange(0, len(self.conditions), k)
        return GeneratedBatch(
            self.energy[::k], self.conditions.select(rows), self.detector, self.generator
        )


class PostProcessor(nn.Module):
    """Base class of every post-processor; see the module docstring."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    done: ClassVar[str] = ""
    settings_class: ClassVar[type[Any]]
    min_showers: ClassVar[int] = 1
    export_note: ClassVar[str] = ""
    """Why a model carrying this post-processor cannot be exported (empty: it can)."""

    @classmethod
    def fit_to(
        cls, model: ShowerModel, samples: FitSamples, settings: Any, *, seed: int = 0
    ) -> tuple[Self, dict[str, Any]]:
        """The post-processor fitted to ``model`` and a JSON-able record of the fit (its
        ``kind``, settings and figures).

        Raises:
            ValueError: the samples do not allow the fit (one line).
        """
        raise NotImplementedError

    @classmethod
    def from_state(cls, state: Mapping[str, Tensor]) -> Self:
        """An unfitted module shaped like ``state`` (its own ``state_dict``, no prefix)."""
        raise NotImplementedError

    @property
    def draws(self) -> int:
        """Adjacent showers per condition that :meth:`process` turns into one (1: a map)."""
        return 1

    @property
    def noise_size(self) -> int:
        """Standard normal numbers per shower that :meth:`process_noise` takes."""
        return 0

    def process(self, showers: Tensor, batch: GeneratedBatch) -> Tensor:
        """(B, V) non-negative showers in MeV -> (B / draws, V) post-processed showers."""
        raise NotImplementedError

    def process_noise(self, showers: Tensor, energy: Tensor, noise: Tensor) -> Tensor:
        """:meth:`process` with the randomness given as (B, noise_size) standard normal
        ``noise``; traceable (the export path). Only for post-processors that export."""
        raise NotImplementedError(f"post-processor {self.name!r} does not export")


__all__ = ["FitSamples", "GeneratedBatch", "PostProcessor"]
