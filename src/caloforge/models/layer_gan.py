"""``layer-gan``: one generator per readout layer, causal from layer to layer (CaloGAN-style).

For detectors whose readout layers differ in granularity (``atlas-pblar``: 3 x 96,
12 x 12, 12 x 6 cells), each readout layer ``l`` has its own generator ``G_l`` that maps
noise ``z_l``, the condition features ``c`` (incident energy, ...) and the layers generated
before it ``x_<l`` (network space, concatenated) to the layer's cells ``x_l``:
``x_l = G_l(z_l, c, x_<l)``, so that the shower is generated layer after layer as in
CaloGAN (arXiv:1705.02355, 1712.10321), with the previous layers fed to the next
generator (here through a dense embedding instead of CaloGAN's in-painting attention).

Training (WGAN-GP, arXiv:1704.00028), all generators together against

* one critic per layer ``D_l(x_l, [c, x_<l])``, which judges the layer given the real
  layers before it: the fake layer is generated from the *real* previous layers (teacher
  forcing), so each ``G_l`` learns the conditional ``p(x_l | x_<l, c)``;
* a whole-shower critic ``D(x, c)`` on showers generated layer after layer from noise
  alone (free running), which judges the correlations between layers and the
  accumulation of errors along the chain; like CaloGAN's discriminator it also sees the
  energy of each layer and of the whole shower (``energy_features``: log fractions of
  the incident energy, standardised on the training data), to which a critic looking at
  cells only is nearly blind (a first run without them gave a resolution 4-12 times too
  wide).

With ``layer_stage`` (:class:`~caloforge.models.base.LayerStageConfig`), a stage-1 spline
flow learns the layer energies; every generator and critic is conditioned on them as
well, and each generated layer is rescaled to its stage-1 energy, so that response,
resolution and layer energies come from the flow and the GANs learn the shapes.

The critics share one optimiser (``critic``), the generators another (``generator``);
generator loss: ``-E[D(x_fake)] - layer_weight * sum_l E[D_l(x_l_fake, [c, x_<l])]``.
The critic and gradient-penalty pieces are those of ``wgan-gp``
(:mod:`caloforge.models.blocks`).

References:
    arXiv:1705.02355 and arXiv:1712.10321 (CaloGAN), arXiv:1704.00028 (WGAN-GP).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor, nn

from caloforge.data import Conditions
from caloforge.models.base import (
    Batch,
    LayerStageConfig,
    ModelConfig,
    OptimizerSpec,
    ShowerModel,
    StepContext,
)
from caloforge.models.blocks import ConditionalCritic, mlp, wgan_critic_loss


@dataclass(frozen=True)
class LayerGANConfig(LayerStageConfig):
    """Hyper-parameters of ``layer-gan``.

    Arguments:
        latent_dim: noise dimension of each layer generator.
        generator_hidden: MLP widths of each layer generator.
        previous_dim: size of the embedding of the previous layers fed to a generator.
        critic_hidden: MLP widths of the per-layer critics.
        shower_critic_hidden: MLP widths of the whole-shower critic.
        n_critic: critic updates per generator update.
        gp_weight: gradient-penalty weight.
        layer_weight: weight of the per-layer critics in the generator loss.
        energy_features: give the whole-shower critic, beside the cells, the log energy
            fraction of each layer and of the shower (standardised on the training data),
            as CaloGAN's discriminator sees the total and per-layer energies.
        layer_stage / layer_*: stage 1 (:class:`~caloforge.models.base.LayerStageConfig`):
            the generators and critics are conditioned on the stage-1 layer energies.
    """

    latent_dim: int = 32
    generator_hidden: tuple[int, ...] = (256, 256)
    previous_dim: int = 64
    critic_hidden: tuple[int, ...] = (256, 128)
    shower_critic_hidden: tuple[int, ...] = (512, 256)
    n_critic: int = 5
    gp_weight: float = 5.0
    layer_weight: float = 1.0
    energy_features: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n_critic < 1:
            raise ValueError(f"n_critic must be >= 1, got {self.n_critic}")


class _LayerGenerator(nn.Module):
    """``G_l(z, c, x_<l)``: noise, conditions and the previous layers -> one layer's cells."""

    def __init__(self, n_out: int, n_previous: int, n_cond: int, config: LayerGANConfig) -> None:
        super().__init__()
        self.previous = (
            mlp(n_previous, (config.previous_dim,), config.previous_dim) if n_previous else None
        )
        n_in = config.latent_dim + n_cond + (config.previous_dim if n_previous else 0)
        self.net = mlp(n_in, config.generator_hidden, n_out)

    def forward(self, z: Tensor, cond: Tensor, previous: Tensor) -> Tensor:
        parts = [z, cond]
        if self.previous is not None:
            parts.append(self.previous(previous))
        return self.net(torch.cat(parts, dim=1))


