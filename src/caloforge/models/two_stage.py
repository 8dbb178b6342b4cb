"""The two-stage families (``flow``, ``diffusion``): stage 1, then the shape of the
shower inside each layer, generated in a space of its own.

CaloFlow (arXiv:2106.05285) and its successors (CaloINN arXiv:2110.11377, L2LFlows
arXiv:2312.09290) split a shower into (1) the energy of each readout layer and (2) the
shape of the shower inside each layer, normalised to that layer's energy. Stage 1 is the
base class's (:mod:`caloforge.models.layer_stage`, always on here); stage 2 is conditioned
on the stage-1 energies, so that the total and per-layer energies (response, resolution,
longitudinal profile) do not depend on how well the voxel model sums its outputs.

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

:class:`HitEnergyCoding` is the alternative with an explicit hit channel. Decoding
optionally rescales each generated layer to its stage-1 energy (``renormalise``), as
CaloFlow does. :class:`TwoStageModel` holds what both families share; each implements
:meth:`TwoStageModel.stage2_from_noise`.

References:
    arXiv:2106.05285 (CaloFlow), arXiv:2110.11377 (CaloINN), arXiv:2312.09290 (L2LFlows),
    arXiv:1906.04032 (neural spline flows).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor, nn

from caloforge.data import Conditions
from caloforge.geometry import Detector
from caloforge.models.base import Batch, LayerStageConfig, ShowerModel, StepContext
from caloforge.models.layer_stage import (
    LayerEnergyStage,
    fill_empty_layers,
    fit_standardisation,
    layer_energies,
    renormalise_layers,
)


class VoxelCoding(nn.Module):
    """What both stage-2 codings hold: the detector's voxel -> layer map, the hit threshold
    and the per-voxel standardisation (``mean``, ``std``) and clamping range (``lo``,
    ``hi``, from ``lo_init`` and 0 until fitted).

    Arguments:
        detector: the detector. threshold: smallest voxel energy counted as a hit, MeV.
    """

    mean: Tensor
    std: Tensor
    lo: Tensor
    hi: Tensor
    voxel_layer: Tensor

    def __init__(self, detector: Detector, threshold: float, lo_init: float) -> None:
        super().__init__()
        if not threshold > 0:
            raise ValueError(f"threshold must be positive (MeV), got {threshold!r}")
        self.detector = detector
        self.threshold = float(threshold)
        v = detector.n_voxels
        self.register_buffer("voxel_layer", torch.as_tensor(np.asarray(detector.voxel_layer)))
        self.register_buffer("mean", torch.zeros(v))
        self.register_buffer("std", torch.ones(v))
        self.register_buffer("lo", torch.full((v,), lo_init))
        self.register_buffer("hi", torch.zeros(v))

    def _to_layers(
        self, e: Tensor, layers: Tensor, scores: Tensor, *, renormalise: bool, fill_above: float
    ) -> Tensor:
        """Decoded voxels ``e`` (B, V), with ``renormalise`` each layer rescaled to its
        energy in ``layers`` (B, L), after a layer left without a hit but of at least
        ``fill_above`` MeV (> 0) got one in its cell of highest ``scores`` (B, V)."""
        if not renormalise:
            return e
        if fill_above > 0:
            e = fill_empty_layers(e, layers, scores, self.detector, fill_above)
        return renormalise_layers(e, layers, self.detector)


class ShapeCoding(VoxelCoding):
    """Stage-2 space: normalised voxel energies with dequantised empty cells.

    See the module docstring.

    Arguments:
        detector: the detector (voxel -> layer map).
        threshold: smallest voxel energy counted as a hit, MeV.
        gap: e-folds between the smallest possible hit and the dequantised empty cells.
    """

    def __init__(self, detector: Detector, *, threshold: float = 1e-4, gap: float = 8.0) -> None:
        super().__init__(detector, threshold, lo_init=-1e6)
        if not gap > 0:
            raise ValueError(f"gap must be positive (e-folds), got {gap!r}")
        self.gap = float(gap)

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
        fit_standardisation(self, self._raw(showers, layers, noise), min_std=1e-4)

    def decode(
        self, z: Tensor, layers: Tensor, *, renormalise: bool = True, fill_above: float = 0.0
    ) -> Tensor:
        """Standardised values (B, V) and layer energies (B, L) in MeV -> voxels in MeV
        (``fill_above``: :class:`TwoStageConfig`'s ``fill_empty_layers``)."""
        z = torch.minimum(torch.maximum(z, self.lo), self.hi)
        y = torch.clamp(z * self.std + self.mean, max=0.0)
        el = layers[:, self.voxel_layer]
        e = torch.exp(y) * el
        e = torch.where(e >= self.threshold, e, torch.zeros_like(e))
        return self._to_layers(e, layers, y, renormalise=renormalise, fill_above=fill_above)


class HitEnergyCoding(VoxelCoding):
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

    def __init__(
        self, detector: Detector, *, threshold: float = 1e-4, hit_noise: float = 0.5
    ) -> None:
        super().__init__(detector, threshold, lo_init=0.0)
        if not 0 <= hit_noise < 1:
            raise ValueError(f"hit_noise must be in [0, 1), got {hit_noise!r}")
        self.hit_noise = float(hit_noise)

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

    def decode(
        self, x: Tensor, layers: Tensor, *, renormalise: bool = True, fill_above: float = 0.0
    ) -> Tensor:
        """(B, 2V) values and layer energies (B, L) in MeV -> voxels in MeV
        (``fill_above``: :class:`TwoStageConfig`'s ``fill_empty_layers``)."""
        h, z = x.chunk(2, dim=1)
        z = torch.minimum(torch.maximum(z, self.lo), self.hi)
        y = torch.clamp(z * self.std + self.mean, max=0.0)
        e = torch.exp(y) * layers[:, self.voxel_layer]
        e = torch.where((h > 0) & (e >= self.threshold), e, torch.zeros_like(e))
        return self._to_layers(e, layers, h, renormalise=renormalise, fill_above=fill_above)


@dataclass(frozen=True)
class TwoStageConfig(LayerStageConfig):
    """Settings shared by the two-stage families (``flow``, ``diffusion``).

    Arguments:
        transform / standardise: must stay ``none`` / ``False`` (the family codes showers
            itself, see :mod:`caloforge.models.two_stage`).
        threshold: smallest voxel energy counted as a hit, MeV.
        gap: e-folds between the smallest hit and the dequantised empty cells.
        renormalise: rescale each generated layer to its stage-1 energy.
        fill_empty_layers: with ``renormalise``, a layer that stage 2 left without a hit
            but whose stage-1 energy is at least this (MeV) gets that energy in its cell
            of highest value; 0 (the default): such a layer stays empty and its energy is
            lost (0.8 % of the visible energy on average on calochallenge-ds2). A
            continuous stage 1 never gives a layer exactly nothing, so a layer Geant4 leaves
            empty gets a tiny energy from it: the minimum keeps those empty (docs/models.md).
            A sampling setting: ``caloforge train --resume`` may change it.
        coding: stage-2 space: ``dequantised`` (one value per voxel, empty cells
            dequantised below the threshold, :class:`ShapeCoding`) or ``hit-energy`` (a hit
            channel and an energy channel per voxel, :class:`HitEnergyCoding`).
        hit_noise: half-width of the hit channel's uniform noise (``hit-energy``).
        layer_stage: always true (stage 1 is the first of the two stages).
        layer_lr / layer_transforms / layer_hidden / layer_bins / layer_passes /
            layer_remainder: the stage-1 spline flow
            (:class:`~caloforge.models.base.LayerStageConfig`; ``layer_lr`` None: the
            training ``lr``).
    """

    transform: Literal["log", "logit", "none"] = "none"
    standardise: bool = False
    threshold: float = 1e-4
    gap: float = 8.0
    renormalise: bool = True
    fill_empty_layers: float = 0.0
    coding: Literal["dequantised", "hit-energy"] = "dequantised"
    hit_noise: float = 0.5
    layer_stage: bool = True
    layer_lr: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.transform != "none" or self.standardise:
            raise ValueError(
                "transform must be 'none' and standardise false: the two-stage families "
                "code the showers themselves"
            )
        if not self.layer_stage:
            raise ValueError("layer_stage must be true: stage 1 is the first of the two stages")
        if not self.fill_empty_layers >= 0:
            raise ValueError(
                f"fill_empty_layers must be >= 0 (MeV), got {self.fill_empty_layers!r}"
            )
        if not self.threshold > 0:
            raise ValueError(f"threshold must be positive (MeV), got {self.threshold}")
        if self.coding not in ("dequantised", "hit-energy"):
            raise ValueError(f"coding {self.coding!r} is not one of 'dequantised', 'hit-energy'")


class TwoStageModel(ShowerModel):
    """What the two-stage families share: stage 1 (the base class's), the shape coding, the
    noise layout and decoding; each family implements :meth:`stage2_from_noise`."""

    config: TwoStageConfig
    renamed: ClassVar[dict[str, str]] = {"layer_flow.": "stage1.flow."}
    """Stage 1 was the family's own ``layer_flow`` before the base class held it."""
    resumable_keys: ClassVar[tuple[str, ...]] = ("fill_empty_layers",)

    @property
    def stage(self) -> LayerEnergyStage:
        """Stage 1 (always there: :class:`TwoStageConfig` keeps ``layer_stage`` on)."""
        if self.stage1 is None:
            raise RuntimeError(f"{self.name}: built without stage 1")
        return self.stage1

    def build_coding(self) -> None:
        """Create the stage-2 coding (``coding``, ``n_features`` values per shower)."""
        c = self.config
        self.coding: ShapeCoding | HitEnergyCoding = (
            ShapeCoding(self.detector, threshold=c.threshold, gap=c.gap)
            if c.coding == "dequantised"
            else HitEnergyCoding(self.detector, threshold=c.threshold, hit_noise=c.hit_noise)
        )
        self.n_features = self.coding.n_features

    def fit_preprocessing(self, showers: NDArray[np.float32], conditions: Conditions) -> None:
        super().fit_preprocessing(showers, conditions)
        x = torch.as_tensor(np.asarray(showers), dtype=torch.float32)
        self.coding.fit(x, layer_energies(x, self.detector), torch.Generator().manual_seed(0))

    def stage2_batch(self, batch: Batch, ctx: StepContext) -> tuple[Tensor, Tensor, dict]:
        """(network context, stage-2 values, stage-1 logs) of a training batch, after one
        training step of stage 1."""
        context, logs = self.network_context(batch, ctx)
        showers = self.transform.inverse(batch.x, batch.energy)
        layers = layer_energies(showers, self.detector)
        return context, self.coding.encode(showers, layers, ctx.generator), logs

    def stage2_from_noise(self, x0: Tensor, ctx: Tensor) -> Tensor:
        """Stage-2 values (B, n_features) from standard normal ``x0`` given the context
        ``[conditions, stage-1 features]``; each family implements it."""
        raise NotImplementedError

    @property
    def noise_shape(self) -> tuple[int, ...]:
        """Stage-1 noise (one number per readout layer), then the stage-2 noise."""
        return (self.detector.n_layers + self.n_features,)

    def generate_from_noise(self, cond: Tensor, energy: Tensor, noise: Tensor) -> Tensor:
        """Both stages on given noise (also the export path): the layer energies from
        stage 1, then :meth:`stage2_from_noise`, decoded to MeV."""
        n_layers = self.detector.n_layers
        z1 = self.stage.sample(cond, noise[:, :n_layers])
        x = self.stage2_from_noise(noise[:, n_layers:], torch.cat([cond, z1], dim=1))
        layers = self.stage.layers(z1, energy)
        return self.coding.decode(
            x,
            layers,
            renormalise=self.config.renormalise,
            fill_above=self.config.fill_empty_layers,
        )


__all__ = [
    "HitEnergyCoding",
    "ShapeCoding",
    "TwoStageConfig",
    "TwoStageModel",
    "VoxelCoding",
]
