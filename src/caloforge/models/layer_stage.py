"""Stage 1: the energies of the readout layers, learned by a conditional spline flow.

CaloFlow (arXiv:2106.05285) and its successors (CaloINN arXiv:2110.11377, L2LFlows
arXiv:2312.09290) split a shower into (1) the energy of each readout layer and (2) the
shape of the shower inside each layer. Stage 1 is a small problem (a few numbers given the
incident energy) that a flow learns exactly; the network that generates the shower is then
conditioned on the stage-1 energies and each generated layer rescaled to them, so that
response, resolution and longitudinal profile come from the flow.

:class:`LayerEnergyFlow` is a zuko neural-spline flow over the coded layer energies given
the condition features; it has as many dimensions as readout layers. Fully autoregressive
(the default), sampling inverts it one layer at a time, a network pass per readout layer
and transform: cheap for a few layers, the largest part of sampling on readouts of tens
of layers, where coupling transforms (``passes=2``: two passes per transform) cost far
less. :class:`LayerEnergyStage` is what a family holds: the flow
plus the detector's voxel -> layer map. :class:`~caloforge.models.base.ShowerModel` owns
it behind the ``layer_stage`` switch (:class:`~caloforge.models.base.LayerStageConfig`);
the two-stage families (:mod:`caloforge.models.two_stage`) always have it.

References:
    arXiv:2106.05285 (CaloFlow), arXiv:2110.11377 (CaloINN), arXiv:2312.09290 (L2LFlows),
    arXiv:1906.04032 (neural spline flows).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor, nn

from caloforge._optional import require
from caloforge.geometry import Detector

LAYER_EPS = 1e-6
"""Regularisation of the stage-1 logs and logits."""


def layer_energies(showers: Tensor, detector: Detector) -> Tensor:
    """(B, V) voxel energies -> (B, n_layers) readout-layer energies."""
    return torch.stack([showers[:, sl].sum(1) for sl in detector.layer_slices], dim=1)


def renormalise_layers(showers: Tensor, layers: Tensor, detector: Detector) -> Tensor:
    """Rescale each layer of ``showers`` (B, V) to carry the energies ``layers`` (B, L)
    (a layer with no generated hit stays empty)."""
    sums = layer_energies(showers, detector)
    scale = torch.where(sums > 0, layers / torch.clamp(sums, min=1e-30), torch.zeros_like(sums))
    return showers * scale[:, np.asarray(detector.voxel_layer)]


def fill_empty_layers(
    showers: Tensor, layers: Tensor, scores: Tensor, detector: Detector, minimum: float
) -> Tensor:
    """``showers`` (B, V) with each layer that has no hit but an energy ``layers`` (B, L)
    of at least ``minimum`` given one: its cell of highest ``scores`` (B, V) set to 1, for
    :func:`renormalise_layers` to scale to the layer energy."""
    empty = (layer_energies(showers, detector) <= 0) & (layers >= minimum)
    top = torch.cat(
        [
            scores[:, sl] >= scores[:, sl].max(1, keepdim=True).values
            for sl in detector.layer_slices
        ],
        dim=1,
    )
    fill = empty[:, np.asarray(detector.voxel_layer)] & top
    return torch.where(fill, torch.ones_like(showers), showers)


def fit_standardisation(module: nn.Module, y: Tensor, *, min_std: float) -> None:
    """Set the buffers ``mean``, ``std``, ``lo`` and ``hi`` of ``module`` from values ``y``
    (N, D): per-column mean and spread (1 where the spread is below ``min_std``), and the
    range of the standardised values (generated values are clamped to it)."""
    mean, std = y.mean(0), y.std(0)
    std = torch.where(std > min_std, std, torch.ones_like(std))
    z = (y - mean) / std
    fitted = {"mean": mean, "std": std, "lo": z.min(0).values, "hi": z.max(0).values}
    for name, value in fitted.items():
        getattr(module, name).copy_(value)


@dataclass(frozen=True)
class LayerFlowConfig:
    """Hyper-parameters of the stage-1 spline flow.

    Arguments:
        transforms: spline transforms of the flow.
        hidden: widths of each transform's hyper-network.
        bins: spline bins.
        passes: network passes per transform to invert it (to sample). None: fully
            autoregressive, one pass per readout layer; 2: coupling (each transform
            conditions one half of the layers on the other half, in alternating order);
            k: k groups of layers, each conditioned on the groups before it. The sampling
            cost grows with the passes, so on readouts with many layers a small value is
            much cheaper.
        remainder: index of the readout layer that holds the energy the others leave
            (negative: counted from the last; -1, the last layer, is CaloFlow's coding).
            The remainder is never exactly zero, so it should be a layer every shower
            reaches: the last gives that layer a deposit in nearly every shower where
            Geant4 leaves it empty in most (see :class:`LayerEnergyFlow`).
    """

    transforms: int = 4
    hidden: tuple[int, ...] = (64, 64)
    bins: int = 8
    passes: int | None = None
    remainder: int = -1

    def __post_init__(self) -> None:
        if self.passes is not None and (isinstance(self.passes, bool) or self.passes < 1):
            raise ValueError(
                f"layer_passes must be a positive integer or None (fully autoregressive), "
                f"got {self.passes!r}"
            )


class LayerEnergyFlow(nn.Module):
    """Stage 1: a conditional neural-spline flow over the layer energies.

    The layer energies are coded as in CaloFlow (arXiv:2106.05285): the visible energy
    ``log(E_vis / E_inc + eps)`` and, for each layer but the last, the fraction of the
    energy not yet assigned that it holds, ``r_i = E_i / sum_{j >= i} E_j``, as
    ``logit(r_i)``; standardised. The total is one number (its narrow spread, the energy
    resolution, is learned directly), and decoding conserves it exactly. Generated values
    are clamped to the range seen in training.

    By default the last layer holds the remainder. A shower that ends before the last layer
    puts its last nonzero layer's ``r_i`` at the clamp ``1 - eps``: an atom that each layer
    has in only the few showers that end there (2-4 % per deep layer on calochallenge-ds2),
    which a flow learns as a blur of values below it, and whatever a blurred ``r_i < 1``
    leaves passes down to the last layer. With ``remainder=k`` the layers before ``k`` are
    coded from the front, then those after it from the back, and layer ``k`` holds the
    remainder (``r_i`` is then the fraction of the energy not yet coded): the layers past a
    shower's end sit at the clamp ``eps``, an atom that holds most showers in the deep
    layers and that the flow learns sharply, and no ``1 - eps`` atom remains when every
    shower deposits in layer ``k``. The remainder also collects the errors of the other
    layers' fractions, which weigh least in a layer of large energy.

    Arguments:
        n_layers: readout layers of the detector.
        n_cond: condition features (standardised).
        config: the spline flow.

    References:
        arXiv:2106.05285 (CaloFlow flow I), arXiv:1906.04032 (NSF).
    """

    mean: Tensor
    std: Tensor
    lo: Tensor
    hi: Tensor
    order: Tensor
    inverse: Tensor

    def __init__(self, n_layers: int, n_cond: int, config: LayerFlowConfig | None = None) -> None:
        super().__init__()
        zuko = require("zuko")
        c = config or LayerFlowConfig()
        self.n_layers = n_layers
        if not -n_layers <= c.remainder < n_layers:
            raise ValueError(
                f"layer_remainder={c.remainder} is not a readout layer (of {n_layers}: "
                f"0 to {n_layers - 1}, or negative from the last)"
            )
        k = c.remainder % n_layers
        order = torch.tensor([*range(k), *range(n_layers - 1, k, -1), k])
        self.register_buffer("order", order, persistent=False)
        self.register_buffer("inverse", torch.argsort(order), persistent=False)
        self.flow = zuko.flows.NSF(
            n_layers,
            n_cond,
            transforms=c.transforms,
            bins=c.bins,
            hidden_features=tuple(c.hidden),
            passes=c.passes,
        )
        self.register_buffer("mean", torch.zeros(n_layers))
        self.register_buffer("std", torch.ones(n_layers))
        self.register_buffer("lo", torch.full((n_layers,), -1e6))
        self.register_buffer("hi", torch.full((n_layers,), 1e6))

    def _raw(self, layers: Tensor, energy: Tensor) -> Tensor:
        layers = layers[:, self.order]  # coding order, the remainder last
        total = layers.sum(1)
        out = [torch.log(total / energy + LAYER_EPS)]
        remaining = total
        for i in range(layers.shape[1] - 1):
            r = layers[:, i] / torch.clamp(remaining, min=1e-30)
            r = torch.clamp(r, LAYER_EPS, 1 - LAYER_EPS)
            out.append(torch.log(r) - torch.log1p(-r))
            remaining = remaining - layers[:, i]
        return torch.stack(out, dim=1)

    def encode(self, layers: Tensor, energy: Tensor) -> Tensor:
        """Layer energies (B, L) and incident energies (B,), MeV -> standardised features."""
        return (self._raw(layers, energy) - self.mean) / self.std

    def decode(self, z: Tensor, energy: Tensor) -> Tensor:
        """Standardised features (B, L) -> layer energies (B, L) in MeV (non-negative)."""
        z = torch.minimum(torch.maximum(z, self.lo), self.hi)
        y = z * self.std + self.mean
        remaining = torch.clamp(torch.exp(torch.clamp(y[:, 0], max=0.0)) - LAYER_EPS, min=0.0)
        remaining = remaining * energy
        out = []
        for i in range(1, self.n_layers):
            part = torch.sigmoid(y[:, i]) * remaining
            out.append(part)
            remaining = remaining - part
        out.append(remaining)
        return torch.stack(out, dim=1)[:, self.inverse]

    def fit(self, layers: Tensor, energy: Tensor) -> None:
        fit_standardisation(self, self._raw(layers, energy), min_std=1e-6)

    def log_prob(self, z: Tensor, cond: Tensor) -> Tensor:
        """Log-density (B,) of standardised features ``z`` given conditions."""
        return self.flow(cond).log_prob(z)

    def sample(self, cond: Tensor, generator: torch.Generator) -> Tensor:
        """Standardised features (B, L), drawn with noise from ``generator``."""
        eps = torch.randn(len(cond), self.n_layers, generator=generator, device=cond.device)
        return self.sample_from_noise(cond, eps)

    def sample_from_noise(self, cond: Tensor, eps: Tensor) -> Tensor:
        """Standardised features (B, L) from standard normal noise ``eps`` (B, L): the NSF
        base is a standard normal, so the noise goes through the inverse transform."""
        return self.flow(cond).transform.inv(eps)


class LayerEnergyStage(nn.Module):
    """Stage 1 of a family (see the module docstring): a :class:`LayerEnergyFlow` learns the
    layer energies given the conditions, the family's networks generate the shower
    conditioned on them (``[conditions, stage-1 features]``), and each generated layer is
    rescaled to its stage-1 energy (or, in the two-stage families, decoded with them).

    Arguments:
        detector: the detector (voxel -> layer map).
        n_cond: condition features of the family.
        config: the spline flow.
    """

    def __init__(
        self, detector: Detector, n_cond: int, config: LayerFlowConfig | None = None
    ) -> None:
        super().__init__()
        self.detector = detector
        try:
            self.flow = LayerEnergyFlow(detector.n_layers, n_cond, config)
        except ValueError as exc:  # a setting the readout cannot take: name the readout
            raise ValueError(f"detector {detector.name}: {exc}") from None

    @property
    def n_features(self) -> int:
        """Stage-1 features appended to the family's conditions."""
        return self.detector.n_layers

    def fit(self, showers: NDArray[np.float32], energy: NDArray[np.floating]) -> None:
        """Learn the stage-1 standardisation from training showers (MeV)."""
        x = torch.as_tensor(np.asarray(showers), dtype=torch.float32)
        e = torch.as_tensor(np.asarray(energy), dtype=torch.float32)
        self.flow.fit(layer_energies(x, self.detector), e)

    def encode(self, showers: Tensor, energy: Tensor) -> Tensor:
        """Stage-1 features (B, L) of showers (B, V) in MeV."""
        return self.flow.encode(layer_energies(showers, self.detector), energy)

    def loss(self, z1: Tensor, cond: Tensor) -> Tensor:
        """Negative log-likelihood of the stage-1 features (the flow's training loss)."""
        return -self.flow.log_prob(z1, cond).mean()

    def sample(self, cond: Tensor, noise: Tensor) -> Tensor:
        """Stage-1 features (B, L) from standard normal noise (B, L)."""
        return self.flow.sample_from_noise(cond, noise)

    def train_alone(
        self,
        z1: Tensor,
        cond: Tensor,
        *,
        steps: int,
        batch_size: int,
        lr: float,
        generator: torch.Generator,
    ) -> float:
        """Train the flow on its own: ``steps`` Adam steps on batches of ``batch_size``
        rows of stage-1 features ``z1`` (N, L) and conditions ``cond`` (N, F) (CPU tensors;
        the batches move to the flow's device), drawn with ``generator``; the learning
        rate falls from ``lr`` to 5 % of it on a cosine. Returns the mean loss of the last
        100 steps.

        Stage 1 is a small problem learned from a few numbers per shower: a step costs a
        fraction of a step of the shower networks, but when it is trained only beside them
        (one step per training step) it gets the few steps that a budget of those allows.
        """
        device = next(self.parameters()).device
        opt = torch.optim.Adam(self.parameters(), lr=lr)
        was_training = self.training
        self.train()
        recent: list[float] = []
        for step in range(steps):
            factor = 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * step / steps))
            for group in opt.param_groups:
                group["lr"] = lr * factor
            rows = torch.randint(0, len(z1), (batch_size,), generator=generator)
            loss = self.loss(z1[rows].to(device), cond[rows].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            recent = [*recent[-99:], float(loss.detach())]
        self.train(was_training)
        return sum(recent) / max(len(recent), 1)

    def layers(self, z1: Tensor, energy: Tensor) -> Tensor:
        """Layer energies (B, L) in MeV of stage-1 features ``z1`` (B, L)."""
        return self.flow.decode(z1, energy)

    def rescale(self, showers: Tensor, z1: Tensor, energy: Tensor) -> Tensor:
        """Rescale each layer of generated showers (MeV) to the stage-1 energies."""
        return renormalise_layers(showers, self.layers(z1, energy), self.detector)


__all__ = [
    "LAYER_EPS",
    "LayerEnergyFlow",
    "LayerEnergyStage",
    "LayerFlowConfig",
    "fill_empty_layers",
    "fit_standardisation",
    "layer_energies",
    "renormalise_layers",
]
