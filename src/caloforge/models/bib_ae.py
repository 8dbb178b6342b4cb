"""``bib-ae``: Bounded-Information-Bottleneck autoencoder (BIB-AE) with decoder head and
KDE latent sampling.

The BIB-AE (Voloshynovskiy et al., arXiv:1912.00830; for calorimeter showers Buhmann et
al., arXiv:2005.05334 and arXiv:2102.12491) is the ``vae`` family (encoder, decoder,
KL term) with two more terms in the autoencoder loss:

* an adversarial critic on the reconstruction: a WGAN-GP critic ``D(x, c)`` learns to
  tell real showers from their reconstructions, and the decoder is rewarded for
  reconstructions the critic scores as real (``- adv_weight * E[D(x_rec, c)]``); this
  counters the blurring of a pixel-wise loss;
* a latent-space regulariser: the maximum mean discrepancy (MMD, Gaussian kernels with
  widths ``mmd_bandwidths`` x sqrt(latent_dim)) between the batch of sampled latents and
  draws from the N(0, 1) prior, weighted by ``mmd_weight``, which pulls the aggregate
  posterior towards the prior where the per-shower KL alone does not.

Then, as in ``vae`` and with its code (this class derives from
:class:`~caloforge.models.vae.VAE`; the pieces live in :mod:`caloforge.models.blocks`):
the decoder head (the papers' post-processor network) correcting the per-cell energy
spectrum, and sampling the decoder from a KDE of the encoded training latents
(``latent_sampling="kde"``).

References:
    arXiv:1912.00830 (BIB-AE), arXiv:2005.05334 (Getting high), arXiv:2102.12491
    (Decoding photons), arXiv:1704.00028 (WGAN-GP critic), Gretton et al. JMLR 13 (2012)
    (MMD).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from caloforge.models.base import Batch, ModelConfig, OptimizerSpec, StepContext
from caloforge.models.blocks import ConditionalCritic, log_normal_kl, mmd, wgan_critic_loss
from caloforge.models.vae import VAE, VAEConfig


@dataclass(frozen=True)
class BIBAEConfig(VAEConfig):
    """Hyper-parameters of ``bib-ae`` (those of ``vae`` plus the critic and the MMD).

    Arguments:
        beta: weight of the KL term (smaller than a plain VAE's: the MMD and the critic
            take over part of its role).
        critic_hidden: MLP widths of the reconstruction critic.
        n_critic: critic updates per autoencoder update.
        gp_weight: gradient-penalty weight of the critic.
        adv_weight: weight of the critic's score of the reconstruction in the AE loss.
        mmd_weight: weight of the latent MMD to the prior.
        mmd_bandwidths: Gaussian kernel widths of the latent MMD, in units of
            sqrt(latent_dim).
    """

    beta: float = 0.1
    critic_hidden: tuple[int, ...] = (256, 128)
    n_critic: int = 1
    gp_weight: float = 5.0
    adv_weight: float = 1.0
    mmd_weight: float = 10.0
    mmd_bandwidths: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n_critic < 1:
            raise ValueError(f"n_critic must be >= 1, got {self.n_critic}")


class BIBAE(VAE):
    """BIB-AE: VAE + reconstruction critic + latent MMD, then the ``vae`` decoder head and
    KDE latent sampling; see the module docstring."""

    name: ClassVar[str] = "bib-ae"
    summary: ClassVar[str] = (
        "BIB-AE: VAE with an adversarial critic on the reconstruction and a latent MMD "
        "regulariser, with the decoder head and KDE latent sampling of vae"
    )
    references: ClassVar[tuple[str, ...]] = ("1912.00830", "2005.05334", "2102.12491")
    config_class: ClassVar[type[ModelConfig]] = BIBAEConfig
    train_defaults: ClassVar[dict[str, Any]] = {
        "lr": 5e-4,
        "betas": (0.5, 0.9),
        "batch_size": 128,
        "steps": 20_000,
    }
    config: BIBAEConfig

    def build(self) -> None:
        super().build()
        self.critic = ConditionalCritic(self.n_voxels, self.n_ctx, self.config.critic_hidden)

    def network_optimizers(self) -> dict[str, OptimizerSpec]:
        critic = OptimizerSpec(list(self.critic.parameters()))
        return super().network_optimizers() | {"critic": critic}

    def ema_networks(self) -> Any:
        for prefix in ("encoder", "decoder", "postprocessor"):
            module = getattr(self, prefix)
            if module is not None:
                yield from module.named_parameters(prefix=prefix)

    def latent_regulariser(self, z: Tensor, prior: Tensor) -> Tensor:
        """MMD between latents ``z`` (B, d) and prior draws ``prior`` (M, d); 0 when equal.

        Kernel widths are ``mmd_bandwidths`` x sqrt(d), the scale of distances between
        N(0, 1) draws in d dimensions.
        """
        scale = math.sqrt(self.config.latent_dim)
        return mmd(z, prior, tuple(b * scale for b in self.config.mmd_bandwidths))

    def training_step(self, batch: Batch, ctx: StepContext) -> dict[str, float]:
        c = self.config
        cond, logs, mu, logvar, z, rec = self.reconstruct(batch, ctx)
        for _ in range(c.n_critic):
            loss_c, w_dist, gp = wgan_critic_loss(
                self.critic, batch.x, rec.detach(), cond, ctx.generator, c.gp_weight
            )
            ctx.optimize("critic", loss_c)
        rec_loss = 0.5 * ((rec - batch.x) ** 2).sum(1).mean()
        kl = log_normal_kl(mu, logvar)
        prior = torch.randn(z.shape, generator=ctx.generator, device=z.device)
        latent_mmd = self.latent_regulariser(z, prior)
        adv = -self.critic(rec, cond).mean()
        ctx.optimize("vae", rec_loss + c.beta * kl + c.mmd_weight * latent_mmd + c.adv_weight * adv)
        out = logs | {
            "reconstruction": float(rec_loss.detach()),
            "kl": float(kl.detach()),
            "latent_mmd": float(latent_mmd.detach()),
            "adv": float(adv.detach()),
            "wasserstein": float(w_dist.detach()),
            "gp": float(gp.detach()),
        }
        return out | self.train_decoder_head(rec, batch, cond, ctx)


__all__ = ["BIBAE", "BIBAEConfig"]
