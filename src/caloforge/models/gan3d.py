"""``gan3d``: 3D convolutional GAN for regular grids, with auxiliary energy regression.

Following 3DGAN (Khattak, Vallecorsa, Carminati et al., arXiv:1807.01954; CLIC/LCD
calorimeter images of 25 x 25 x 25 cells): the shower is a 3D image (readout layer x
``nx`` x ``ny``), so the detector's readout layers must all be the same Cartesian grid
(the ``lcd-cube`` preset); any other detector is refused when the model is built, with a
message naming its layers.

* Generator: noise and the condition features (incident energy, particle type) -> a
  dense layer -> a coarse 3D grid of ``channels * 2**upsamplings`` feature maps ->
  ``upsamplings`` x (nearest-neighbour upsampling by 2, 3D convolution, LeakyReLU),
  halving the feature maps each time -> a 3D convolution to one channel with a ReLU
  (exact zeros for empty cells, energies linear as in the paper) -> cropped to the grid.
* Discriminator: 3D convolutions (``critic_channels``, stride 2 ``upsamplings`` times) on
  the log-compressed image, then two heads: the real/fake logit (given the conditions, so
  the particle type is judged too) and the auxiliary regression of the incident energy
  from the image alone (the AC-GAN-style head of 3DGAN).
* Losses: binary cross-entropy (non-saturating for the generator); the auxiliary energy
  regression ``|log E_pred - log E|`` (the relative error, as the paper's mean absolute
  percentage error) learned on real showers and imposed on generated ones with weight
  ``aux_weight``; and the total-energy loss of the paper: the relative error of the
  generated visible energy (sum of the cells) against the mean sampling fraction of the
  training showers times the requested energy, weight ``ecal_weight``.

With ``layer_stage`` (:class:`~caloforge.models.base.LayerStageConfig`), a stage-1 spline
flow learns the energies of the readout layers (the 25 depth slices of lcd-cube);
generator and discriminator are conditioned on them as well, and each generated layer is
rescaled to its stage-1 energy: response, resolution and longitudinal profile then come
from the flow.

Data: showers normalised by the incident energy and divided by their global spread
(``transform="none"``, no per-voxel standardisation: a convolution wants one scale over
the image). The generator's output multiplies the mean training image cell by cell: its
convolutions learn a modulation of order one instead of energies spanning orders of
magnitude (a first version without it generated 5% of the visible energy after 800
steps).

References:
    arXiv:1807.01954 (3DGAN); Khattak et al., Fast simulation of a high granularity
    calorimeter by generative adversarial networks, Eur. Phys. J. C 82 (2022) 386,
    doi:10.1140/epjc/s10052-022-10258-4; arXiv:1610.09585 (auxiliary-classifier GAN).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import Tensor, nn

from caloforge.data import Conditions
from caloforge.geometry import Detector
from caloforge.models.base import (
    Batch,
    LayerStageConfig,
    ModelConfig,
    OptimizerSpec,
    ShowerModel,
    StepContext,
)


class UnsupportedDetectorError(ValueError):
    """The detector's readout layers are not one regular 3D grid."""


def grid_shape(detector: Detector) -> tuple[int, int, int]:
    """(layers, nx, ny) of a detector whose readout layers are all the same Cartesian grid.

    Raises:
        UnsupportedDetectorError: naming the detector's layers otherwise.
    """
    segs = [r.segmentation for r in detector.readout]
    first = segs[0]
    if all(s.kind == "cartesian" for s in segs) and all(s == first for s in segs):
        return len(segs), int(first.nx), int(first.ny)  # type: ignore[union-attr]

    def describe(s: Any) -> str:
        return f"{s.nx}x{s.ny}" if s.kind == "cartesian" else f"{s.kind} {s.n_cells} cells"

    layers = ", ".join(describe(s) for s in segs[:6]) + (", ..." if len(segs) > 6 else "")
    raise UnsupportedDetectorError(
        f"gan3d needs a detector whose readout layers are all the same Cartesian grid "
        f"(a 3D image, such as lcd-cube: 25 layers of 25x25); detector {detector.name!r} "
        f"has layers {layers}; use layer-gan for layers of different granularity"
    )


