"""``vae``: conditional variational autoencoder with a decoder head and KDE latent sampling.

An encoder maps (shower, conditions) to a diagonal Gaussian posterior over ``latent_dim``
latents; a decoder maps (latent, conditions) back to the shower in network space. Trained
on the evidence lower bound with a Gaussian (squared-error) likelihood and a ``beta``
weighted KL term (arXiv:1312.6114). Two additions from the BIB-AE work
(arXiv:2005.05334, arXiv:2102.12491), shared with ``bib-ae`` through
:mod:`caloforge.models.blocks`:

* a decoder head (:class:`~caloforge.models.blocks.DecoderHead`, the papers'
  "post-processor" network, trained with the family), trained on
  the decoder's (detached) reconstructions to match the per-cell energy spectrum and the
  per-cell mean and spread of the real showers;
* sampling the decoder from a kernel density estimate of the encoded training latents
  (:class:`~caloforge.models.blocks.LatentKDE`, ``latent_sampling="kde"``) instead of the
  prior (``latent_sampling="prior"``): the aggregate posterior of a VAE differs from
  its prior, and decoding prior samples gives less realistic showers.

References:
    arXiv:1312.6114 (VAE), arXiv:2005.05334 and arXiv:2102.12491 (post-processor network, KDE
    latent sampling).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor

from caloforge.models.base import (
    Batch,
    LayerStageConfig,
    ModelConfig,
    OptimizerSpec,
    ShowerModel,
    StepContext,
)
from caloforge.models.blocks import DecoderHead, LatentKDE, decoder_head_loss, log_normal_kl, mlp


@dataclass(frozen=True)
class VAEConfig(LayerStageConfig):
    """Hyper-parameters of ``vae``.

    Arguments:
        latent_dim: latent dimension.
        encoder_hidden / decoder_hidden: MLP widths.
        beta: weight of the KL term.
        latent_sampling: ``"kde"`` (density of encoded training latents) or ``"prior"``.
        kde_points: encoded training showers kept for the KDE.
        kde_bandwidth: KDE width factor (None: Scott's rule).
        postprocessor: train and apply the decoder head (the key, its ``pp_*`` settings,
            its optimiser and its weights keep the papers' name, so that configurations
            and checkpoints stay valid).
        pp_hidden: widths of the decoder head.
        pp_start: step from which the decoder head trains.
        pp_identity_weight: weight of the decoder head's stay-close-to-input term.
        pp_values: cell values drawn per batch for the spectrum MMD of the decoder head.
        layer_stage / layer_*: stage 1 (:class:`~caloforge.models.base.LayerStageConfig`):
            encoder, decoder and decoder head are conditioned on the stage-1 layer energies.
    """

    conditions: tuple[str, ...] = ("log_energy", "impact_x", "impact_y")
    latent_dim: int = 32
    encoder_hidden: tuple[int, ...] = (512, 256)
    decoder_hidden: tuple[int, ...] = (256, 512)
    beta: float = 1.0
    latent_sampling: Literal["kde", "prior"] = "kde"
    kde_points: int = 5000
    kde_bandwidth: float | None = None
    postprocessor: bool = True
    pp_hidden: tuple[int, ...] = (256, 256)
    pp_start: int = 0
    pp_identity_weight: float = 0.1
    pp_values: int = 512


class VAE(ShowerModel):
    """Conditional VAE + decoder head + KDE latent sampling; see the module docstring."""

    name: ClassVar[str] = "vae"
    summary: ClassVar[str] = (
        "conditional variational autoencoder with a decoder head network and sampling "
        "from a KDE of encoded training latents (or the prior)"
    )
    references: ClassVar[tuple[str, ...]] = ("1312.6114", "2005.05334", "2102.12491")
    config_class: ClassVar[type[ModelConfig]] = VAEConfig
    train_defaults: ClassVar[dict[str, Any]] = {"lr": 1e-3, "batch_size": 128, "steps": 20_000}
    config: VAEConfig

    def build(self) -> None:
        c = self.config
        self.encoder = mlp(self.n_voxels + self.n_ctx, c.encoder_hidden, 2 * c.latent_dim)
        self.decoder = mlp(c.latent_dim + self.n_ctx, c.decoder_hidden, self.n_voxels)
        self.postprocessor = (
            DecoderHead(self.n_voxels, self.n_ctx, c.pp_hidden) if c.postprocessor else None
        )
        self.kde = LatentKDE(c.latent_dim, c.kde_points, c.kde_bandwidth)

    def network_optimizers(self) -> dict[str, OptimizerSpec]:
        out = {"vae": OptimizerSpec([*self.encoder.parameters(), *self.decoder.parameters()])}
        if self.postprocessor is not None:
            out["postprocessor"] = OptimizerSpec(list(self.postprocessor.parameters()))
        return out

    def encode(self, x: Tensor, cond: Tensor) -> tuple[Tensor, Tensor]:
        mu, logvar = self.encoder(torch.cat([x, cond], dim=1)).chunk(2, dim=1)
        return mu, torch.clamp(logvar, -12.0, 8.0)

    def decode(self, z: Tensor, cond: Tensor) -> Tensor:
        return self.decoder(torch.cat([z, cond], dim=1))

    def reconstruct(
        self, batch: Batch, ctx: StepContext
    ) -> tuple[Tensor, dict[str, float], Tensor, Tensor, Tensor, Tensor]:
        """The shared forward pass of a training step (also ``bib-ae``'s): network
        conditions and stage-1 logs, posterior (mu, logvar), sampled latent z, and the
        reconstruction."""
        cond, logs = self.network_context(batch, ctx)
        mu, logvar = self.encode(batch.x, cond)
        eps = torch.randn(mu.shape, generator=ctx.generator, device=mu.device)
        z = mu + torch.exp(0.5 * logvar) * eps
        return cond, logs, mu, logvar, z, self.decode(z, cond)

    def training_step(self, batch: Batch, ctx: StepContext) -> dict[str, float]:
        c = self.config
        cond, logs, mu, logvar, _, rec = self.reconstruct(batch, ctx)
        rec_loss = 0.5 * ((rec - batch.x) ** 2).sum(1).mean()
        kl = log_normal_kl(mu, logvar)
        ctx.optimize("vae", rec_loss + c.beta * kl)
        out = logs | {"reconstruction": float(rec_loss.detach()), "kl": float(kl.detach())}
        return out | self.train_decoder_head(rec, batch, cond, ctx)

    def train_decoder_head(
        self, rec: Tensor, batch: Batch, cond: Tensor, ctx: StepContext
    ) -> dict[str, float]:
        """One decoder-head step on the (detached) reconstructions ``rec`` of ``batch``
        with network conditions ``cond`` (from step ``pp_start`` on; shared with
        ``bib-ae``); returns its loss terms."""
        c = self.config
        if self.postprocessor is None or ctx.step < c.pp_start:
            return {}
        generated = rec.detach()
        corrected = self.postprocessor(generated, cond)
        loss, terms = decoder_head_loss(
            corrected,
            generated,
            batch.x,
            ctx.generator,
            n_values=c.pp_values,
            identity_weight=c.pp_identity_weight,
        )
        ctx.optimize("postprocessor", loss)
        return terms

    @torch.no_grad()
    def finalize(self, batch: Batch) -> None:
        mu, _ = self.encode(batch.x, self.network_context(batch)[0])
        self.kde.fit(mu[: self.config.kde_points])

    def generate(self, cond: Tensor, energy: Tensor, generator: torch.Generator) -> Tensor:
        n = len(cond)
        if self._kde_sampling:
            z = self.kde.sample(n, generator)
        else:
            z = torch.randn(n, self.config.latent_dim, generator=generator, device=cond.device)
        stage_noise = self.stage1_noise(cond, generator)
        return self.with_stage1(cond, energy, stage_noise, lambda c: self._decode(z, c, energy))

    def _decode(self, z: Tensor, context: Tensor, energy: Tensor) -> Tensor:
        """Latents -> showers in MeV: decoder, decoder head, inverse transform."""
        x = self.decode(z, context)
        if self.postprocessor is not None:
            x = self.postprocessor(x, context)
        return self.transform.inverse(x, energy)

    @property
    def _kde_sampling(self) -> bool:
        return self.config.latent_sampling == "kde" and self.kde.fitted

    @property
    def network_noise_shape(self) -> tuple[int, ...]:
        """The latent; with KDE sampling one more number first, which chooses the stored
        latent (through its normal CDF)."""
        return (self.config.latent_dim + (1 if self._kde_sampling else 0),)

    def showers_from_noise(self, context: Tensor, energy: Tensor, noise: Tensor) -> Tensor:
        """Decode latents made from standard normal ``noise`` (the export path).

        With KDE sampling, ``noise[:, 0]`` picks the stored latent (uniformly, through the
        normal CDF) and ``noise[:, 1:]`` is the kernel noise; otherwise ``noise`` is the
        prior latent.
        """
        if self._kde_sampling:
            pts = self.kde.points.to(noise.device)
            u = 0.5 * (1.0 + torch.erf(noise[:, 0] / 2.0**0.5))
            idx = torch.clamp((u * len(pts)).long(), 0, len(pts) - 1)
            std = pts.std(0) if len(pts) > 1 else torch.ones_like(pts[0])
            z = pts[idx] + self.kde.factor() * std * noise[:, 1:]
        else:
            z = noise
        return self._decode(z, context, energy)

    def describe(self) -> dict[str, Any]:
        return super().describe() | {"kde_latents": len(self.kde.points)}


__all__ = ["VAE", "VAEConfig"]
