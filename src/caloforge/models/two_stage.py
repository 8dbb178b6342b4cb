"""Two-stage shower representation shared by ``flow`` and ``diffusion``.

CaloFlow (arXiv:2106.05285) and its successors (CaloINN arXiv:2110.11377, L2LFlows
arXiv:2312.09290) split a shower into (1) the energy of each readout layer and (2) the
shape of the shower inside each layer, normalised to that layer's energy. Stage 1 is a
small problem (a few numbers given the incident energy) that a flow learns exactly; stage 2
is then conditioned on the stage-1 energies, so that the total and per-layer energies
(response, resolution, longitudinal profile) do not depend on how well the voxel model
sums its outputs.

:class:`LayerEnergyFlow` (stage 1) is a zuko neural-spline flow over
``log(E_layer / E_inc + eps)`` (standardised) given the condition features; it has as many
dimensions as readout layers, so its autoregressive sampler is cheap.

:class:`ShapeCoding` (stage 2 space) maps voxel energies to one real number per voxel:

* a hit (``E_voxel >= threshold``) becomes ``log(E_voxel / E_layer)`` (<= 0);
* an empty voxel is dequantised to ``log(threshold / max(E_layer, threshold)) - gap - U``
  with ``U ~ Uniform(0, 1)``: strictly below the smallest possible hit value of that shower
  by ``gap`` e-folds, so decoding ``E = E_layer exp(y)`` and zeroing ``E < threshold``
  recovers hits and empty cells exactly, and a continuous generative model learns the hit
  pattern (which cells are hit, how many) together with the energies;
* per-voxel standardisation (mean/std over the training showers), and per-voxel clamping
  of generated values to the range seen in training (a rarely hit voxel cannot receive a
  deposit larger than any it received in training: log-space errors are exponentiated).

Decoding optionally rescales each generated layer to its stage-1 energy
(``renormalise``), as CaloFlow does.

References:
    arXiv:2106.05285 (CaloFlow), arXiv:2110.11377 (CaloINN), arXiv:2312.09290 (L2LFlows),
    arXiv:1906.04032 (neural spline flows).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor, nn

from caloforge._optional import require
from caloforge.geometry import Detector
from caloforge.models.base import StepContext

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


class LayerEnergyFlow(nn.Module):
    """Stage 1: a conditional neural-spline flow over the layer energies.

    The layer energies are coded as in CaloFlow (arXiv:2106.05285): the visible energy
    ``log(E_vis / E_inc + eps)`` and, for each layer but the last, the fraction of the
    energy not yet assigned that it holds, ``r_i = E_i / sum_{j >= i} E_j``, as
    ``logit(r_i)``; standardised. The total is one number (its narrow spread, the energy
    resolution, is learned directly), and decoding conserves it exactly. Generated values
    are clamped to the range seen in training.

    Arguments:
        n_layers: readout layers of the detector.
        n_cond: condition features (standardised).
        transforms: spline transforms of the flow.
        hidden: widths of each transform's hyper-network.
        bins: spline bins.

    References:
        arXiv:2106.05285 (CaloFlow flow I), arXiv:1906.04032 (NSF).
    """

    mean: Tensor
    std: Tensor
    lo: Tensor
    hi: Tensor

    def __init__(
        self,
        n_layers: int,
        n_cond: int,
        *,
        transforms: int = 4,
        hidden: Sequence[int] = (64, 64),
        bins: int = 8,
    ) -> None:
        super().__init__()
        zuko = require("zuko")
        self.n_layers = n_layers
        self.flow = zuko.flows.NSF(
            n_layers, n_cond, transforms=transforms, bins=bins, hidden_features=tuple(hidden)
        )
        self.register_buffer("mean", torch.zeros(n_layers))
        self.register_buffer("std", torch.ones(n_layers))
        self.register_buffer("lo", torch.full((n_layers,), -1e6))
        self.register_buffer("hi", torch.full((n_layers,), 1e6))

    @staticmethod
    def _raw(layers: Tensor, energy: Tensor) -> Tensor:
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
        return torch.stack(out, dim=1)

    def fit(self, layers: Tensor, energy: Tensor) -> None:
        y = self._raw(layers, energy)
        self.mean.copy_(y.mean(0))
        std = y.std(0)
        self.std.copy_(torch.where(std > 1e-6, std, torch.ones_like(std)))
        z = (y - self.mean) / self.std
        self.lo.copy_(z.min(0).values)
        self.hi.copy_(z.max(0).values)

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


class ShapeCoding(nn.Module):
    """Stage-2 space: normalised voxel energies with dequantised empty cells.

    See the module docstring.

    Arguments:
        detector: the detector (voxel -> layer map).
        threshold: smallest voxel energy counted as a hit, MeV.
        gap: e-folds between the smallest possible hit and the dequantised empty cells.
    """

    mean: Tensor
    std: Tensor
    lo: Tensor
    hi: Tensor
    voxel_layer: Tensor

    def __init__(self, detector: Detector, *, threshold: float = 1e-4, gap: float = 8.0) -> None:
        super().__init__()
        if not threshold > 0:
            raise ValueError(f"threshold must be positive (MeV), got {threshold!r}")
        if not gap > 0:
            raise ValueError(f"gap must be positive (e-folds), got {gap!r}")
        self.detector = detector
        self.threshold = float(threshold)
        self.gap = float(gap)
        v = detector.n_voxels
        self.register_buffer("voxel_layer", torch.as_tensor(np.asarray(detector.voxel_layer)))
        self.register_buffer("mean", torch.zeros(v))
        self.register_buffer("std", torch.ones(v))
        self.register_buffer("lo", torch.full((v,), -1e6))
        self.register_buffer("hi", torch.zeros(v))

    def _raw(self, showers: Tensor, layers: Tensor, noise: Tensor) -> Tensor:
        el = layers[:, self.voxel_layer]
        hit = showers >= self.threshold
        y_hit = torch.log(torch.clamp(showers, min=self.threshold) / torch.clamp(el, min=1e-30))
        floor = torch.log(self.threshold / torch.clamp(el, min=self.threshold))
        return torch.where(hit, torch.clamp(y_hit, max=0.0), floor - self.gap - noise)

    @property
    def n_features(self) -> int:
        return self.detector.n_voxels

    def encode(self, showers: Tensor, layers: Tensor, generator: torch.Generator) -> Tensor:
        """Voxel energies (B, V) and layer energies (B, L) in MeV -> standardised stage-2
        values (B, V); the dequantisation noise comes from ``generator``."""
        noise = torch.rand(showers.shape, generator=generator, device=showers.device)
        return (self._raw(showers, layers, noise) - self.mean) / self.std

    def fit(self, showers: Tensor, layers: Tensor, generator: torch.Generator) -> None:
        noise = torch.rand(showers.shape, generator=generator)
        y = self._raw(showers, layers, noise)
        self.mean.copy_(y.mean(0))
        std = y.std(0)
        self.std.copy_(torch.where(std > 1e-4, std, torch.ones_like(std)))
        z = (y - self.mean) / self.std
        self.lo.copy_(z.min(0).values)
        self.hi.copy_(z.max(0).values)

    def decode(self, z: Tensor, layers: Tensor, *, renormalise: bool = True) -> Tensor:
        """Standardised values (B, V) and layer energies (B, L) in MeV -> voxels in MeV."""
        z = torch.minimum(torch.maximum(z, self.lo), self.hi)
        y = torch.clamp(z * self.std + self.mean, max=0.0)
        el = layers[:, self.voxel_layer]
        e = torch.exp(y) * el
        e = torch.where(e >= self.threshold, e, torch.zeros_like(e))
        return renormalise_layers(e, layers, self.detector) if renormalise else e


class HitEnergyCoding(nn.Module):
    """Stage-2 space with an explicit hit channel: two values per voxel.

    * hit channel: ``+1`` for a hit (``E_voxel >= threshold``), ``-1`` for an empty cell,
      plus uniform noise of half-width ``hit_noise`` (not standardised: the two modes stay
      two units apart whatever the hit rate, which a flow-matching field learns easily);
    * energy channel: ``log(E_voxel / E_layer)`` standardised per voxel over the hits only;
      for an empty cell, a standard-normal draw (ignored when decoding), so that its
      marginal is unimodal.

    Decoding: a voxel is hit when its hit channel is positive; its energy is
    ``E_layer exp(y)`` with ``y`` clamped to the range seen in training.

    Arguments:
        detector: the detector. threshold: smallest hit, MeV. hit_noise: see above.
    """

    mean: Tensor
    std: Tensor
    lo: Tensor
    hi: Tensor
    voxel_layer: Tensor

    def __init__(
        self, detector: Detector, *, threshold: float = 1e-4, hit_noise: float = 0.5
    ) -> None:
        super().__init__()
        if not threshold > 0:
            raise ValueError(f"threshold must be positive (MeV), got {threshold!r}")
        if not 0 <= hit_noise < 1:
            raise ValueError(f"hit_noise must be in [0, 1), got {hit_noise!r}")
        self.detector = detector
        self.threshold = float(threshold)
        self.hit_noise = float(hit_noise)
        v = detector.n_voxels
        self.register_buffer("voxel_layer", torch.as_tensor(np.asarray(detector.voxel_layer)))
        self.register_buffer("mean", torch.zeros(v))
        self.register_buffer("std", torch.ones(v))
        self.register_buffer("lo", torch.zeros(v))
        self.register_buffer("hi", torch.zeros(v))

    @property
    def n_features(self) -> int:
        return 2 * self.detector.n_voxels

    def _log_fraction(self, showers: Tensor, layers: Tensor) -> tuple[Tensor, Tensor]:
        el = layers[:, self.voxel_layer]
        hit = showers >= self.threshold
        y = torch.log(torch.clamp(showers, min=self.threshold) / torch.clamp(el, min=1e-30))
        return torch.clamp(y, max=0.0), hit

    def encode(self, showers: Tensor, layers: Tensor, generator: torch.Generator) -> Tensor:
        """Voxel energies (B, V), layer energies (B, L) in MeV -> (B, 2V) values."""
        y, hit = self._log_fraction(showers, layers)
        u = torch.rand(showers.shape, generator=generator, device=showers.device)
        fill = torch.randn(showers.shape, generator=generator, device=showers.device)
        h = torch.where(hit, 1.0, -1.0) + self.hit_noise * (2 * u - 1)
        e = torch.where(hit, (y - self.mean) / self.std, fill)
        return torch.cat([h, e], dim=1)

    def fit(self, showers: Tensor, layers: Tensor, generator: torch.Generator) -> None:
        y, hit = self._log_fraction(showers, layers)
        n = hit.sum(0)
        mean = torch.where(hit, y, 0.0).sum(0) / torch.clamp(n, min=1)
        var = torch.where(hit, (y - mean) ** 2, 0.0).sum(0) / torch.clamp(n - 1, min=1)
        std = torch.sqrt(var)
        self.mean.copy_(mean)
        self.std.copy_(torch.where((n > 1) & (std > 1e-4), std, torch.ones_like(std)))
        z = (y - self.mean) / self.std
        big = torch.tensor(1e6)
        self.lo.copy_(torch.where(hit, z, big).min(0).values.clamp(max=0.0))
        self.hi.copy_(torch.where(hit, z, -big).max(0).values.clamp(min=0.0))

    def decode(self, x: Tensor, layers: Tensor, *, renormalise: bool = True) -> Tensor:
        """(B, 2V) values and layer energies (B, L) in MeV -> voxels in MeV."""
        h, z = x.chunk(2, dim=1)
        z = torch.minimum(torch.maximum(z, self.lo), self.hi)
        y = torch.clamp(z * self.std + self.mean, max=0.0)
        e = torch.exp(y) * layers[:, self.voxel_layer]
        e = torch.where((h > 0) & (e >= self.threshold), e, torch.zeros_like(e))
        return renormalise_layers(e, layers, self.detector) if renormalise else e


class LayerEnergyStage(nn.Module):
    """Stage 1 borrowed by a single-stage family (``wgan-gp``, ``vae`` with
    ``layer_stage=True``): a :class:`LayerEnergyFlow` learns the layer energies given the
    conditions, the family's network generates the shower conditioned on them
    (``[conditions, stage-1 features]``), and each generated layer is rescaled to its
    stage-1 energy. Response, resolution and layer energies then come from the flow.

    Arguments:
        detector: the detector (voxel -> layer map).
        n_cond: condition features of the family.
        transforms / hidden / bins: the spline flow.
    """

    def __init__(
        self,
        detector: Detector,
        n_cond: int,
        *,
        transforms: int = 4,
        hidden: Sequence[int] = (64, 64),
        bins: int = 8,
    ) -> None:
        super().__init__()
        self.detector = detector
        self.flow = LayerEnergyFlow(
            detector.n_layers, n_cond, transforms=transforms, hidden=hidden, bins=bins
        )

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

    def context(
        self, showers: Tensor, energy: Tensor, cond: Tensor, ctx: StepContext | None = None
    ) -> tuple[Tensor, dict[str, float]]:
        """What the family's networks are conditioned on for real showers (B, V) in MeV:
        ``[cond, stage-1 features]``; with ``ctx``, also one training step of the flow
        (optimiser ``layers``), whose loss is returned as ``layer_nll``."""
        z1 = self.encode(showers, energy)
        logs: dict[str, float] = {}
        if ctx is not None:
            nll = self.loss(z1, cond)
            ctx.optimize("layers", nll)
            logs["layer_nll"] = float(nll.detach())
        return torch.cat([cond, z1], dim=1), logs

    def rescale(self, showers: Tensor, z1: Tensor, energy: Tensor) -> Tensor:
        """Rescale each layer of generated showers (MeV) to the stage-1 energies."""
        return renormalise_layers(showers, self.flow.decode(z1, energy), self.detector)


def fit_two_stage(
    stage1: LayerEnergyFlow,
    coding: ShapeCoding | HitEnergyCoding,
    showers: NDArray[np.float32],
    energy: NDArray[np.floating],
    seed: int = 0,
) -> None:
    """Learn the standardisations of both stages from training showers (MeV)."""
    x = torch.as_tensor(np.asarray(showers), dtype=torch.float32)
    e = torch.as_tensor(np.asarray(energy), dtype=torch.float32)
    layers = layer_energies(x, coding.detector)
    stage1.fit(layers, e)
    g = torch.Generator()
    g.manual_seed(seed)
    coding.fit(x, layers, g)


__all__ = [
    "LAYER_EPS",
    "HitEnergyCoding",
    "LayerEnergyFlow",
    "LayerEnergyStage",
    "ShapeCoding",
    "fit_two_stage",
    "layer_energies",
    "renormalise_layers",
]