@dataclass(frozen=True)
class GAN3DConfig(LayerStageConfig):
    """Hyper-parameters of ``gan3d``.

    Arguments:
        conditions: condition features (incident energy and particle type by default).
        transform / standardise: voxel preprocessing; ``none`` / ``False`` by default
            (energies linear, one scale over the image).
        latent_dim: noise dimension.
        channels: generator feature maps at full resolution (x 2 per coarser level).
        upsamplings: generator upsamplings by 2 (= discriminator downsamplings).
        critic_channels: discriminator feature maps of its first convolution (x 2 after).
        aux_weight: weight of the auxiliary energy regression in the generator loss (and
            in the discriminator loss, on real showers).
        ecal_weight: weight of the total-energy loss in the generator loss (with
            ``aux_weight``, the paper's 3 : 0.1 : 25 weighting of adversarial, auxiliary
            and total-energy terms; weights 1 : 1 let the visible energy drift by 20-60%
            within 400 steps on lcd-cube).
        lr_critic: discriminator learning rate (default: the training ``lr``).
        layer_stage / layer_*: stage 1 (:class:`~caloforge.models.base.LayerStageConfig`):
            both networks are conditioned on the stage-1 layer energies.
    """

    conditions: tuple[str, ...] = ("log_energy", "particle")
    transform: Literal["log", "logit", "none"] = "none"
    standardise: bool = False
    latent_dim: int = 64
    channels: int = 8
    upsamplings: int = 2
    critic_channels: int = 8
    aux_weight: float = 0.03
    ecal_weight: float = 8.0
    lr_critic: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.upsamplings < 0 or self.channels < 1 or self.critic_channels < 1:
            raise ValueError("upsamplings must be >= 0 and channels, critic_channels >= 1")


class _Generator3D(nn.Module):
    def __init__(self, shape: tuple[int, int, int], n_cond: int, c: GAN3DConfig) -> None:
        super().__init__()
        self.shape = shape
        f = 2**c.upsamplings
        self.coarse = tuple(math.ceil(n / f) for n in shape)
        width = c.channels * f
        self.fc = nn.Linear(c.latent_dim + n_cond, width * math.prod(self.coarse))
        self.width = width
        blocks: list[nn.Module] = []
        for _ in range(c.upsamplings):
            blocks += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv3d(width, width // 2, 3, padding=1),
                nn.LeakyReLU(0.2),
            ]
            width //= 2
        blocks += [nn.Conv3d(width, 1, 3, padding=1), nn.ReLU()]
        self.net = nn.Sequential(*blocks)

    def forward(self, z: Tensor, cond: Tensor) -> Tensor:
        h = F.leaky_relu(self.fc(torch.cat([z, cond], dim=1)), 0.2)
        img = self.net(h.view(len(z), self.width, *self.coarse))
        d, x, y = self.shape
        return img[:, 0, :d, :x, :y].reshape(len(z), -1)