class LayerGAN(ShowerModel):
    """Layer-by-layer causal WGAN-GP with per-layer and whole-shower critics; see the module
    docstring."""

    name: ClassVar[str] = "layer-gan"
    summary: ClassVar[str] = (
        "one generator per readout layer, each conditioned on the energy and the layers "
        "before it, WGAN-GP with per-layer and whole-shower critics (CaloGAN-style)"
    )
    references: ClassVar[tuple[str, ...]] = ("1705.02355", "1712.10321", "1704.00028")
    config_class: ClassVar[type[ModelConfig]] = LayerGANConfig
    train_defaults: ClassVar[dict[str, Any]] = {
        "lr": 1e-4,
        "betas": (0.5, 0.9),
        "batch_size": 128,
        "steps": 20_000,
    }
    config: LayerGANConfig
    feature_mean: Tensor
    feature_std: Tensor

    def build(self) -> None:
        c = self.config
        sizes = list(self.detector.layer_sizes)
        starts = [s.start for s in self.detector.layer_slices]
        self.slices = list(self.detector.layer_slices)
        n_ctx = self.n_ctx
        self.generators = nn.ModuleList(
            _LayerGenerator(n, starts[i], n_ctx, c) for i, n in enumerate(sizes)
        )
        self.layer_critics = nn.ModuleList(
            ConditionalCritic(n, n_ctx + starts[i], c.critic_hidden) for i, n in enumerate(sizes)
        )
        n_feat = len(sizes) + 1 if c.energy_features else 0
        self.shower_critic = ConditionalCritic(
            self.n_voxels + n_feat, n_ctx, c.shower_critic_hidden
        )
        self.register_buffer("feature_mean", torch.zeros(n_feat))
        self.register_buffer("feature_std", torch.ones(n_feat))

    def _energy_features(self, u: Tensor) -> Tensor:
        """log fractions (B, L + 1) of the incident energy in each layer and in the shower."""
        layers = torch.stack([u[:, s].sum(1) for s in self.slices], dim=1)
        return torch.log(torch.cat([layers, layers.sum(1, keepdim=True)], dim=1) + 1e-6)

    def fit_preprocessing(self, showers: NDArray[np.float32], conditions: Conditions) -> None:
        super().fit_preprocessing(showers, conditions)
        if self.config.energy_features:
            u = torch.as_tensor(showers / conditions.energy[:, None], dtype=torch.float32)
            f = self._energy_features(u)
            self.feature_mean.copy_(f.mean(0))
            self.feature_std.copy_(torch.clamp(f.std(0), min=1e-3))

    def shower_critic_input(self, x: Tensor) -> Tensor:
        """Whole-shower critic input: the cells (network space) and, with
        ``energy_features``, the standardised log layer and shower energy fractions."""
        if not self.config.energy_features:
            return x
        u = self.transform.inverse(x, x.new_ones(len(x)))
        f = (self._energy_features(u) - self.feature_mean) / self.feature_std
        return torch.cat([x, f], dim=1)

    def network_optimizers(self) -> dict[str, OptimizerSpec]:
        critics = [*self.layer_critics.parameters(), *self.shower_critic.parameters()]
        return {
            "critic": OptimizerSpec(critics),
            "generator": OptimizerSpec(list(self.generators.parameters())),
        }

    def ema_networks(self) -> Iterable[tuple[str, nn.Parameter]]:
        return self.generators.named_parameters(prefix="generators")

    def generate_layer(self, layer: int, z: Tensor, cond: Tensor, previous: Tensor) -> Tensor:
        """Cells (B, n_layer) of readout layer ``layer`` in network space.

        Arguments:
            layer: readout layer index.
            z: (B, latent_dim) noise.
            cond: (B, F) standardised conditions (with ``layer_stage``: and the stage-1
                features).
            previous: (B, n_before) the layers before ``layer`` in network space
                (width 0 for the first layer).
        """
        return self.generators[layer](z, cond, previous)

    def _noise(self, cond: Tensor, generator: torch.Generator) -> Tensor:
        shape = (len(self.generators), len(cond), self.config.latent_dim)
        return torch.randn(shape, generator=generator, device=cond.device)

    def _free_running(self, cond: Tensor, generator: torch.Generator) -> Tensor:
        """A whole shower (B, V) in network space, generated layer after layer from noise."""
        return self._from_noise(cond, self._noise(cond, generator))

    def _from_noise(self, cond: Tensor, z: Tensor) -> Tensor:
        """Layer after layer from noise ``z`` (L, B, latent_dim); (B, V) network space."""
        out = cond.new_zeros(len(cond), 0)
        for layer in range(len(self.generators)):
            out = torch.cat([out, self.generate_layer(layer, z[layer], cond, out)], dim=1)
        return out

    def _teacher_forced(self, real: Tensor, cond: Tensor, generator: torch.Generator) -> Tensor:
        """Each layer generated from the *real* layers before it; (B, V) network space."""
        z = self._noise(cond, generator)
        return torch.cat(
            [
                self.generate_layer(layer, z[layer], cond, real[:, : s.start])
                for layer, s in enumerate(self.slices)
            ],
            dim=1,
        )

    def _layer_cond(self, layer: int, real: Tensor, cond: Tensor) -> Tensor:
        return torch.cat([cond, real[:, : self.slices[layer].start]], dim=1)

    def training_step(self, batch: Batch, ctx: StepContext) -> dict[str, float]:
        c = self.config
        real = batch.x
        cond, logs = self.network_context(batch, ctx)
        for _ in range(c.n_critic):
            with torch.no_grad():
                free = self._free_running(cond, ctx.generator)
                forced = self._teacher_forced(real, cond, ctx.generator)
            loss, w_shower, gp = wgan_critic_loss(
                self.shower_critic,
                self.shower_critic_input(real),
                self.shower_critic_input(free),
                cond,
                ctx.generator,
                c.gp_weight,
            )
            w_layers = []
            for layer, s in enumerate(self.slices):
                lc = self._layer_cond(layer, real, cond)
                l_loss, w, _ = wgan_critic_loss(
                    self.layer_critics[layer],
                    real[:, s],
                    forced[:, s],
                    lc,
                    ctx.generator,
                    c.gp_weight,
                )
                loss = loss + l_loss
                w_layers.append(float(w.detach()))
            ctx.optimize("critic", loss)
        free = self._free_running(cond, ctx.generator)
        forced = self._teacher_forced(real, cond, ctx.generator)
        adv_shower = -self.shower_critic(self.shower_critic_input(free), cond).mean()
        adv_layers = sum(
            -self.layer_critics[layer](forced[:, s], self._layer_cond(layer, real, cond)).mean()
            for layer, s in enumerate(self.slices)
        )
        ctx.optimize("generator", adv_shower + c.layer_weight * adv_layers)
        return logs | {
            "wasserstein_shower": float(w_shower.detach()),
            "wasserstein_layers": sum(w_layers),
            "gp_shower": float(gp.detach()),
            "g_adv_shower": float(adv_shower.detach()),
            "g_adv_layers": float(torch.as_tensor(adv_layers).detach()),
        }

    @property
    def network_noise_shape(self) -> tuple[int, ...]:
        """One latent vector per readout layer (with ``layer_stage`` the base class adds one
        number to each, the stage-1 noise of that layer's energy)."""
        return (len(self.generators), self.config.latent_dim)

    def showers_from_noise(self, context: Tensor, energy: Tensor, noise: Tensor) -> Tensor:
        """The layer generators in sequence on noise (B, L, latent_dim)."""
        return self.transform.inverse(self._from_noise(context, noise.transpose(0, 1)), energy)


__all__ = ["LayerGAN", "LayerGANConfig"]
