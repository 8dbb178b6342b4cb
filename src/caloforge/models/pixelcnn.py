"""``pixelcnn``: gated conditional PixelCNN, layer by layer, with discretised energies.

Every voxel's energy, normalised to the incident energy (``u = E_voxel / E_inc``), is
discretised into ``bins`` classes: class 0 is an empty cell (``E_voxel < threshold`` MeV),
classes 1 .. bins-1 split ``log u`` uniformly between the smallest and the largest
normalised deposit seen in training. The model is a product of categorical (softmax)
distributions in raster order, so its log-likelihood of held-out showers is exact (for the
discretised variable; :meth:`PixelCNN.log_likelihood`). Sampling draws a class per voxel,
then a value uniform in ``log u`` inside the class.

Images: each readout layer is an image (Cartesian ``nx x ny``, cylindrical ``alpha x r``,
hexagonal ``cols x rows``), turned so that its longer side runs down the rows. Consecutive
layers of the same shape are stacked into one tall image, so a regular grid (``lcd-cube``)
is modelled as one image over the whole shower; layers of different shapes (``atlas-pblar``:
3 x 96, 12 x 12, 12 x 6) are separate images, each modelled by its own network and
conditioned on all layers generated before it (an MLP embedding of their discretised
values) and on the condition features.

Network (van den Oord et al., arXiv:1606.05328): an embedding of the input classes, then
``depth`` gated layers with a vertical stack (convolution over the rows above and the
current row, fed to the horizontal stack shifted down by one row) and a horizontal stack
(convolution over the current row up to the current pixel; the first layer excludes the
pixel itself), so that the receptive field has no blind spot; gated activation
``tanh(W_f * x + V_f h) * sigmoid(W_g * x + V_g h)`` with ``h`` the conditioning vector;
residual connections in the horizontal stack; a 1x1 head to the class logits.

Sampling is sequential over the pixels (it is an autoregressive model). At the start of
pixel row ``i`` the vertical stack runs once over the rows its receptive field reaches
(``depth * (k // 2) + 1`` rows above ``i``); each pixel of the row then runs only the
horizontal stack over the row's pixels up to it. That gives exactly the logits of the full
image at a fraction of the cost.

References:
    arXiv:1606.05328 (gated conditional PixelCNN), arXiv:1601.06759 (PixelCNN/PixelRNN),
    arXiv:1701.05517 (PixelCNN++).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal, cast

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor, nn

from caloforge.data import Conditions
from caloforge.geometry import Detector
from caloforge.models.base import Batch, ModelConfig, OptimizerSpec, ShowerModel, StepContext


@dataclass(frozen=True)
class PixelCNNConfig(ModelConfig):
    """Hyper-parameters of ``pixelcnn``.

    Arguments:
        transform / standardise: must stay ``none`` / ``False`` (the family discretises
            the showers itself).
        bins: classes per voxel (class 0: empty cell).
        threshold: smallest voxel energy counted as a hit, MeV.
        channels: feature maps of the gated layers.
        depth: gated layers per image.
        kernel: kernel size (odd).
        context: size of the conditioning vector.
        context_hidden: hidden width of the MLP embedding conditions and previous layers.
    """

    transform: Literal["log", "logit", "none"] = "none"
    standardise: bool = False
    bins: int = 128
    threshold: float = 1e-4
    channels: int = 16
    depth: int = 4
    kernel: int = 3
    context: int = 32
    context_hidden: int = 64

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.transform != "none" or self.standardise:
            raise ValueError(
                "transform must be 'none' and standardise false: pixelcnn discretises the "
                "showers itself"
            )
        if self.bins < 3:
            raise ValueError(f"bins must be >= 3, got {self.bins}")
        if self.kernel < 3 or self.kernel % 2 == 0:
            raise ValueError(f"kernel must be odd and >= 3, got {self.kernel}")
        for name in ("channels", "depth", "context", "context_hidden"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.threshold > 0:
            raise ValueError(f"threshold must be positive (MeV), got {self.threshold}")


def layer_image_shape(segmentation: Any) -> tuple[int, int]:
    """(rows, cols) of a readout layer's cell index ``a * cols + b``, longer side first
    is applied later; unknown segmentations are one row of cells."""
    for a, b in (("nx", "ny"), ("n_alpha", "n_r"), ("n_cols", "n_rows")):
        if hasattr(segmentation, a) and hasattr(segmentation, b):
            return int(getattr(segmentation, a)), int(getattr(segmentation, b))
    return 1, int(segmentation.n_cells)


@dataclass(frozen=True)
class ImageGroup:
    """Consecutive readout layers modelled as one image.

    Arguments:
        layers: readout layer indices. rows / cols: image shape. order: (rows * cols,)
            voxel index of each pixel in raster order.
    """

    layers: tuple[int, ...]
    rows: int
    cols: int
    order: NDArray[np.int64]


def image_groups(detector: Detector) -> list[ImageGroup]:
    """Split a detector's readout layers into images; see the module docstring."""
    groups: list[ImageGroup] = []
    shapes = [layer_image_shape(r.segmentation) for r in detector.readout]
    i = 0
    while i < detector.n_layers:
        j = i
        while j + 1 < detector.n_layers and shapes[j + 1] == shapes[i]:
            j += 1
        a, b = shapes[i]
        parts = []
        for layer in range(i, j + 1):
            idx = np.arange(detector.layer_slices[layer].start, detector.layer_slices[layer].stop)
            img = idx.reshape(a, b)
            parts.append(img if a >= b else img.T)
        image = np.concatenate(parts, axis=0)
        groups.append(
            ImageGroup(tuple(range(i, j + 1)), image.shape[0], image.shape[1], image.reshape(-1))
        )
        i = j + 1
    return groups