class _Discriminator3D(nn.Module):
    def __init__(self, shape: tuple[int, int, int], n_cond: int, c: GAN3DConfig) -> None:
        super().__init__()
        self.shape = shape
        width = c.critic_channels
        layers: list[nn.Module] = [nn.Conv3d(1, width, 3, padding=1), nn.LeakyReLU(0.2)]
        for _ in range(c.upsamplings):
            layers += [nn.Conv3d(width, 2 * width, 3, stride=2, padding=1), nn.LeakyReLU(0.2)]
            width *= 2
        layers += [nn.AdaptiveAvgPool3d(2), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        n_feat = width * 8
        self.adversarial = nn.Sequential(
            nn.Linear(n_feat + n_cond, 64), nn.LeakyReLU(0.2), nn.Linear(64, 1)
        )
        self.energy = nn.Sequential(nn.Linear(n_feat, 64), nn.LeakyReLU(0.2), nn.Linear(64, 1))

    def forward(self, x: Tensor, cond: Tensor) -> tuple[Tensor, Tensor]:
        """(B, V) showers -> (real/fake logit (B,), predicted standardised log energy (B,))."""
        img = torch.log1p(torch.relu(x)).view(len(x), 1, *self.shape)
        h = self.features(img)
        logit = self.adversarial(torch.cat([h, cond], dim=1)).squeeze(1)
        return logit, self.energy(h).squeeze(1)


class GAN3D(ShowerModel):
    """3D convolutional GAN with auxiliary energy regression and total-energy loss; see the
    module docstring."""

    name: ClassVar[str] = "gan3d"
    summary: ClassVar[str] = (
        "3D convolutional GAN for regular grids (lcd-cube), conditioned on energy and "
        "particle, with auxiliary energy regression and total-energy loss (3DGAN)"
    )
    references: ClassVar[tuple[str, ...]] = ("1807.01954", "1610.09585")
    config_class: ClassVar[type[ModelConfig]] = GAN3DConfig
    train_defaults: ClassVar[dict[str, Any]] = {
        "lr": 2e-4,
        "betas": (0.5, 0.999),
        "batch_size": 32,
        "steps": 20_000,
    }
    config: GAN3DConfig
    response: Tensor
    mean_image: Tensor

    def build(self) -> None:
        shape = grid_shape(self.detector)
        self.grid = shape
        c = self.config
        self.generator = _Generator3D(shape, self.n_ctx, c)
        self.discriminator = _Discriminator3D(shape, self.n_ctx, c)
        self.register_buffer("response", torch.ones(()))  # mean E_vis / E_inc in training
        self.register_buffer("mean_image", torch.ones(self.n_voxels))  # network space

    def fit_preprocessing(self, showers: NDArray[np.float32], conditions: Conditions) -> None:
        super().fit_preprocessing(showers, conditions)
        self.response.fill_(float(np.mean(showers.sum(1) / conditions.energy)))
        energy = torch.as_tensor(conditions.energy, dtype=torch.float32)
        mean = self.transform(torch.as_tensor(showers), energy).mean(0)
        self.mean_image.copy_(mean)

    def network_optimizers(self) -> dict[str, OptimizerSpec]:
        return {
            "critic": OptimizerSpec(
                list(self.discriminator.parameters()), lr=self.config.lr_critic
            ),
            "generator": OptimizerSpec(list(self.generator.parameters())),
        }

    def ema_networks(self) -> Iterable[tuple[str, nn.Parameter]]:
        return self.generator.named_parameters(prefix="generator")

    def _fake(self, cond: Tensor, generator: torch.Generator) -> Tensor:
        """Generated showers in network space: the generator's (non-negative) output
        modulates the mean training image cell by cell, so that an untrained generator
        already starts at the right scale (the cells' energies span orders of magnitude)."""
        z = torch.randn(len(cond), self.config.latent_dim, generator=generator, device=cond.device)
        return self.generator(z, cond) * self.mean_image

    @property
    def network_noise_shape(self) -> tuple[int, ...]:
        """The latent vector."""
        return (self.config.latent_dim,)

    def showers_from_noise(self, context: Tensor, energy: Tensor, noise: Tensor) -> Tensor:
        """The generator on a latent vector, modulating the mean training image."""
        return self.transform.inverse(self.generator(noise, context) * self.mean_image, energy)

    def energy_error(self, predicted: Tensor, cond: Tensor) -> Tensor:
        """Mean |log E_pred - log E| (relative error) from standardised log energies."""
        return ((predicted - cond[:, 0]) * self.cond_scaler.std[0]).abs().mean()

    def total_energy_error(self, x: Tensor, energy: Tensor) -> Tensor:
        """Mean relative error of the visible energy of showers ``x`` (network space)
        against ``response`` x incident energy."""
        visible = self.transform.inverse(x, energy).sum(1) / energy
        return ((visible - self.response) / self.response).abs().mean()

    def training_step(self, batch: Batch, ctx: StepContext) -> dict[str, float]:
        c = self.config
        real = batch.x
        cond, logs = self.network_context(batch, ctx)
        with torch.no_grad():
            fake = self._fake(cond, ctx.generator)
        logit_real, e_real = self.discriminator(real, cond)
        logit_fake, _ = self.discriminator(fake, cond)
        bce = F.binary_cross_entropy_with_logits
        d_adv = bce(logit_real, torch.ones_like(logit_real)) + bce(
            logit_fake, torch.zeros_like(logit_fake)
        )
        d_aux = self.energy_error(e_real, cond)
        ctx.optimize("critic", d_adv + c.aux_weight * d_aux)
        fake = self._fake(cond, ctx.generator)
        logit, e_fake = self.discriminator(fake, cond)
        g_adv = bce(logit, torch.ones_like(logit))
        g_aux = self.energy_error(e_fake, cond)
        g_ecal = self.total_energy_error(fake, batch.energy)
        ctx.optimize("generator", g_adv + c.aux_weight * g_aux + c.ecal_weight * g_ecal)
        return logs | {
            "d_adv": float(d_adv.detach()),
            "d_aux": float(d_aux.detach()),
            "g_adv": float(g_adv.detach()),
            "g_aux": float(g_aux.detach()),
            "g_ecal": float(g_ecal.detach()),
        }


__all__ = ["GAN3D", "GAN3DConfig", "UnsupportedDetectorError", "grid_shape"]
