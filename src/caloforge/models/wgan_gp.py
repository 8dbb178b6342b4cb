"""``wgan-gp``: conditional Wasserstein GAN with gradient penalty and constrainer networks.

A generator maps Gaussian noise and the condition features (incident energy, impact
point, ...) to a shower in network space; a critic scores (shower, conditions) pairs and
is trained with the Wasserstein loss plus the gradient penalty ``gp_weight`` x
``E[(||grad D|| - 1)^2]`` (arXiv:1704.00028), ``n_critic`` critic updates per generator
update. Constrainer networks, as in CaloGAN (arXiv:1705.02355, energy constraint) and the
ATLAS/CLIC GAN studies (arXiv:2009.03796 and ATL-SOFT-PUB-2018-001; regression of the
incident energy and of the impact position): a regressor of the incident energy and of
the impact position from a shower (in MeV, log-compressed), trained on the full-simulation
showers of each batch; its squared error on generated showers, against the conditions they
were generated for, is added to the generator loss with weight ``constrainer_weight``
(K = 0.01 by default). Impact coordinates are regressed only when they vary in the training
data (a fixed gun gives nothing to learn); the energy is always regressed.

References:
    arXiv:1701.07875 (WGAN), arXiv:1704.00028 (gradient penalty), arXiv:1705.02355
    (CaloGAN), arXiv:2009.03796 (CLIC/ATLAS-style constrained GAN).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from caloforge.models.base import (
    Batch,
    LayerStageConfig,
    ModelConfig,
    OptimizerSpec,
    ShowerModel,
    StepContext,
)
from caloforge.models.blocks import ConditionalCritic, gradient_penalty, mlp


@dataclass(frozen=True)
class WGANGPConfig(LayerStageConfig):
    """Hyper-parameters of ``wgan-gp``.

    Arguments:
        latent_dim: noise dimension.
        generator_hidden / critic_hidden / constrainer_hidden: MLP widths.
        n_critic: critic updates per generator update.
        gp_weight: gradient-penalty weight (5 by default).
        constrainer_weight: K, weight of the constrainers' squared error in the generator loss.
        constrain_position: also regress the impact point (when it varies in the data).
        lr_critic: critic learning rate (default: the training ``lr``).
        layer_stage / layer_*: stage 1 (:class:`~caloforge.models.base.LayerStageConfig`):
            generator and critic are conditioned on the stage-1 layer energies.
    """

    conditions: tuple[str, ...] = ("log_energy", "impact_x", "impact_y")
    latent_dim: int = 64
    generator_hidden: tuple[int, ...] = (256, 512, 512)
    critic_hidden: tuple[int, ...] = (512, 256, 256)
    constrainer_hidden: tuple[int, ...] = (256, 128)
    n_critic: int = 5
    gp_weight: float = 5.0
    constrainer_weight: float = 0.01
    constrain_position: bool = True
    lr_critic: float | None = None


class WGANGP(ShowerModel):
    """Conditional WGAN-GP with energy/position constrainers; see the module docstring."""

    name: ClassVar[str] = "wgan-gp"
    summary: ClassVar[str] = (
        "Wasserstein GAN with gradient penalty, conditioned on energy and impact point, "
        "with energy/position constrainer networks"
    )
    references: ClassVar[tuple[str, ...]] = ("1704.00028", "1705.02355", "2009.03796")
    config_class: ClassVar[type[ModelConfig]] = WGANGPConfig
    train_defaults: ClassVar[dict[str, Any]] = {
        "lr": 1e-4,
        "betas": (0.5, 0.9),
        "batch_size": 128,
        "steps": 20_000,
    }
    config: WGANGPConfig

    def build(self) -> None:
        c = self.config
        self.generator = mlp(c.latent_dim + self.n_ctx, c.generator_hidden, self.n_voxels)
        self.critic = ConditionalCritic(self.n_voxels, self.n_ctx, c.critic_hidden)
        self.constrainer = mlp(self.n_voxels, c.constrainer_hidden, self.n_cond)

    def network_optimizers(self) -> dict[str, OptimizerSpec]:
        return {
            "critic": OptimizerSpec(list(self.critic.parameters()), lr=self.config.lr_critic),
            "generator": OptimizerSpec(list(self.generator.parameters())),
            "constrainer": OptimizerSpec(list(self.constrainer.parameters())),
        }

    def ema_networks(self) -> Iterable[tuple[str, nn.Parameter]]:
        return self.generator.named_parameters(prefix="generator")

    def _targets(self) -> Tensor:
        """Mask of the condition columns the constrainer regresses."""
        mask = torch.zeros(self.n_cond, dtype=torch.bool, device=self.device)
        for i, name in enumerate(self.condition_names):
            if name == "log_energy":
                mask[i] = True
            elif name in ("impact_x", "impact_y") and self.config.constrain_position:
                mask[i] = not bool(self.cond_scaler.constant[i])
        return mask

    def _constrainer_input(self, x: Tensor, energy: Tensor) -> Tensor:
        return torch.log1p(self.transform.inverse(x, energy))

    def _fake(self, cond: Tensor, generator: torch.Generator) -> Tensor:
        z = torch.randn(len(cond), self.config.latent_dim, generator=generator, device=cond.device)
        return self.generator(torch.cat([z, cond], dim=1))

    def training_step(self, batch: Batch, ctx: StepContext) -> dict[str, float]:
        c = self.config
        real = batch.x
        cond, logs = self.network_context(batch, ctx)
        for _ in range(c.n_critic):
            with torch.no_grad():
                fake = self._fake(cond, ctx.generator)
            w_dist = self.critic(real, cond).mean() - self.critic(fake, cond).mean()
            gp = gradient_penalty(self.critic, real, fake, cond, ctx.generator)
            ctx.optimize("critic", -w_dist + c.gp_weight * gp)
        mask = self._targets()
        target = batch.cond[:, mask]
        reg_real = self.constrainer(self._constrainer_input(real, batch.energy))[:, mask]
        loss_r = ((reg_real - target) ** 2).mean()
        ctx.optimize("constrainer", loss_r)
        fake = self._fake(cond, ctx.generator)
        adv = -self.critic(fake, cond).mean()
        reg_fake = self.constrainer(self._constrainer_input(fake, batch.energy))[:, mask]
        constraint = ((reg_fake - target) ** 2).mean()
        ctx.optimize("generator", adv + c.constrainer_weight * constraint)
        return logs | {
            "wasserstein": float(w_dist.detach()),
            "gp": float(gp.detach()),
            "g_adv": float(adv.detach()),
            "constrainer_real": float(loss_r.detach()),
            "constrainer_fake": float(constraint.detach()),
        }

    @property
    def network_noise_shape(self) -> tuple[int, ...]:
        """The latent vector."""
        return (self.config.latent_dim,)

    def showers_from_noise(self, context: Tensor, energy: Tensor, noise: Tensor) -> Tensor:
        """The generator on a latent vector."""
        return self.transform.inverse(self.generator(torch.cat([noise, context], dim=1)), energy)


__all__ = ["WGANGP", "WGANGPConfig"]
