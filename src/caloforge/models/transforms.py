"""Invertible preprocessing learned from the training data, stored in the checkpoint.

Both transforms are ``nn.Module`` s whose learned state lives in buffers, so they travel
in the model's ``state_dict`` (hence in every checkpoint) and run on the model's device;
their inverses are differentiable (a constrainer network can look at generated showers in
MeV).

:class:`ShowerTransform` maps showers in MeV to the space a network models:

1. ``u = E_voxel / E_incident`` (energy normalised by the incident energy);
2. ``kind``: ``"log"``: ``y = log(u + alpha)``; ``"logit"``: ``y = logit(alpha + (1 - 2
   alpha) u / u_max)`` with ``u_max`` the largest normalised deposit seen in training
   (as in CaloFlow, arXiv:2106.05285); ``"none"``: ``y = u / u_scale``;
3. per-voxel standardisation ``(y - mean) / std`` (``standardise=True``).

The inverse clips to non-negative energies and to the largest normalised deposit each
voxel received in training (``u <= u_max[voxel]``: a network output far in the tail of a
rarely hit voxel's standardised distribution would otherwise exponentiate into a
deposit larger than the incident energy), and values below the regularisation scale
(``u < alpha`` for ``log``/``logit``) are set to exactly zero, so that a generated shower
has empty cells like a simulated one.

:class:`ConditionScaler` standardises the condition features; a feature that is constant
in the training data (e.g. the impact point of a fixed gun) keeps scale 1 and is flagged
in ``constant``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor, nn

TransformKind = Literal["log", "logit", "none"]


class ShowerTransform(nn.Module):
    """Showers (MeV) <-> network space; see the module docstring.

    Arguments:
        n_voxels: number of voxels of the detector.
        kind: ``"log"``, ``"logit"`` or ``"none"``.
        alpha: regularisation of the log/logit (in units of the normalised energy
            ``E_voxel / E_incident``); also the scale below which the inverse returns 0.
        standardise: per-voxel standardisation after the log/logit.
    """

    mean: Tensor
    std: Tensor
    scale: Tensor
    umax: Tensor
    fitted: Tensor

    def __init__(
        self,
        n_voxels: int,
        kind: TransformKind = "log",
        alpha: float = 1e-6,
        standardise: bool = True,
    ) -> None:
        super().__init__()
        if kind not in ("log", "logit", "none"):
            raise ValueError(f"transform kind {kind!r} is not one of 'log', 'logit', 'none'")
        if not alpha > 0:
            raise ValueError(f"transform alpha must be positive, got {alpha!r}")
        self.kind = kind
        self.alpha = float(alpha)
        self.standardise = standardise
        self.register_buffer("mean", torch.zeros(n_voxels))
        self.register_buffer("std", torch.ones(n_voxels))
        self.register_buffer("scale", torch.ones(()))  # u_max (logit) or u_scale (none)
        self.register_buffer("umax", torch.ones(n_voxels))  # per-voxel largest u in training
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))

    def _pre(self, u: Tensor) -> Tensor:
        if self.kind == "log":
            return torch.log(u + self.alpha)
        if self.kind == "logit":
            a = self.alpha
            p = a + (1 - 2 * a) * torch.clamp(u / self.scale, 0.0, 1.0)
            return torch.log(p) - torch.log1p(-p)
        return u / self.scale

    def fit(
        self, showers: NDArray[np.floating] | Tensor, energy: NDArray[np.floating] | Tensor
    ) -> None:
        """Learn the scales from training showers (N, V) in MeV and energies (N,) in MeV."""
        x = torch.as_tensor(np.asarray(showers), dtype=torch.float32)
        e = torch.as_tensor(np.asarray(energy), dtype=torch.float32).reshape(-1, 1)
        u = x / e
        self.umax.copy_(u.max(0).values)
        if self.kind == "logit":
            self.scale.fill_(float(u.max()) * 1.05 if float(u.max()) > 0 else 1.0)
        elif self.kind == "none":
            s = float(u.std())
            self.scale.fill_(s if s > 0 else 1.0)
        y = self._pre(u)
        if self.standardise:
            self.mean.copy_(y.mean(0))
            std = y.std(0)
            self.std.copy_(torch.where(std > 1e-6, std, torch.ones_like(std)))
        self.fitted.fill_(True)

    def forward(self, showers: Tensor, energy: Tensor) -> Tensor:
        """Showers (B, V) MeV and energies (B,) MeV -> network space (B, V)."""
        y = self._pre(showers / energy.reshape(-1, 1))
        return (y - self.mean) / self.std if self.standardise else y

    def inverse(self, y: Tensor, energy: Tensor) -> Tensor:
        """Network space (B, V) -> showers in MeV (B, V), non-negative; differentiable."""
        if self.standardise:
            y = y * self.std + self.mean
        if self.kind == "log":
            u = torch.exp(torch.clamp(y, max=5.0)) - self.alpha
            u = torch.where(u > self.alpha, u, torch.zeros_like(u))
        elif self.kind == "logit":
            a = self.alpha
            u = (torch.sigmoid(y) - a) / (1 - 2 * a)
            u = torch.where(u > a, u, torch.zeros_like(u)) * self.scale
        else:
            u = torch.clamp(y * self.scale, min=0.0)
        return torch.minimum(u, self.umax) * energy.reshape(-1, 1)


class ConditionScaler(nn.Module):
    """Standardise condition features (N, F); constant features keep scale 1.

    Arguments:
        n_features: number of condition features.
    """

    mean: Tensor
    std: Tensor
    constant: Tensor

    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("std", torch.ones(n_features))
        self.register_buffer("constant", torch.zeros(n_features, dtype=torch.bool))

    def fit(self, features: NDArray[np.floating] | Tensor) -> None:
        f = torch.as_tensor(np.asarray(features), dtype=torch.float32)
        self.mean.copy_(f.mean(0))
        std = f.std(0) if len(f) > 1 else torch.zeros(f.shape[1])
        self.constant.copy_(std < 1e-6)
        self.std.copy_(torch.where(self.constant, torch.ones_like(std), std))

    def forward(self, features: Tensor) -> Tensor:
        return (features - self.mean) / self.std

    def inverse(self, scaled: Tensor) -> Tensor:
        return scaled * self.std + self.mean


__all__ = ["ConditionScaler", "ShowerTransform", "TransformKind"]
