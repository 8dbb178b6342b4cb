"""Building blocks shared by several families: MLPs, gradient penalty, decoder head,
latent density (KDE) sampler and a kernel two-sample loss.

References:
    Gulrajani et al., Improved training of Wasserstein GANs, arXiv:1704.00028
    (gradient penalty). Buhmann et al., Getting high: high fidelity simulation of
    high granularity calorimeters with high speed, arXiv:2005.05334, and Decoding photons,
    arXiv:2102.12491 (the post-processor network correcting the per-cell energy spectrum,
    sampling the decoder from a density estimate of the encoded training latents).
    Gretton et al., A kernel two-sample test, JMLR 13 (2012) (MMD).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn


def mlp(
    n_in: int,
    hidden: Sequence[int],
    n_out: int,
    *,
    activation: type[nn.Module] = nn.LeakyReLU,
    norm: bool = False,
    zero_last: bool = False,
) -> nn.Sequential:
    """A fully connected network ``n_in -> hidden... -> n_out``.

    Arguments:
        norm: LayerNorm after each hidden linear layer.
        zero_last: initialise the last layer to zero (a residual branch starting as identity).
    """
    layers: list[nn.Module] = []
    d = n_in
    for h in hidden:
        layers.append(nn.Linear(d, h))
        if norm:
            layers.append(nn.LayerNorm(h))
        layers.append(activation())
        d = h
    last = nn.Linear(d, n_out)
    if zero_last:
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
    layers.append(last)
    return nn.Sequential(*layers)


def gradient_penalty(
    critic: nn.Module, real: Tensor, fake: Tensor, cond: Tensor, generator: torch.Generator
) -> Tensor:
    """WGAN-GP penalty ``E[(||grad_x D(x_hat, c)|| - 1)^2]`` on random interpolates.

    References: arXiv:1704.00028.
    """
    eps = torch.rand(len(real), 1, generator=generator, device=real.device)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    out = critic(x_hat, cond)
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    return ((grad.norm(dim=1) - 1.0) ** 2).mean()


class ConditionalCritic(nn.Module):
    """WGAN critic ``D(x, c)``: an MLP on the concatenated shower (B, V) and conditions (B, F).

    Shared by ``wgan-gp``, ``layer-gan`` (per-layer and whole-shower critics) and
    ``bib-ae`` (critic of the reconstruction). Returns one score per shower (B,).
    """

    def __init__(self, n_voxels: int, n_cond: int, hidden: Sequence[int]) -> None:
        super().__init__()
        self.net = mlp(n_voxels + n_cond, hidden, 1)

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:
        return self.net(torch.cat([x, cond], dim=1)).squeeze(1)


def wgan_critic_loss(
    critic: nn.Module,
    real: Tensor,
    fake: Tensor,
    cond: Tensor,
    generator: torch.Generator,
    gp_weight: float,
) -> tuple[Tensor, Tensor, Tensor]:
    """Critic loss ``-(E[D(real)] - E[D(fake)]) + gp_weight * GP`` (arXiv:1704.00028).

    ``fake`` should be detached. Returns (loss, Wasserstein estimate, gradient penalty).
    """
    w_dist = critic(real, cond).mean() - critic(fake, cond).mean()
    gp = gradient_penalty(critic, real, fake, cond, generator)
    return -w_dist + gp_weight * gp, w_dist, gp


def mmd(a: Tensor, b: Tensor, bandwidths: Sequence[float] = (0.1, 0.3, 1.0, 3.0)) -> Tensor:
    """Biased squared MMD between samples ``a`` (N, D) and ``b`` (M, D), sum of Gaussian kernels."""
    xx, yy, xy = torch.cdist(a, a) ** 2, torch.cdist(b, b) ** 2, torch.cdist(a, b) ** 2
    out = a.new_zeros(())
    for h in bandwidths:
        k = 1.0 / (2 * h * h)
        out = (
            out
            + torch.exp(-k * xx).mean()
            + torch.exp(-k * yy).mean()
            - 2 * torch.exp(-k * xy).mean()
        )
    return out


class DecoderHead(nn.Module):
    """Residual network correcting generated showers cell by cell: ``x + f(x, c)``.

    Starts as the identity (zero-initialised last layer). Trained with
    :func:`decoder_head_loss` on generated showers (detached) against real ones, as the
    BIB-AE post-processor network (arXiv:2005.05334, 2102.12491) that fixes the per-cell
    energy spectrum which a decoder trained with a pixel-wise loss smears out. It is part
    of the family and trained with it (not a :mod:`caloforge.postprocess` post-processor).

    Arguments:
        n_voxels: shower size. n_cond: number of condition features. hidden: widths.
    """

    def __init__(self, n_voxels: int, n_cond: int, hidden: Sequence[int] = (256, 256)) -> None:
        super().__init__()
        self.net = mlp(n_voxels + n_cond, hidden, n_voxels, zero_last=True)

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:
        return x + self.net(torch.cat([x, cond], dim=1))


def decoder_head_loss(
    corrected: Tensor,
    generated: Tensor,
    real: Tensor,
    generator: torch.Generator,
    *,
    n_values: int = 1024,
    identity_weight: float = 0.1,
) -> tuple[Tensor, dict[str, float]]:
    """Loss of the decoder head on one batch (network space).

    Terms: MMD between the pooled cell-value spectra of ``corrected`` and ``real`` (random
    ``n_values`` cells each); squared differences of the per-cell mean and standard
    deviation over the batch (the per-cell spread that generative models underestimate);
    ``identity_weight`` x MSE to the uncorrected shower (stay close to the decoder).

    Returns:
        (loss, {term: value}).
    """
    flat_c, flat_r = corrected.reshape(-1), real.reshape(-1)
    ic = torch.randint(len(flat_c), (n_values,), generator=generator, device=corrected.device)
    ir = torch.randint(len(flat_r), (n_values,), generator=generator, device=corrected.device)
    spectrum = mmd(flat_c[ic].unsqueeze(1), flat_r[ir].unsqueeze(1))
    moments = ((corrected.mean(0) - real.mean(0)) ** 2).mean() + (
        (corrected.std(0) - real.std(0)) ** 2
    ).mean()
    identity = ((corrected - generated) ** 2).mean()
    loss = spectrum + moments + identity_weight * identity
    return loss, {
        "pp_spectrum": float(spectrum.detach()),
        "pp_moments": float(moments.detach()),
        "pp_identity": float(identity.detach()),
    }


class LatentKDE(nn.Module):
    """Gaussian kernel density estimate of encoded training latents, to sample a decoder.

    Sampling draws a stored latent at random and adds Gaussian noise of width
    ``bandwidth`` x (per-dimension std) with Scott's rule ``bandwidth = n^(-1/(d+4))`` by
    default. The stored latents are data-sized, so they travel as module extra state.

    Arguments:
        latent_dim: dimension d. max_points: latents kept (random subset). bandwidth:
            kernel width factor, ``None`` for Scott's rule.
    """

    def __init__(
        self, latent_dim: int, max_points: int = 5000, bandwidth: float | None = None
    ) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.max_points = max_points
        self.bandwidth = bandwidth
        self.points = torch.zeros(0, latent_dim)

    @property
    def fitted(self) -> bool:
        return len(self.points) > 0

    def fit(self, latents: Tensor, generator: torch.Generator | None = None) -> None:
        z = latents.detach().float()
        if len(z) > self.max_points:
            idx = torch.randperm(len(z), generator=generator, device=z.device)[: self.max_points]
            z = z[idx]
        self.points = z.clone()

    def factor(self) -> float:
        n, d = max(len(self.points), 1), self.latent_dim
        return self.bandwidth if self.bandwidth is not None else n ** (-1.0 / (d + 4))

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        if not self.fitted:
            raise RuntimeError("the latent KDE holds no latents (finalize the model first)")
        device = generator.device
        pts = self.points.to(device)
        idx = torch.randint(len(pts), (n,), generator=generator, device=device)
        std = pts.std(0) if len(pts) > 1 else torch.ones(self.latent_dim, device=device)
        noise = torch.randn(n, self.latent_dim, generator=generator, device=device)
        return pts[idx] + self.factor() * std * noise

    def get_extra_state(self) -> dict[str, Any]:
        return {"points": self.points.cpu()}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.points = state["points"].float()

    def _apply(self, fn: Any, recurse: bool = True) -> LatentKDE:  # follow .to(device)
        super()._apply(fn, recurse)
        self.points = fn(self.points)
        return self


def log_normal_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, exp(logvar)) || N(0, 1)) summed over latent dims, mean over the batch."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1).mean()


__all__ = [
    "ConditionalCritic",
    "DecoderHead",
    "LatentKDE",
    "decoder_head_loss",
    "gradient_penalty",
    "log_normal_kl",
    "mlp",
    "mmd",
    "wgan_critic_loss",
]
