"""``flow``: two-stage normalizing flow (CaloFlow / CaloINN layout) with coupling layers.

Stage 1 (:class:`~caloforge.models.layer_stage.LayerEnergyFlow`, the base class's): a
neural-spline flow for the readout-layer energies given the conditions (CaloFlow's flow
I). Stage 2: a conditional coupling flow (zuko ``GeneralCouplingTransform``) over the
per-voxel values of :class:`~caloforge.models.two_stage.ShapeCoding` (log voxel energy over
its layer energy, empty cells dequantised below the hit threshold, standardised),
conditioned on the condition features and the standardised stage-1 layer energies
(CaloFlow's flow II). Both stages are trained by maximum likelihood.

Coupling transforms (RealNVP / CaloINN style) invert in one pass, so sampling costs the
same as density evaluation: no sequential loop over the 504 voxels as a masked
autoregressive flow would need. Each transform changes half of the voxels given the
other half; masks alternate between a random half and its complement, so every voxel is
transformed in every pair. ``coupling="spline"`` uses monotonic rational-quadratic splines
(CaloINN, arXiv:2110.11377; domain [-5, 5] of the standardised values), ``"affine"``
affine maps (RealNVP, cheaper).

References:
    arXiv:2106.05285 (CaloFlow), arXiv:2110.11377 (CaloINN), arXiv:2312.09290
    (L2LFlows), arXiv:1605.08803 (RealNVP), arXiv:1906.04032 (neural spline flows).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn

from caloforge._optional import require
from caloforge.models.base import Batch, ModelConfig, OptimizerSpec, StepContext
from caloforge.models.two_stage import TwoStageConfig, TwoStageModel


@dataclass(frozen=True)
class FlowConfig(TwoStageConfig):
    """Hyper-parameters of ``flow``.

    Arguments:
        transforms: coupling transforms of the voxel flow (even: masks come in pairs).
        hidden: widths of each coupling transform's hyper-network.
        coupling: ``spline`` (rational-quadratic) or ``affine``.
        bins: spline bins.
        temperature: scale of the base noise at sampling (1: the trained density).
    """

    transforms: int = 8
    hidden: tuple[int, ...] = (512, 512)
    coupling: Literal["spline", "affine"] = "affine"
    bins: int = 8
    temperature: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.transforms < 1:
            raise ValueError(f"transforms must be >= 1, got {self.transforms}")
        if self.coupling not in ("spline", "affine"):
            raise ValueError(f"coupling {self.coupling!r} is not one of 'spline', 'affine'")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be positive, got {self.temperature}")


class CouplingFlow(nn.Module):
    """Conditional coupling flow over ``features`` values (zuko transforms).

    Arguments:
        features / context: sizes. transforms: coupling transforms. hidden: hyper-network
        widths. coupling: ``spline`` or ``affine``. bins: spline bins.
    """

    def __init__(
        self,
        features: int,
        context: int,
        *,
        transforms: int,
        hidden: tuple[int, ...],
        coupling: str,
        bins: int,
    ) -> None:
        super().__init__()
        zuko = require("zuko")
        kwargs: dict[str, Any] = {"hidden_features": hidden}
        if coupling == "spline":
            kwargs |= {
                "univariate": zuko.transforms.MonotonicRQSTransform,
                "shapes": [(bins,), (bins,), (bins - 1,)],
            }
        layers = []
        mask = torch.zeros(features, dtype=torch.bool)
        for i in range(transforms):
            if i % 2 == 0:
                mask = torch.randperm(features) < features // 2
            else:
                mask = ~mask
            layers.append(
                zuko.flows.GeneralCouplingTransform(features, context, mask=mask, **kwargs)
            )
        base = zuko.flows.UnconditionalDistribution(
            zuko.distributions.DiagNormal,
            torch.zeros(features),
            torch.ones(features),
            buffer=True,
        )
        self.flow = zuko.flows.Flow(layers, base)
        self.features = features

    def log_prob(self, x: Tensor, ctx: Tensor) -> Tensor:
        return self.flow(ctx).log_prob(x)

    def sample(self, ctx: Tensor, generator: torch.Generator, temperature: float = 1.0) -> Tensor:
        eps = torch.randn(len(ctx), self.features, generator=generator, device=ctx.device)
        return self.sample_from_noise(ctx, eps, temperature)

    def sample_from_noise(self, ctx: Tensor, eps: Tensor, temperature: float = 1.0) -> Tensor:
        """Values (B, features) from standard normal ``eps``: one inverse pass."""
        return self.flow(ctx).transform.inv(temperature * eps)


class TwoStageFlow(TwoStageModel):
    """Two-stage normalizing flow with coupling layers; see the module docstring."""

    name: ClassVar[str] = "flow"
    export_note: ClassVar[str] = (
        "the traced coupling flow (zuko) gives an ONNX graph that ONNX Runtime rejects "
        "(an Add node with an empty input); sample it with caloforge generate (PyTorch)"
    )
    summary: ClassVar[str] = (
        "two-stage normalizing flow (CaloFlow/CaloINN): spline flow for layer energies, "
        "coupling flow for normalised voxels; one-pass sampling"
    )
    references: ClassVar[tuple[str, ...]] = (
        "2106.05285",
        "2110.11377",
        "2312.09290",
        "1605.08803",
        "1906.04032",
    )
    config_class: ClassVar[type[ModelConfig]] = FlowConfig
    train_defaults: ClassVar[dict[str, Any]] = {
        "lr": 3e-4,
        "batch_size": 256,
        "steps": 10_000,
        "grad_clip": 5.0,
        "ema_decay": 0.999,
    }
    config: FlowConfig

    def build(self) -> None:
        c = self.config
        self.build_coding()
        self.voxel_flow = CouplingFlow(
            self.n_features,
            self.n_ctx,
            transforms=c.transforms,
            hidden=c.hidden,
            coupling=c.coupling,
            bins=c.bins,
        )

    def network_optimizers(self) -> dict[str, OptimizerSpec]:
        return {"voxels": OptimizerSpec(list(self.voxel_flow.parameters()))}

    def training_step(self, batch: Batch, ctx: StepContext) -> dict[str, float]:
        context, x, logs = self.stage2_batch(batch, ctx)
        l2 = -self.voxel_flow.log_prob(x, context).mean() / self.n_features
        ctx.optimize("voxels", l2)
        return logs | {"voxel_nll_per_dim": float(l2.detach())}

    def stage2_from_noise(self, x0: Tensor, ctx: Tensor) -> Tensor:
        """The coupling flow inverted on ``x0`` (scaled by ``temperature``): one pass."""
        return self.voxel_flow.sample_from_noise(ctx, x0, self.config.temperature)


__all__ = ["CouplingFlow", "FlowConfig", "TwoStageFlow"]
