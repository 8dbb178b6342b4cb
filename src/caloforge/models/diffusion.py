"""``diffusion``: two-stage conditional flow matching with a step-count sampler and a
distilled single-pass student.

Stage 1 (the base class's, :mod:`caloforge.models.layer_stage`): a neural-spline flow for
the readout-layer energies given the conditions. Stage 2: conditional flow matching
(arXiv:2210.02747, linear "rectified" path arXiv:2209.03003) on the per-voxel values of
:class:`~caloforge.models.two_stage.ShapeCoding` (log of the voxel energy over its layer
energy, empty cells dequantised below the hit threshold, standardised), conditioned on the
condition features and the (standardised) stage-1 layer energies: a residual MLP
``v(x_t, t, c)`` is regressed on ``x_1 - x_0`` along ``x_t = (1 - t) x_0 + t x_1``,
``x_0 ~ N(0, 1)``. Sampling integrates ``dx/dt = v`` from noise with ``sample_steps``
Euler or midpoint steps (``solver``): more steps, better showers, more time.

Distillation (``distill_start > 0``): from that step on, the flow-matching network and the
layer flow are frozen, a pool of ``distill_pool`` (noise, conditions) -> teacher-ODE
pairs (``distill_teacher_steps`` midpoint steps, conditions drawn from a bank of training
conditions kept in the checkpoint, layer energies from the stage-1 flow, one generator
seeded ``distill_seed`` so that resume rebuilds it exactly) is generated once, and a small
single-pass student MLP is regressed on it (knowledge distillation of the ODE map,
arXiv:2101.02388). With ``sampler="student"`` generation is one forward pass of the
student (the fastest sampler).

References:
    arXiv:2210.02747 (flow matching), arXiv:2209.03003 (rectified flow),
    arXiv:2101.02388 (distilling the ODE sampler into one step), arXiv:2106.05285
    (CaloFlow two-stage layout), arXiv:2305.04847 (CaloDREAM: flow matching for showers).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor, nn

from caloforge.data import Conditions
from caloforge.models.base import Batch, ModelConfig, OptimizerSpec, StepContext
from caloforge.models.two_stage import TwoStageConfig, TwoStageModel

Solver = Literal["euler", "midpoint"]


@dataclass(frozen=True)
class DiffusionConfig(TwoStageConfig):
    """Hyper-parameters of ``diffusion``.

    Arguments:
        hidden / depth: width and number of residual blocks of the velocity network.
        time_features: sine/cosine features of the time.
        sample_steps: ODE steps at generation (quality vs. time).
        solver: ``euler`` (one evaluation per step) or ``midpoint`` (two).
        sampler: ``ode`` (integrate the flow-matching field) or ``student`` (one pass of
            the distilled student; needs ``distill_start > 0``).
        distill_start: step from which the student is distilled (0: no student).
        distill_pool: teacher samples regressed by the student.
        distill_teacher_steps: midpoint steps of the teacher's ODE for the pool.
        distill_seed: seed of the pool's generator (its noise, conditions and layer
            energies); the student's initial weights and batches follow ``train.seed``.
        student_hidden / student_depth: the single-pass student.
        condition_bank: training conditions kept (for the distillation pool).
    """

    hidden: int = 768
    depth: int = 4
    time_features: int = 8
    sample_steps: int = 10
    solver: Solver = "midpoint"
    sampler: Literal["ode", "student"] = "ode"
    distill_start: int = 0
    distill_pool: int = 20_000
    distill_teacher_steps: int = 10
    distill_seed: int = 20_210_205
    student_hidden: int = 512
    student_depth: int = 2
    condition_bank: int = 20_000

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("hidden", "depth", "time_features", "sample_steps", "student_hidden"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.solver not in ("euler", "midpoint"):
            raise ValueError(f"solver {self.solver!r} is not one of 'euler', 'midpoint'")
        if self.sampler not in ("ode", "student"):
            raise ValueError(f"sampler {self.sampler!r} is not one of 'ode', 'student'")
        if self.sampler == "student" and self.distill_start <= 0:
            raise ValueError("sampler 'student' needs distill_start > 0 (a distilled student)")


class ResidualMLP(nn.Module):
    """``x, context -> out``: input layer, ``depth`` residual SiLU blocks, output layer.

    Arguments:
        n_in / n_ctx / n_out: sizes. hidden: width. depth: residual blocks.
    """

    def __init__(self, n_in: int, n_ctx: int, n_out: int, hidden: int, depth: int) -> None:
        super().__init__()
        self.inp = nn.Linear(n_in + n_ctx, hidden)
        self.blocks = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(depth))
        self.out = nn.Linear(hidden, n_out)

    def forward(self, x: Tensor, ctx: Tensor) -> Tensor:
        """Float32 in and out, whatever the weights' dtype (bfloat16 at reduced precision)."""
        h = torch.cat([x, ctx], dim=1)
        dtype = self.inp.weight.dtype
        if h.dtype != dtype:
            h = h.to(dtype)
        h = nn.functional.silu(self.inp(h))
        for block in self.blocks:
            h = h + nn.functional.silu(block(h))
        out = self.out(h)
        return out if out.dtype == torch.float32 else out.float()


