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

It is the post-processor ``refiner`` (state keys ``postprocessing.refiner.*``);
:func:`caloforge.postprocess.refine` (``caloforge refine``) trains it on a checkpoint:
the model generates one shower for each training shower's conditions, and the classifier
learns to tell them from the training showers (80 % to fit, 20 % held out for early
stopping and the reported AUC).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor, nn

from caloforge._optional import require
from caloforge.data import Conditions
from caloforge.geometry import Detector
from caloforge.postprocess.base import FitSamples, GeneratedBatch, PostProcessor

if TYPE_CHECKING:
    from caloforge.models.base import ShowerModel


@dataclass(frozen=True)
class RefinerSettings:
    """Settings of the classifier refiner.

    Arguments:
        candidates: showers drawn per condition at generation (>= 2).
        hidden: width of the classifier.
        ensemble: classifiers trained with seeds ``seed, seed + 1, ...`` (logits averaged).
        threshold: hit threshold of the observables, MeV.
        threads: torch threads of the classifier fit.
    """

    candidates: int = 8
    hidden: int = 128
    ensemble: int = 1
    threshold: float = 0.0
    threads: int = 1

    def __post_init__(self) -> None:
        if self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")
        ClassifierRefiner(1, self.hidden, self.candidates, self.threshold, self.ensemble)


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


class ClassifierRefiner(PostProcessor):
    """Keep one of ``candidates`` showers per condition, weighted by ``exp(-logit)``.

    Arguments:
        n_inputs: classifier inputs (observables + condition features).
        hidden: width of the classifier MLP.
        candidates: showers drawn per condition (>= 2).
        threshold: hit threshold of the observables, MeV.
        ensemble: classifiers whose logits are averaged (trained with different seeds).
    """

    name: ClassVar[str] = "refiner"
    summary: ClassVar[str] = (
        "draws several showers per condition and keeps one, weighted by a classifier "
        "trained against the training showers"
    )
    done: ClassVar[str] = "refined"
    settings_class: ClassVar[type[Any]] = RefinerSettings
    min_showers: ClassVar[int] = 200
    export_note: ClassVar[str] = (
        "a refined model cannot be exported: its refiner picks among candidate showers by "
        "observables computed in numpy; export the checkpoint it was refined from (its "
        "'refiner' record names it)"
    )
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
    def from_state(cls, state: Mapping[str, Tensor]) -> ClassifierRefiner:
        hidden, n_inputs = state["nets.0.0.weight"].shape
        ensemble = sum(1 for k in state if k.startswith("nets.") and k.endswith(".0.weight"))
        return cls(
            int(n_inputs),
            int(hidden),
            int(state["candidates"]),
            float(state["threshold"]),
            ensemble,
        )

    @classmethod
    def fit_to(
        cls, model: ShowerModel, samples: FitSamples, settings: Any, *, seed: int = 0
    ) -> tuple[ClassifierRefiner, dict[str, Any]]:
        """Train the classifier(s) on the training showers against the model's.

        Raises:
            ValueError: non-finite observables.
        """
        from caloforge.evaluate.classifier import ClassifierConfig, train_mlp

        s: RefinerSettings = settings
        det, cond, count = model.detector, samples.conditions, len(samples.showers)
        x_data = refiner_inputs(samples.showers, cond, det, s.threshold)
        x_model = refiner_inputs(samples.generated, cond, det, s.threshold)
        if not (np.isfinite(x_data).all() and np.isfinite(x_model).all()):
            raise ValueError("non-finite observables in the model's or data's showers")
        # the same split for both classes: a condition is in training or held out for both
        held_out = np.random.default_rng(seed).permutation(count) < count // 5
        x = np.concatenate([x_data, x_model])
        y = np.concatenate([np.zeros(count), np.ones(count)])
        val = np.concatenate([held_out, held_out])
        mean, std = x[~val].mean(axis=0), x[~val].std(axis=0)
        std[std == 0] = 1.0
        z = (x - mean) / std
        cfg = replace(ClassifierConfig(), n_threads=s.threads, mlp_hidden=s.hidden)
        refiner = cls(x.shape[1], s.hidden, s.candidates, s.threshold, s.ensemble)
        for i, net in enumerate(refiner.nets):
            fitted = train_mlp(z[~val], y[~val], z[val], y[val], cfg, seed + i)
            net.load_state_dict(fitted.state_dict())
        refiner.mean.copy_(refiner.mean.new_tensor(mean))
        refiner.std.copy_(refiner.std.new_tensor(std))
        logits = refiner.logits(x[val]).numpy()
        auc = float(require("sklearn.metrics").roc_auc_score(y[val], logits))
        record = {
            "kind": "classifier-resampling",
            "candidates": s.candidates,
            "hidden": s.hidden,
            "ensemble": s.ensemble,
            "threshold": s.threshold,
            "held_out_auc": auc,
        }
        return refiner, record

    @property
    def draws(self) -> int:
        return int(self.candidates)

    def logits(self, inputs: NDArray[np.float64]) -> Tensor:
        """Classifier logits (positive: looks generated; the ensemble's mean) of
        :func:`refiner_inputs` rows."""
        x = torch.as_tensor(inputs, dtype=torch.float32, device=self.mean.device)
        x = (x - self.mean) / self.std
        with torch.no_grad():
            return torch.stack([net(x).squeeze(1) for net in self.nets]).mean(0)

    def process(self, showers: Tensor, batch: GeneratedBatch) -> Tensor:
        return self.choose(showers, batch.conditions, batch.detector, batch.generator)

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
        k = self.draws
        if len(showers) % k:
            raise ValueError(f"{len(showers)} showers are not a multiple of {k} candidates")
        inputs = refiner_inputs(showers.cpu().numpy(), conditions, detector, float(self.threshold))
        logits = self.logits(inputs).reshape(-1, k).to(showers.device)
        prob = torch.softmax(-logits, dim=1)
        pick = torch.multinomial(prob, 1, generator=generator).squeeze(1)
        rows = torch.arange(len(pick), device=showers.device) * k + pick
        return showers[rows]


__all__ = ["ClassifierRefiner", "RefinerSettings", "refiner_inputs"]
