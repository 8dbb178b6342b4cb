"""``pixelcnn``: causality without blind spot, exact windowed sampling, image layout, exact
(normalised) likelihood; TOY detectors and showers only."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

from caloforge.geometry import Detector, load_detector
from caloforge.models.pixelcnn import GatedPixelCNN, PixelCNNConfig, image_groups
from caloforge.testing import toy_showers
from caloforge.train.loading import build_model

TWO_SHAPES_TOML = """
name = "toy-two-shapes"
description = "tiny test detector: a 1 x 2 layer then a 2 x 1 layer (tests only)"
size_x = 20.0
size_y = 20.0

[[layers]]
absorber = "Pb"
absorber_thickness = 2.0
active = "LAr"
active_thickness = 4.0
repeat = 2

[[readout]]
layers = [0, 0]
segmentation = "cartesian"
nx = 1
ny = 2
cell_x = 20.0
cell_y = 10.0

[[readout]]
layers = [1, 1]
segmentation = "cartesian"
nx = 2
ny = 1
cell_x = 10.0
cell_y = 20.0

[gun]
particle = "gamma"
position = [0.0, 0.0, -100.0]
direction = [0.0, 0.0, 1.0]
"""


@pytest.fixture
def two_shapes(tmp_path: Path) -> Detector:
    path = tmp_path / "toy-two-shapes.toml"
    path.write_text(TWO_SHAPES_TOML)
    return load_detector(path)


def _net() -> tuple[GatedPixelCNN, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    net = GatedPixelCNN(bins=6, channels=4, depth=3, kernel=3, n_context=2).eval()
    x = torch.randint(0, 6, (1, 9, 5))
    return net, x, torch.randn(1, 2)


@torch.no_grad()
def test_logits_depend_on_every_earlier_pixel_and_no_later_one() -> None:
    net, x, ctx = _net()
    full = net(x, ctx)
    h, w = x.shape[1:]
    target = (6, 2)  # a pixel with earlier pixels all around (rows above, left, up-right)
    for i, j in itertools.product(range(h), range(w)):
        y = x.clone()
        y[0, i, j] = (y[0, i, j] + 1) % 6
        changed = (net(y, ctx) - full).abs().sum(1)[0] > 1e-7
        later_or_same = (torch.arange(h)[:, None] * w + torch.arange(w)[None]) <= i * w + j
        assert not changed[later_or_same].any(), f"pixel ({i},{j}) leaks into earlier logits"
        if (i, j) in [(5, 3), (5, 1), (6, 1), (4, 2)]:  # up-right included: no blind spot
            assert changed[target], f"pixel ({i},{j}) unseen by {target}"


@torch.no_grad()
def test_windowed_rows_give_the_full_image_logits() -> None:
    net, x, ctx = _net()
    full = net(x, ctx)
    for i in range(x.shape[1]):
        top = max(0, i - net.reach)
        np.testing.assert_allclose(
            net(x[:, top : i + 1], ctx)[:, :, i - top].numpy(), full[:, :, i].numpy(), atol=1e-6
        )


def test_image_groups_atlas_and_regular_grid(toy_det) -> None:
    groups = image_groups(load_detector("atlas-pblar"))
    assert [(g.rows, g.cols) for g in groups] == [(96, 3), (12, 12), (12, 6)]
    order = np.concatenate([g.order for g in groups])
    assert sorted(order.tolist()) == list(range(504))
    assert groups[0].order[:4].tolist() == [0, 96, 192, 1]  # turned: y runs down the rows
    (whole,) = image_groups(toy_det)  # same-shape layers: one image over the whole shower
    assert (whole.rows, whole.cols) == (12, 4)
    assert whole.order.tolist() == list(range(48))


def test_discretisation_round_trip(toy_det) -> None:
    model = build_model("pixelcnn", PixelCNNConfig(bins=16, channels=2, depth=1), toy_det)
    s, c = toy_showers(toy_det, 50, seed=1)
    model.fit_preprocessing(s, c)
    energy = torch.as_tensor(c.energy, dtype=torch.float32)
    classes = model.discretise(torch.as_tensor(s), energy)
    assert ((classes == 0) == torch.as_tensor(s < model.config.threshold)).all()
    g = torch.Generator().manual_seed(0)
    back = model.undiscretise(classes, energy, g)
    np.testing.assert_array_equal(model.discretise(back, energy).numpy(), classes.numpy())
    hits = s > 0
    ratio = back.numpy()[hits] / s[hits]
    width = float(np.exp(float(model._width())))
    assert ratio.min() > 1 / width - 1e-4 and ratio.max() < width + 1e-4


@torch.no_grad()
def test_likelihood_is_exact_and_normalised(two_shapes: Detector) -> None:
    bins = 3
    model = build_model(
        "pixelcnn", PixelCNNConfig(bins=bins, channels=3, depth=2, context=3), two_shapes
    )
    assert [(g.rows, g.cols) for g in model.groups] == [(2, 1), (2, 1)]
    for p in model.parameters():  # make the distribution far from uniform
        p.add_(torch.randn(p.shape) * 0.5)
    classes = torch.tensor(list(itertools.product(range(bins), repeat=4)))
    cond = torch.full((len(classes), 1), 0.3)
    total = torch.logsumexp(model.class_log_likelihood(classes, cond), 0)
    assert abs(float(total)) < 1e-5


@torch.no_grad()
def test_row_by_row_sampling_path_gives_the_full_image_logits() -> None:
    """The sampler's path: the vertical stack once per row over the ``reach`` rows above,
    then the horizontal stack over the row's first j + 1 pixels for pixel j."""
    net, x, ctx = _net()
    full = net(x, ctx)
    h, w = x.shape[1:]
    for i in range(h):
        inputs = net.row_inputs(x[:, max(0, i - net.reach) : i], ctx)
        for j in range(w):
            got = net.row_logits(x[:, i, : j + 1], inputs)[:, :, j]
            np.testing.assert_allclose(got.numpy(), full[:, :, i, j].numpy(), atol=1e-6)
    # one row fewer above than the receptive field reaches is not exact
    i = net.reach + 1
    short = net.row_inputs(x[:, i - net.reach + 1 : i], ctx)
    assert not torch.allclose(net.row_logits(x[:, i], short), full[:, :, i], atol=1e-6)