class Velocity(nn.Module):
    """Velocity field ``v(x_t, t, c)`` of conditional flow matching."""

    freqs: Tensor

    def __init__(self, n_voxels: int, n_ctx: int, hidden: int, depth: int, n_time: int) -> None:
        super().__init__()
        self.register_buffer("freqs", math.pi * torch.arange(1, n_time + 1, dtype=torch.float32))
        self.net = ResidualMLP(n_voxels, n_ctx + 2 * n_time, n_voxels, hidden, depth)

    def forward(self, x: Tensor, t: Tensor, ctx: Tensor) -> Tensor:
        emb = t.reshape(-1, 1) * self.freqs
        return self.net(x, torch.cat([ctx, torch.sin(emb), torch.cos(emb)], dim=1))


def integrate(
    velocity: Callable[[Tensor, Tensor, Tensor], Tensor],
    x0: Tensor,
    ctx: Tensor,
    steps: int,
    solver: Solver = "midpoint",
) -> Tensor:
    """Integrate ``dx/dt = velocity(x, t, ctx)`` from t = 0 to 1 in ``steps`` steps."""
    x, dt = x0, 1.0 / steps
    for k in range(steps):
        t = torch.ones_like(x[:, :1]) * (k * dt)  # batch size stays symbolic when traced
        if solver == "euler":
            x = x + dt * velocity(x, t, ctx)
        else:
            mid = x + 0.5 * dt * velocity(x, t, ctx)
            x = x + dt * velocity(mid, t + 0.5 * dt, ctx)
    return x


class ConditionBank(nn.Module):
    """A random subset of the training condition features (unscaled), kept in the
    checkpoint as extra state; conditions to draw from when no data is at hand."""

    def __init__(self, n_features: int, max_rows: int) -> None:
        super().__init__()
        self.max_rows = max_rows
        self.rows = torch.zeros(0, n_features)

    def fit(self, features: Tensor, generator: torch.Generator) -> None:
        idx = torch.randperm(len(features), generator=generator)[: self.max_rows]
        self.rows = features[idx].float().clone()

    def get_extra_state(self) -> dict[str, Any]:
        return {"rows": self.rows.cpu()}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.rows = state["rows"].float()


