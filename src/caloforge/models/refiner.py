"""Classifier refinement: draw several showers per condition and keep one, with the
probability a classifier gives it of being full simulation.

After training (and calibration) a generative model's showers still differ from Geant4's
in ways a classifier sees: the correlations between layer widths, centres and hit counts
that neither the training loss nor the per-voxel calibration pins down. A classifier
``D(x, c)`` trained to tell the model's showers from the training showers estimates the
density ratio ``w(x | c) = p_data(x | c) / p_model(x | c) = exp(-logit D)`` (DCTR,
arXiv:1907.08209; DCTRGAN, arXiv:2009.03796). Sampling-importance-resampling turns the
weights into unweighted showers at the requested conditions: the model draws
``candidates`` showers for each condition and one of them is kept with probability
``w_j / sum_k w_k`` (discriminator rejection sampling, arXiv:1810.06758, with a fixed
number of proposals). As the number of candidates grows, the kept showers follow
``p_model * w``, which is ``p_data`` where the classifier is right.

Details:
* The classifier reads the high-level observables of
  :func:`~caloforge.evaluate.observables.high_level_observables` (layer energies, centres,
  widths, hit counts, depth, ...) and the condition features, as the validation's
  high-level classifier does. It is the MLP of that test
  (:func:`~caloforge.evaluate.classifier.mlp_classifier`), trained on the training file
  against the model's showers at the same conditions: the validation file is never seen.
* Each condition keeps exactly one shower, so conditions (energies, angles) are exactly
  those requested; generation costs ``candidates`` times the model's.
* Nothing is copied from the training data: every kept shower is one the model generated.
* The observables are computed with numpy on the host, so a refined checkpoint generates
  through :meth:`ShowerModel.sample` (``generate``, ``evaluate``, ``bench``), not through
  an ONNX export.

The module is a submodule ``refiner`` of a :class:`~caloforge.models.base.ShowerModel`
(state keys ``refiner.*``); :func:`caloforge.refine.refine` trains it on a checkpoint.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor, nn

from caloforge.data import Conditions
from caloforge.geometry import Detector


def refiner_inputs(
    showers: NDArray[Any], conditions: Conditions, detector: Detector, threshold: float = 0.0
) -> NDArray[np.float64]:
    """Classifier inputs of showers (N, V) in MeV: high-level observables, then conditions."""
    # imported here: the evaluation package (scikit-learn, matplotlib helpers) is heavy and
    # not needed to generate from unrefined models
    from caloforge.evaluate.classifier import high_level_inputs
    from caloforge.evaluate.observables import high_level_observables

    features = high_level_observables(showers, conditions.energy, detector, threshold=threshold)
    return high_level_inputs(features, conditions)


class ClassifierRefiner(nn.Module):
    """Keep one of ``candidates`` showers per condition, weighted by ``exp(-logit)``.

    Arguments:
        n_inputs: classifier inputs (observables + condition features).
        hidden: width of the classifier MLP.
        candidates: showers drawn per condition (>= 2).
        threshold: hit threshold of the observables, MeV.
        ensemble: classifiers whose logits are averaged (trained with different seeds).
    """

    mean: Tensor
    std: Tensor
    candidates: Tensor
    threshold: Tensor

    def __init__(
        self, n_inputs: int, hidden: int, candidates: int, threshold: float = 0.0, ensemble: int = 1
    ) -> None:
        super().__init__()
        from caloforge.evaluate.classifier import mlp_classifier

        if candidates < 2:
            raise ValueError(f"candidates must be >= 2, got {candidates}")
        if ensemble < 1:
            raise ValueError(f"ensemble must be >= 1, got {ensemble}")
        if not (np.isfinite(threshold) and threshold >= 0):
            raise ValueError(f"threshold must be finite and >= 0 MeV, got {threshold}")
        self.nets = nn.ModuleList(mlp_classifier(n_inputs, hidden) for _ in range(ensemble))
        self.register_buffer("mean", torch.zeros(n_inputs))
        self.register_buffer("std", torch.ones(n_inputs))
        self.register_buffer("candidates", torch.tensor(candidates))
        self.register_buffer("threshold", torch.tensor(float(threshold)))

    @classmethod
    def from_state(cls, state: dict[str, Tensor], prefix: str = "refiner.") -> ClassifierRefiner:
        """An untrained module shaped like the ``prefix*`` entries of a state dict."""
        hidden, n_inputs = state[prefix + "nets.0.0.weight"].shape
        ensemble = sum(
            1 for k in state if k.startswith(prefix + "nets.") and k.endswith(".0.weight")
        )
        return cls(
            int(n_inputs),
            int(hidden),
            int(state[prefix + "candidates"]),
            float(state[prefix + "threshold"]),
            ensemble,
        )

    @property
    def n_candidates(self) -> int:
        return int(self.candidates)

    def logits(self, inputs: NDArray[np.float64]) -> Tensor:
        """Classifier logits (positive: looks generated; the ensemble's mean) of
        :func:`refiner_inputs` rows."""
        x = torch.as_tensor(inputs, dtype=torch.float32, device=self.mean.device)
        x = (x - self.mean) / self.std
        with torch.no_grad():
            return torch.stack([net(x).squeeze(1) for net in self.nets]).mean(0)

    def choose(
        self,
        showers: Tensor,
        conditions: Conditions,
        detector: Detector,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Keep one shower per condition.

        Arguments:
            showers: (B * candidates, V) in MeV, the candidates of each condition adjacent.
            conditions: the B * candidates conditions of these rows.
            detector: the showers' geometry.
            generator: random generator on the showers' device.

        Returns:
            (B, V) the kept showers.
        """
        k = self.n_candidates
        if len(showers) % k:
            raise ValueError(f"{len(showers)} showers are not a multiple of {k} candidates")
        inputs = refiner_inputs(showers.cpu().numpy(), conditions, detector, float(self.threshold))
        logits = self.logits(inputs).reshape(-1, k).to(showers.device)
        prob = torch.softmax(-logits, dim=1)
        pick = torch.multinomial(prob, 1, generator=generator).squeeze(1)
        rows = torch.arange(len(pick), device=showers.device) * k + pick
        return showers[rows]


__all__ = ["ClassifierRefiner", "refiner_inputs"]