class GatedLayer(nn.Module):
    """One gated PixelCNN layer with vertical and horizontal stacks (arXiv:1606.05328).

    Arguments:
        channels: feature maps. kernel: odd kernel size. n_context: conditioning vector.
        first: mask type A (the horizontal stack excludes the current pixel; no residual).
    """

    hmask: Tensor

    def __init__(self, channels: int, kernel: int, n_context: int, *, first: bool) -> None:
        super().__init__()
        k = kernel // 2
        self.k, self.first = k, first
        self.v_conv = nn.Conv2d(channels, 2 * channels, (k + 1, kernel))
        self.h_conv = nn.Conv2d(channels, 2 * channels, (1, k + 1))
        self.v_to_h = nn.Conv2d(2 * channels, 2 * channels, 1)
        self.h_out = nn.Conv2d(channels, channels, 1)
        self.cond = nn.Linear(n_context, 4 * channels)
        mask = torch.ones(1, 1, 1, k + 1)
        if first:
            mask[..., -1] = 0.0  # type A: not the current pixel
        self.register_buffer("hmask", mask)

    @staticmethod
    def _gate(x: Tensor) -> Tensor:
        f, g = x.chunk(2, dim=1)
        return torch.tanh(f) * torch.sigmoid(g)

    def cond_bias(self, context: Tensor) -> tuple[Tensor, Tensor]:
        """The conditioning vector's biases (B, 2C, 1, 1) of the vertical and horizontal
        stacks."""
        cv, ch = self.cond(context)[:, :, None, None].chunk(2, dim=1)
        return cv, ch

    def vertical(self, v: Tensor, cv: Tensor) -> tuple[Tensor, Tensor]:
        """Vertical stack: (its output, its pre-activation ``v_pre``); row i of both sees
        the rows up to i."""
        k = self.k
        v_pre = self.v_conv(nn.functional.pad(v, (k, k, k, 0)))
        return self._gate(v_pre + cv), v_pre

    def horizontal(self, h: Tensor, v_above: Tensor, ch: Tensor) -> Tensor:
        """Horizontal stack given ``v_above = v_to_h(v_pre of the row above)``; column j
        sees the columns before it (and itself unless ``first``)."""
        h_pre = nn.functional.conv2d(
            nn.functional.pad(h, (self.k, 0, 0, 0)),
            self.h_conv.weight * self.hmask,
            self.h_conv.bias,
        )
        h_new = self.h_out(self._gate(h_pre + v_above + ch))
        return h_new if self.first else h_new + h

    def forward(self, v: Tensor, h: Tensor, context: Tensor) -> tuple[Tensor, Tensor]:
        cv, ch = self.cond_bias(context)
        v_new, v_pre = self.vertical(v, cv)
        v_down = nn.functional.pad(v_pre, (0, 0, 1, 0))[:, :, :-1]  # rows < i
        return v_new, self.horizontal(h, self.v_to_h(v_down), ch)