class Diffusion(TwoStageModel):
    """Two-stage conditional flow matching + distilled student; see the module docstring."""

    name: ClassVar[str] = "diffusion"
    summary: ClassVar[str] = (
        "two-stage conditional flow matching (layer-energy spline flow, then a velocity "
        "MLP on normalised voxels), ODE sampler with a step count, distilled 1-pass student"
    )
    references: ClassVar[tuple[str, ...]] = (
        "2210.02747",
        "2209.03003",
        "2101.02388",
        "2106.05285",
        "2305.04847",
    )
    config_class: ClassVar[type[ModelConfig]] = DiffusionConfig
    # distillation continues a teacher's run (from its last step) and sampling is free
    resumable_keys: ClassVar[tuple[str, ...]] = (
        *TwoStageModel.resumable_keys,
        "sampler",
        "sample_steps",
        "distill_start",
        "distill_pool",
        "distill_teacher_steps",
        "distill_seed",
    )
    train_defaults: ClassVar[dict[str, Any]] = {
        "lr": 5e-4,
        "batch_size": 256,
        "steps": 10_000,
        "grad_clip": 1.0,
        "ema_decay": 0.999,
    }
    config: DiffusionConfig
    velocity: nn.Module  # ``(x_t, t, context) -> v``; another family may bring its own
    student: nn.Module  # ``(x_0, context) -> x_1``

    def build(self) -> None:
        c = self.config
        self.build_coding()
        nf = self.n_features
        self.velocity = Velocity(nf, self.n_ctx, c.hidden, c.depth, c.time_features)
        self.student = ResidualMLP(nf, self.n_ctx, nf, c.student_hidden, c.student_depth)
        self.bank = ConditionBank(self.n_cond, c.condition_bank)
        self._pool: tuple[Tensor, Tensor, Tensor] | None = None

    def fit_data(
        self, showers: NDArray[np.float32], conditions: Conditions, generator: torch.Generator
    ) -> None:
        self.bank.fit(self.condition_tensor(conditions), generator)

    def network_optimizers(self) -> dict[str, OptimizerSpec]:
        return {
            "velocity": OptimizerSpec(list(self.velocity.parameters())),
            "student": OptimizerSpec(list(self.student.parameters())),
        }

    def training_step(self, batch: Batch, ctx: StepContext) -> dict[str, float]:
        c = self.config
        if c.distill_start > 0 and ctx.step >= c.distill_start:
            return self._distill_step(len(batch), ctx)
        cond, x1, logs = self.stage2_batch(batch, ctx)
        x0 = torch.randn(x1.shape, generator=ctx.generator, device=x1.device)
        t = torch.rand(len(x1), 1, generator=ctx.generator, device=x1.device)
        xt = (1 - t) * x0 + t * x1
        l2 = ((self.velocity(xt, t, cond) - (x1 - x0)) ** 2).mean()
        ctx.optimize("velocity", l2)
        return logs | {"cfm": float(l2.detach())}

    @torch.no_grad()
    def _build_pool(self) -> tuple[Tensor, Tensor, Tensor]:
        """(noise, context, teacher sample) pairs, deterministic for frozen weights."""
        c, device = self.config, self.device
        g = torch.Generator(device=device)
        g.manual_seed(c.distill_seed)
        rows = self.bank.rows.to(device)
        pick = torch.randint(len(rows), (c.distill_pool,), generator=g, device=device)
        cond = self.cond_scaler(rows[pick])
        x0s, ctxs, x1s = [], [], []
        for start in range(0, c.distill_pool, 2048):
            cb = cond[start : start + 2048]
            z1 = self.stage.flow.sample(cb, g)
            ctxb = torch.cat([cb, z1], dim=1)
            x0 = torch.randn(len(cb), self.n_features, generator=g, device=device)
            x1 = integrate(self.velocity, x0, ctxb, c.distill_teacher_steps, "midpoint")
            x0s.append(x0)
            ctxs.append(ctxb)
            x1s.append(x1)
        return torch.cat(x0s), torch.cat(ctxs), torch.cat(x1s)

    def _distill_step(self, n: int, ctx: StepContext) -> dict[str, float]:
        if self._pool is None:
            was_training = self.training
            self.eval()
            self._pool = self._build_pool()
            self.train(was_training)
        x0, cond, x1 = self._pool
        idx = torch.randint(len(x0), (n,), generator=ctx.generator, device=x0.device)
        loss = ((self.student(x0[idx], cond[idx]) - x1[idx]) ** 2).mean()
        ctx.optimize("student", loss)
        return {"distill": float(loss.detach())}

    def stage2_from_noise(self, x0: Tensor, ctx: Tensor) -> Tensor:
        """The ODE from ``x_0`` (``sample_steps`` steps, unrolled when traced) or the
        student's one pass."""
        c = self.config
        if c.sampler == "student":
            return self.student(x0, ctx)
        return integrate(self.velocity, x0, ctx, c.sample_steps, c.solver)

    def reduced_precision_modules(self) -> list[nn.Module]:
        """The velocity network and the student (residual MLPs): the matrix products."""
        return [self.velocity, self.student]

    def describe(self) -> dict[str, Any]:
        count = sum(p.numel() for p in self.student.parameters())
        return super().describe() | {"student_parameters": int(count)}


__all__ = [
    "ConditionBank",
    "Diffusion",
    "DiffusionConfig",
    "ResidualMLP",
    "Velocity",
    "integrate",
]
