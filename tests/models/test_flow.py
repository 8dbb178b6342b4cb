"""``flow`` and the shared two-stage coding: exact round trips, invertible coupling flow;
TOY showers on the tiny detector."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from caloforge.models.flow import CouplingFlow, FlowConfig
from caloforge.models.layer_stage import LayerEnergyFlow, layer_energies
from caloforge.models.two_stage import HitEnergyCoding, ShapeCoding
from caloforge.testing import toy_showers


def test_shape_coding_round_trip_keeps_hits_and_empty_cells(toy_det) -> None:
    s, _ = toy_showers(toy_det, 200, seed=1)
    s[:, :3] = 0.0  # some always-empty cells
    s[5, 10] = 5e-5  # below the hit threshold: decoded as empty
    coding = ShapeCoding(toy_det, threshold=1e-4, gap=8.0)
    x = torch.as_tensor(s)
    layers = layer_energies(x, toy_det)
    coding.fit(x, layers, torch.Generator().manual_seed(0))
    z = coding.encode(x, layers, torch.Generator().manual_seed(1))
    assert torch.isfinite(z).all()
    back = coding.decode(z, layers, renormalise=False).numpy()
    expected = np.where(s >= 1e-4, s, 0.0)
    np.testing.assert_allclose(back, expected, rtol=1e-4, atol=0)
    assert ((back == 0) == (expected == 0)).all()
    # out-of-range network outputs are clamped to the training range, never above E_layer
    wild = coding.decode(torch.full_like(z, 50.0), layers, renormalise=False)
    assert (wild <= layers[:, coding.voxel_layer] * 1.0001).all()
    # renormalised layers carry the stage-1 energies exactly
    renorm = coding.decode(z + 0.3, layers, renormalise=True)
    torch.testing.assert_close(layer_energies(renorm, toy_det), layers, rtol=1e-5, atol=1e-3)


def test_hit_energy_coding_round_trip(toy_det) -> None:
    s, _ = toy_showers(toy_det, 200, seed=3)
    s[7, 20] = 5e-5  # below the hit threshold: decoded as empty
    coding = HitEnergyCoding(toy_det, threshold=1e-4, hit_noise=0.5)
    x = torch.as_tensor(s)
    layers = layer_energies(x, toy_det)
    coding.fit(x, layers, torch.Generator().manual_seed(0))
    z = coding.encode(x, layers, torch.Generator().manual_seed(1))
    assert z.shape == (200, 2 * toy_det.n_voxels)
    hit, energy = z.chunk(2, dim=1)
    expected = np.where(s >= 1e-4, s, 0.0)
    assert ((hit > 0).numpy() == (expected > 0)).all() and (hit.abs() >= 0.5).all()
    hits = torch.as_tensor(expected > 0)
    assert abs(float(energy[hits].mean())) < 0.05 and abs(float(energy[hits].std()) - 1) < 0.05
    back = coding.decode(z, layers, renormalise=False).numpy()
    np.testing.assert_allclose(back, expected, rtol=1e-4, atol=0)


@pytest.mark.parametrize("kind", ["dequantised", "hit-energy"])
def test_fill_empty_layers_puts_a_stage1_energy_above_the_minimum_in_the_top_cell(
    toy_det, kind: str
) -> None:
    """``fill_above``: a layer whose cells all decode empty (stage 2 asked for nothing in
    layer 1) but whose stage-1 energy is at least the minimum gets that energy in one
    cell, the one of highest value; below the minimum, or without ``fill_above`` (the
    default), the layer stays empty and its energy is lost."""
    s, _ = toy_showers(toy_det, 50, seed=4)
    sl = toy_det.layer_slices[1]
    empty = s.copy()
    empty[:, sl] = 0.0
    x = torch.as_tensor(empty)
    layers = layer_energies(torch.as_tensor(s), toy_det)  # stage 1 puts energy in layer 1
    if kind == "dequantised":
        coding: ShapeCoding | HitEnergyCoding = ShapeCoding(toy_det, threshold=1e-4, gap=8.0)
    else:
        coding = HitEnergyCoding(toy_det, threshold=1e-4, hit_noise=0.5)
    coding.fit(x, layers, torch.Generator().manual_seed(0))
    z = coding.encode(x, layers, torch.Generator().manual_seed(1))
    layers[:5, 1] = 5e-3  # below the minimum
    kept = layer_energies(coding.decode(z, layers), toy_det)
    assert (kept[:, 1] == 0).all()
    out = coding.decode(z, layers, fill_above=1e-2)
    got = layer_energies(out, toy_det)
    assert (got[:5, 1] == 0).all()
    torch.testing.assert_close(got[5:], layers[5:], rtol=1e-5, atol=0)
    assert ((out[5:, sl] > 0).sum(1) == 1).all()


def test_layer_energy_round_trip(toy_det) -> None:
    s, c = toy_showers(toy_det, 100, seed=2)
    stage1 = LayerEnergyFlow(toy_det.n_layers, 1)
    x, e = torch.as_tensor(s), torch.as_tensor(c.energy, dtype=torch.float32)
    layers = layer_energies(x, toy_det)
    stage1.fit(layers, e)
    torch.testing.assert_close(
        stage1.decode(stage1.encode(layers, e), e), layers, rtol=1e-4, atol=1e-3
    )


@pytest.mark.parametrize("coupling", ["affine", "spline"])
def test_coupling_flow_inverts_in_one_pass(coupling: str) -> None:
    torch.manual_seed(0)
    flow = CouplingFlow(10, 2, transforms=4, hidden=(16,), coupling=coupling, bins=4)
    ctx = torch.randn(7, 2)
    g = torch.Generator().manual_seed(3)
    x = flow.sample(ctx, g)
    dist = flow.flow(ctx)
    torch.testing.assert_close(dist.transform.inv(dist.transform(x)), x, atol=1e-4, rtol=1e-4)
    masks = [t.mask for t in flow.flow.transform.transforms]
    assert all(int(m.sum()) in (5, 5) for m in masks)
    assert (masks[0] ^ masks[1]).all()  # a pair of masks covers every feature
    assert torch.isfinite(flow.log_prob(x, ctx)).all()


def test_config_rejects_foreign_transform() -> None:
    with pytest.raises(ValueError, match="transform must be 'none'"):
        FlowConfig(transform="log")
    with pytest.raises(ValueError, match="coupling"):
        FlowConfig(coupling="maf")  # type: ignore[arg-type]


def test_fill_empty_layers_below_zero_is_refused() -> None:
    from caloforge.models import get_family

    with pytest.raises(ValueError, match=r"fill_empty_layers must be >= 0 \(MeV\), got -1"):
        get_family("diffusion").config_class(fill_empty_layers=-1.0)