class GatedPixelCNN(nn.Module):
    """A gated conditional PixelCNN over one image of discretised values.

    Arguments:
        bins: classes per pixel. channels / depth / kernel: network size. n_context:
        conditioning vector.
    """

    def __init__(self, bins: int, channels: int, depth: int, kernel: int, n_context: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(bins, channels)
        self.layers = nn.ModuleList(
            GatedLayer(channels, kernel, n_context, first=i == 0) for i in range(depth)
        )
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(channels, bins, 1))
        self.reach = depth * (kernel // 2) + 1  # rows above a pixel its logits depend on

    def forward(self, classes: Tensor, context: Tensor) -> Tensor:
        """Classes (B, H, W) and context (B, C) -> logits (B, bins, H, W)."""
        x = self.embed(classes).permute(0, 3, 1, 2)
        v, h = x, x
        for layer in self.layers:
            v, h = layer(v, h, context)
        return self.head(h)

    def row_inputs(self, above: Tensor, context: Tensor) -> list[tuple[Tensor, Tensor]]:
        """What the horizontal stack of the row below ``above`` (B, R, W) takes from the
        rows above it, per layer: ``(v_to_h(v_pre of the last row), ch)``; exact when
        ``above`` holds at least the ``reach`` rows above that row, or all of them."""
        n, w = above.shape[0], above.shape[2]
        v = self.embed(above).permute(0, 3, 1, 2)
        out = []
        for layer in self.layers:
            gated = cast(GatedLayer, layer)
            cv, ch = gated.cond_bias(context)
            if above.shape[1]:
                v, v_pre = gated.vertical(v, cv)
                last = v_pre[:, :, -1:]
            else:  # the first row: nothing above
                last = v.new_zeros(n, 2 * gated.h_out.in_channels, 1, w)
            out.append((gated.v_to_h(last), ch))
        return out

    def row_logits(self, row: Tensor, inputs: list[tuple[Tensor, Tensor]]) -> Tensor:
        """Logits (B, bins, W') of a row's first W' pixels (B, W') given :meth:`row_inputs`
        of the rows above it; column j depends on the columns before it only, so the
        pixels after the last one asked for need not be known."""
        w = row.shape[1]
        h = self.embed(row[:, None]).permute(0, 3, 1, 2)
        for layer, (v_above, ch) in zip(self.layers, inputs, strict=True):
            h = cast(GatedLayer, layer).horizontal(h, v_above[..., :w], ch)
        return cast(Tensor, self.head(h)[:, :, 0])


class PixelCNN(ShowerModel):
    """Gated conditional PixelCNN, layer by layer; see the module docstring."""

    name: ClassVar[str] = "pixelcnn"
    summary: ClassVar[str] = (
        "gated conditional PixelCNN (vertical + horizontal stacks), layer images "
        "conditioned on previous layers, discretised energies, exact likelihood"
    )
    references: ClassVar[tuple[str, ...]] = ("1606.05328", "1601.06759", "1701.05517")
    config_class: ClassVar[type[ModelConfig]] = PixelCNNConfig
    export_note: ClassVar[str] = (
        "autoregressive sampling draws every cell from a categorical distribution given the "
        "cells before it (504 dependent draws): one (features, noise) -> showers graph would "
        "need an in-graph sampling loop, which the exporter does not produce; sample it with "
        "caloforge generate (PyTorch)"
    )
    train_defaults: ClassVar[dict[str, Any]] = {
        "lr": 1e-3,
        "batch_size": 128,
        "steps": 5_000,
        "grad_clip": 1.0,
    }
    config: PixelCNNConfig
    log_lo: Tensor
    log_hi: Tensor

    def build(self) -> None:
        c = self.config
        self.groups = image_groups(self.detector)
        self.register_buffer("log_lo", torch.tensor(-20.0))
        self.register_buffer("log_hi", torch.tensor(0.0))
        self.nets = nn.ModuleList()
        self.contexts = nn.ModuleList()
        before = 0
        for g in self.groups:
            self.contexts.append(
                nn.Sequential(
                    nn.Linear(self.n_cond + before, c.context_hidden),
                    nn.SiLU(),
                    nn.Linear(c.context_hidden, c.context),
                    nn.SiLU(),
                )
            )
            self.nets.append(GatedPixelCNN(c.bins, c.channels, c.depth, c.kernel, c.context))
            before += g.rows * g.cols

    def fit_preprocessing(self, showers: NDArray[np.float32], conditions: Conditions) -> None:
        super().fit_preprocessing(showers, conditions)
        u = showers / conditions.energy[:, None]
        hits = u[showers >= self.config.threshold]
        if hits.size:
            self.log_lo.fill_(float(np.log(hits.min())) - 1e-3)
            self.log_hi.fill_(float(np.log(hits.max())) + 1e-3)

    # ---- discretisation ------------------------------------------------------------------
    def _width(self) -> Tensor:
        return (self.log_hi - self.log_lo) / (self.config.bins - 1)

    def discretise(self, showers: Tensor, energy: Tensor) -> Tensor:
        """Voxel energies (B, V) MeV -> classes (B, V) (0: empty)."""
        u = torch.clamp(showers / energy.reshape(-1, 1), min=1e-38)
        k = torch.floor((torch.log(u) - self.log_lo) / self._width()).long() + 1
        k = torch.clamp(k, 1, self.config.bins - 1)
        return torch.where(showers >= self.config.threshold, k, torch.zeros_like(k))

    def undiscretise(self, classes: Tensor, energy: Tensor, generator: torch.Generator) -> Tensor:
        """Classes (B, V) -> voxel energies (B, V) MeV, uniform in log u inside a class."""
        r = torch.rand(classes.shape, generator=generator, device=classes.device)
        logu = self.log_lo + (classes.float() - 1.0 + r) * self._width()
        e = torch.exp(logu) * energy.reshape(-1, 1)
        return torch.where(classes > 0, e, torch.zeros_like(e))

    # ---- networks ------------------------------------------------------------------------
    def _context(self, gi: int, cond: Tensor, previous: Tensor) -> Tensor:
        norm = previous.float() / (self.config.bins - 1)
        return self.contexts[gi](torch.cat([cond, norm], dim=1))

    def _logits(self, classes: Tensor, cond: Tensor) -> list[Tensor]:
        """Teacher-forced logits (B, bins, H, W) of every image."""
        out, previous = [], classes[:, :0]
        for gi, g in enumerate(self.groups):
            order = torch.as_tensor(g.order, device=classes.device)
            img = classes[:, order].reshape(-1, g.rows, g.cols)
            out.append(self.nets[gi](img, self._context(gi, cond, previous)))
            previous = torch.cat([previous, classes[:, order]], dim=1)
        return out

    def log_likelihood(self, showers: Tensor, energy: Tensor, cond: Tensor) -> Tensor:
        """Exact log-likelihood (B,) in nats of the discretised showers.

        Arguments:
            showers: (B, V) voxel energies, MeV. energy: (B,) incident energies, MeV.
            cond: (B, F) standardised condition features (``cond_scaler`` output).
        """
        return self.class_log_likelihood(self.discretise(showers, energy), cond)

    def class_log_likelihood(self, classes: Tensor, cond: Tensor) -> Tensor:
        """Exact log-probability (B,) in nats of voxel classes (B, V) given conditions."""
        total = torch.zeros(len(classes), device=classes.device)
        for gi, logits in enumerate(self._logits(classes, cond)):
            g = self.groups[gi]
            order = torch.as_tensor(g.order, device=classes.device)
            target = classes[:, order].reshape(-1, g.rows, g.cols)
            lp = -nn.functional.cross_entropy(logits, target, reduction="none")
            total = total + lp.sum((1, 2))
        return total

    def network_optimizers(self) -> dict[str, OptimizerSpec]:
        return {"pixelcnn": OptimizerSpec(list(self.parameters()))}

    def training_step(self, batch: Batch, ctx: StepContext) -> dict[str, float]:
        showers = self.transform.inverse(batch.x, batch.energy)
        ll = self.log_likelihood(showers, batch.energy, batch.cond)
        loss = -ll.mean() / self.n_voxels
        ctx.optimize("pixelcnn", loss)
        return {"nll_per_voxel": float(loss.detach())}

    def generate(self, cond: Tensor, energy: Tensor, generator: torch.Generator) -> Tensor:
        n, device = len(cond), cond.device
        classes = torch.zeros(n, self.n_voxels, dtype=torch.long, device=device)
        previous = classes[:, :0]
        for gi, g in enumerate(self.groups):
            net = cast(GatedPixelCNN, self.nets[gi])
            context = self._context(gi, cond, previous)
            img = torch.zeros(n, g.rows, g.cols, dtype=torch.long, device=device)
            for i in range(g.rows):
                inputs = net.row_inputs(img[:, max(0, i - net.reach) : i], context)
                for j in range(g.cols):
                    logits = net.row_logits(img[:, i, : j + 1], inputs)[:, :, j]
                    probs = torch.softmax(logits, dim=1)
                    img[:, i, j] = torch.multinomial(probs, 1, generator=generator).squeeze(1)
            flat = img.reshape(n, -1)
            order = torch.as_tensor(g.order, device=device)
            classes[:, order] = flat
            previous = torch.cat([previous, flat], dim=1)
        return self.undiscretise(classes, energy, generator)


__all__ = [
    "GatedLayer",
    "GatedPixelCNN",
    "ImageGroup",
    "PixelCNN",
    "PixelCNNConfig",
    "image_groups",
    "layer_image_shape",
]
