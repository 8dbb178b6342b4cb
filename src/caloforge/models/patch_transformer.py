"""``patch-transformer``: the two-stage flow-matching design of ``diffusion`` with a
transformer over patches of the readout instead of an MLP over all voxels.

Stage 1 is the base class's layer-energy flow; stage 2 codes the voxels as ``diffusion``
does (:mod:`caloforge.models.two_stage`) and learns them by conditional flow matching,
with the same sampler (``sample_steps``, ``solver``) and the same distilled single-pass
student (``distill_start``, ``sampler="student"``): everything but the networks is
:class:`~caloforge.models.diffusion.Diffusion`'s.

The networks (velocity and student) are diffusion transformers (DiT, arXiv:2212.09748)
over the tokens of :mod:`caloforge.models.patching`: each token is a patch of ``pl``
readout layers x ``pa x pb`` cells of their grid (the angle of a cylindrical readout is
the periodic ``a`` axis), embedded by one linear map shared by all tokens; its position is
a linear map of sine/cosine features per axis (whole turns along a periodic angle, so the
first and last angular patches are neighbours) plus a learned vector per layer group
(layers of different granularity share nothing else). The conditions (condition features,
stage-1 features and, for the velocity, the time) enter every block by adaptive layer
norm with zero-initialised gates (adaLN-Zero). Attention lets every patch see every other.

Size and cost (``d = hidden``, ``m = mlp_ratio``, ``T`` tokens, ``P = pl pa pb`` voxels
per patch, ``C`` values per voxel (1, or 2 with ``coding="hit-energy"``), ``G`` layer
groups, ``k`` network inputs of the context)::

    parameters ~ depth (4 + 2 m) d^2 + depth 6 d^2 (adaLN) + 2 C P d + G d + (k + d) d
    cost per shower ~ depth (T (4 + 2 m) d^2 + 2 T^2 d) + 2 C V d   multiply-adds

so they grow with the number of layers and patches (``T = V / P``), never with the
number of voxels squared. :meth:`PatchTransformer.memory_estimate` turns the same
counts into bytes; the trainer refuses a batch whose estimate does not fit.

Accepted layouts: any detector whose readout layers are grids (cartesian, cylindrical,
hexagonal): the patch must divide every layer's grid, and ``pl`` consecutive layers must
share one grid (:func:`~caloforge.models.patching.check_patch`).

References:
    arXiv:2212.09748 (DiT, adaLN-Zero), arXiv:2305.04847 (CaloDREAM: vision transformer
    over patches of the cylinder, flow matching), arXiv:2308.03876 (CaloDiffusion:
    cylindrical geometry), arXiv:2210.02747 (flow matching), arXiv:2101.02388 (distilling
    the sampler).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from caloforge.models.base import ModelConfig
from caloforge.models.diffusion import ConditionBank, Diffusion, DiffusionConfig
from caloforge.models.patching import PatchLayout, patch_layout, position_features

FLOAT_BYTES = 4
OVERHEAD_BYTES = 400 * 2**20
"""Memory of the process before the model (torch, numpy, the interpreter)."""
INFERENCE_CHUNK = 128
"""Showers per network pass when no gradient is kept: a larger batch is run in chunks of
this size. Each token-sized activation of 1024 showers is tens of MB, which every
element-wise operation writes to fresh memory; in chunks of 128 they are reused, and the
network takes about half the time per shower (docs/results.md, geometry-aware family)."""


@dataclass(frozen=True)
class PatchTransformerConfig(DiffusionConfig):
    """Hyper-parameters of ``patch-transformer`` (and every setting of ``diffusion``).

    Arguments:
        patch: patch size (readout layers, cells along a, cells along b); empty: the
            smallest patches giving at most ``max_tokens`` tokens.
        max_tokens: token budget of the automatic patch.
        hidden / depth: token width and transformer blocks of the velocity network.
        heads: attention heads (must divide ``hidden`` and ``student_hidden``).
        mlp_ratio: width of each block's MLP, in units of the token width.
        position_features: sine/cosine frequencies per axis of the position embedding.
        student_hidden / student_depth: the single-pass student (the same transformer).
        (the other settings: :class:`~caloforge.models.diffusion.DiffusionConfig`)
    """

    patch: tuple[int, ...] = ()
    max_tokens: int = 256
    hidden: int = 64
    depth: int = 4
    heads: int = 4
    mlp_ratio: int = 2
    position_features: int = 4
    student_hidden: int = 64
    student_depth: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("max_tokens", "heads", "mlp_ratio", "position_features", "student_depth"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("hidden", "student_hidden"):
            if getattr(self, name) % self.heads:
                raise ValueError(
                    f"{name}={getattr(self, name)} is not a multiple of heads={self.heads}"
                )


class Block(nn.Module):
    """A transformer block with adaLN-Zero conditioning: ``tokens, cond -> tokens``."""

    def __init__(self, width: int, heads: int, mlp_ratio: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.mlp = nn.Sequential(
            nn.Linear(width, mlp_ratio * width),
            nn.GELU(approximate="tanh"),
            nn.Linear(mlp_ratio * width, width),
        )
        self.modulation = nn.Linear(width, 6 * width)
        nn.init.zeros_(self.modulation.weight)
        nn.init.zeros_(self.modulation.bias)

    def forward(self, h: Tensor, cond: Tensor) -> Tensor:
        shift1, scale1, gate1, shift2, scale2, gate2 = (
            self.modulation(cond).unsqueeze(1).chunk(6, dim=2)
        )
        b, t, w = h.shape
        x = self.norm1(h) * (1 + scale1) + shift1
        q, k, v = self.qkv(x).reshape(b, t, 3, self.heads, w // self.heads).permute(2, 0, 3, 1, 4)
        att = nn.functional.scaled_dot_product_attention(q, k, v)
        h = h + gate1 * self.proj(att.transpose(1, 2).reshape(b, t, w))
        x = self.norm2(h) * (1 + scale2) + shift2
        return h + gate2 * self.mlp(x)


class PatchTransformer(nn.Module):
    """``values (B, C V), context (B, k) -> values (B, C V)`` through the patch tokens.

    Arguments:
        layout: the detector's tokens. channels: values per voxel (``C``).
        n_ctx: context columns. width / depth / heads / mlp_ratio: the transformer.
        n_freq: position frequencies per axis.
    """

    gather: Tensor
    scatter: Tensor
    positions: Tensor
    group: Tensor

    def __init__(
        self,
        layout: PatchLayout,
        channels: int,
        n_ctx: int,
        width: int,
        depth: int,
        heads: int,
        mlp_ratio: int,
        n_freq: int,
    ) -> None:
        super().__init__()
        gather = torch.as_tensor(layout.gather.ravel())
        self.register_buffer("gather", gather, persistent=False)
        self.register_buffer("scatter", torch.argsort(gather), persistent=False)
        self.register_buffer(
            "positions", torch.as_tensor(position_features(layout, n_freq)), persistent=False
        )
        self.register_buffer("group", torch.as_tensor(layout.group), persistent=False)
        self.channels, self.n_tokens = channels, layout.n_tokens
        self.token_size = channels * layout.patch_size
        self.embed = nn.Linear(self.token_size, width)
        self.position = nn.Linear(self.positions.shape[1], width)
        self.layer_embedding = nn.Parameter(torch.zeros(layout.n_groups, width))
        self.context = nn.Sequential(nn.Linear(n_ctx, width), nn.SiLU(), nn.Linear(width, width))
        self.blocks = nn.ModuleList(Block(width, heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.final_modulation = nn.Linear(width, 2 * width)
        self.out = nn.Linear(width, self.token_size)
        for layer in (self.final_modulation, self.out):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: Tensor, ctx: Tensor) -> Tensor:
        """Float32 in and out, whatever the weights' dtype (bfloat16 at reduced precision).
        Without gradients, a batch larger than :data:`INFERENCE_CHUNK` is run in chunks (not
        while traced for export: the graph keeps one pass over any batch)."""
        b = x.shape[0]
        traced = torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()
        if b > INFERENCE_CHUNK and not torch.is_grad_enabled() and not traced:
            return torch.cat([
                self._forward(x[i : i + INFERENCE_CHUNK], ctx[i : i + INFERENCE_CHUNK])
                for i in range(0, b, INFERENCE_CHUNK)
            ])
        return self._forward(x, ctx)

    def _forward(self, x: Tensor, ctx: Tensor) -> Tensor:
        dtype = self.embed.weight.dtype
        b, c = x.shape[0], self.channels
        tokens = x.reshape(b, c, -1)[:, :, self.gather].reshape(b, c, self.n_tokens, -1)
        tokens = tokens.permute(0, 2, 1, 3).reshape(b, self.n_tokens, self.token_size)
        pos = self.position(self.positions.to(dtype)) + self.layer_embedding[self.group]
        h = self.embed(tokens.to(dtype)) + pos
        cond = nn.functional.silu(self.context(ctx.to(dtype)))
        for block in self.blocks:
            h = block(h, cond)
        shift, scale = self.final_modulation(cond).unsqueeze(1).chunk(2, dim=2)
        out = self.out(self.norm(h) * (1 + scale) + shift).float()
        out = out.reshape(b, self.n_tokens, c, -1).permute(0, 2, 1, 3).reshape(b, c, -1)
        return out[:, :, self.scatter].reshape(b, -1)


class PatchVelocity(nn.Module):
    """Velocity field ``v(x_t, t, c)``: a transformer with ``n_time`` sine/cosine features
    of the time after the context (``net`` takes ``n_ctx + 2 n_time`` context columns)."""

    freqs: Tensor

    def __init__(self, net: PatchTransformer, n_time: int) -> None:
        super().__init__()
        self.register_buffer("freqs", math.pi * torch.arange(1, n_time + 1, dtype=torch.float32))
        self.net = net

    def forward(self, x: Tensor, t: Tensor, ctx: Tensor) -> Tensor:
        emb = t.reshape(-1, 1) * self.freqs
        return self.net(x, torch.cat([ctx, torch.sin(emb), torch.cos(emb)], dim=1))


class PatchTransformerModel(Diffusion):
    """``diffusion`` with patch-transformer networks; see the module docstring."""

    name: ClassVar[str] = "patch-transformer"
    summary: ClassVar[str] = (
        "two-stage flow matching with a transformer over (layer, angle/x, radius/y) patches "
        "of the readout (adaLN conditioning, periodic angle), ODE sampler, distilled student"
    )
    references: ClassVar[tuple[str, ...]] = (
        "2212.09748",
        "2305.04847",
        "2308.03876",
        "2210.02747",
        "2101.02388",
    )
    config_class: ClassVar[type[ModelConfig]] = PatchTransformerConfig
    train_defaults: ClassVar[dict[str, Any]] = {
        "lr": 3e-4,
        "batch_size": 128,
        "steps": 20_000,
        "grad_clip": 1.0,
        "ema_decay": 0.999,
    }
    config: PatchTransformerConfig

    def build(self) -> None:
        c = self.config
        self.build_coding()
        self.layout = patch_layout(self.detector, c.patch, max_tokens=c.max_tokens)
        n_time = 2 * c.time_features
        self.velocity = PatchVelocity(
            self._transformer(self.n_ctx + n_time, c.hidden, c.depth), c.time_features
        )
        self.student = self._transformer(self.n_ctx, c.student_hidden, c.student_depth)
        self.bank = ConditionBank(self.n_cond, c.condition_bank)
        self._pool = None

    def _transformer(self, n_ctx: int, width: int, depth: int) -> PatchTransformer:
        c = self.config
        channels = self.n_features // self.detector.n_voxels
        return PatchTransformer(
            self.layout,
            channels,
            n_ctx,
            width,
            depth,
            c.heads,
            c.mlp_ratio,
            c.position_features,
        )

    def memory_estimate(self, batch_size: int, *, training: bool) -> int:
        """Peak memory in bytes of a training step (or of generation) at ``batch_size``
        showers, from the layout, the network sizes and the batch (float32).

        Counted: the process (``OVERHEAD_BYTES``), the weights (training: with their
        gradients, two Adam moments and the EMA copy), per shower the activations of every
        block (kept for the backward pass when training; one block's at a time when
        generating) and the shower-sized tensors of the coding, and, when distilling, the
        teacher pool.
        """
        c = self.config
        t, v, k = self.layout.n_tokens, self.detector.n_voxels, self.n_features
        params = sum(p.numel() for p in self.parameters())
        heads, m = c.heads, c.mlp_ratio

        def block(width: int) -> int:  # floats of one block, per shower
            return (12 + 2 * m) * t * width + 2 * heads * t * t

        if training:
            teacher = c.depth * block(c.hidden)
            student = c.student_depth * block(c.student_hidden) if c.distill_start > 0 else 0
            per_shower = max(teacher, student) + 12 * k + 8 * v
            fixed = 5 * params
            if c.distill_start > 0:
                fixed += c.distill_pool * (2 * k + self.n_ctx)
        else:  # the network runs INFERENCE_CHUNK showers at a time
            width = max(c.hidden, c.student_hidden)
            per_chunk = block(width) + 3 * t * width
            fixed = params + min(batch_size, INFERENCE_CHUNK) * per_chunk
            per_shower = 8 * k + 4 * v
        return OVERHEAD_BYTES + FLOAT_BYTES * (fixed + batch_size * per_shower)

    def describe(self) -> dict[str, Any]:
        return super().describe() | {
            "patch": list(self.layout.patch),
            "tokens": self.layout.n_tokens,
        }


__all__ = ["Block", "PatchTransformer", "PatchTransformerConfig", "PatchTransformerModel"]
