"""Behaviour specific to the layer-gan, gan3d and bib-ae families, beyond the contract.

Networks are tiny and the showers are TOY showers (not physics); presets are loaded from
the package, no external data is needed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from caloforge.data import write_showers
from caloforge.geometry import load_detector
from caloforge.models import get_family
from caloforge.models.blocks import DecoderHead, LatentKDE, mmd
from caloforge.models.gan3d import UnsupportedDetectorError, grid_shape
from caloforge.testing import toy_showers
from caloforge.train import load_model, train
from caloforge.train.loading import build_model

from .conftest import FAST, TINY


def _tiny(family: str, detector, **kwargs):
    cls = get_family(family)
    return build_model(family, cls.config_class(**kwargs), detector)


# ---- layer-gan -------------------------------------------------------------------------
def _layer_gan():
    det = load_detector("atlas-pblar")  # 3 x 96, 12 x 12, 12 x 6 cells
    model = _tiny(
        "layer-gan",
        det,
        latent_dim=4,
        generator_hidden=(16,),
        previous_dim=8,
        critic_hidden=(8,),
        shower_critic_hidden=(8,),
    )
    return det, model


def test_layer_gan_has_one_generator_per_layer_fed_by_the_layers_before() -> None:
    det, model = _layer_gan()
    assert len(model.generators) == det.n_layers == 3
    assert model.generators[0].previous is None  # the first layer depends on no layer
    widths = [g.previous[0].in_features for g in model.generators[1:]]
    assert widths == [288, 288 + 144]
    # per-layer critics see the layer and, as conditions, the layers before it
    assert [c.net[0].in_features for c in model.layer_critics] == [
        288 + 1,
        144 + 1 + 288,
        72 + 1 + 432,
    ]
    # the whole-shower critic sees the cells plus 3 layer and 1 total energy features
    assert model.shower_critic.net[0].in_features == 504 + 4 + 1
    s, c = toy_showers(det, 200, seed=0)
    model.fit_preprocessing(s, c)
    batch = model.make_batch(s, c)
    with torch.no_grad():
        features = model.shower_critic_input(batch.x)[:, 504:]
    u = s / c.energy[:, None]
    total = np.log(u.sum(1) + 1e-6)
    expected = (total - total.mean()) / total.std(ddof=1)
    np.testing.assert_allclose(features[:, -1].numpy(), expected, atol=2e-3)


def test_layer_gan_causal_conditioning() -> None:
    _, model = _layer_gan()
    g = torch.Generator().manual_seed(0)
    z = torch.randn(5, 4, generator=g)
    cond = torch.randn(5, 1, generator=g)
    layer0 = torch.randn(5, 288, generator=g)
    with torch.no_grad():
        a = model.generate_layer(1, z, cond, layer0)
        b = model.generate_layer(1, z, cond, layer0 + 1.0)
    assert not torch.allclose(a, b)  # changing layer 0 changes the input of layer 1

    # free running: perturbing the last generator leaves the earlier layers unchanged,
    # perturbing the first one changes every later layer
    def shower(seed: int) -> torch.Tensor:
        with torch.no_grad():
            return model._free_running(cond, torch.Generator().manual_seed(seed))

    base = shower(1)
    with torch.no_grad():
        model.generators[2].net[-1].bias.add_(1.0)
    last = shower(1)
    torch.testing.assert_close(last[:, :432], base[:, :432], rtol=0, atol=0)
    assert not torch.allclose(last[:, 432:], base[:, 432:])
    with torch.no_grad():
        model.generators[0].net[-1].bias.add_(1.0)
    first = shower(1)
    for s in (slice(0, 288), slice(288, 432), slice(432, 504)):
        assert not torch.allclose(first[:, s], last[:, s])


# ---- gan3d -----------------------------------------------------------------------------
@pytest.mark.parametrize("preset", ["atlas-pblar", "calochallenge-ds2", "hgcal-hex"])
def test_gan3d_refuses_detectors_that_are_not_one_grid(preset: str) -> None:
    det = load_detector(preset)
    with pytest.raises(UnsupportedDetectorError, match="same Cartesian grid") as err:
        _tiny("gan3d", det, channels=1, critic_channels=1)
    assert repr(det.name) in str(err.value) and "\n" not in str(err.value)
    if preset == "atlas-pblar":
        assert "3x96, 12x12, 12x6" in str(err.value)


def test_gan3d_trains_on_toy_file_of_a_refused_detector_gives_one_line(tmp_path: Path) -> None:
    det = load_detector("atlas-pblar")
    s, c = toy_showers(det, 64, seed=0)
    data = write_showers(tmp_path / "toy_atlas.h5", s, c, det)
    with pytest.raises(ValueError, match="gan3d needs a detector"):
        train("gan3d", data, out=tmp_path / "run", overrides=[*TINY["gan3d"], *FAST, "steps=1"])
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_gan3d_on_the_lcd_cube_grid() -> None:
    det = load_detector("lcd-cube")
    assert grid_shape(det) == (25, 25, 25)
    model = _tiny("gan3d", det, latent_dim=4, channels=1, critic_channels=1)
    assert model.condition_names == ("log_energy", "particle")
    cond = torch.zeros(3, 2)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        x = model._fake(cond, g)
        logit, energy = model.discriminator(x, cond)
    assert x.shape == (3, 25 * 25 * 25) and (x >= 0).all()
    assert logit.shape == energy.shape == (3,)


def test_gan3d_particle_conditioning_and_losses(toy_det) -> None:
    model = _tiny("gan3d", toy_det, latent_dim=4, channels=2, upsamplings=1, critic_channels=2)
    s, c = toy_showers(toy_det, 50, seed=0)
    model.fit_preprocessing(s, c)
    assert float(model.response) == pytest.approx(float(np.mean(s.sum(1) / c.energy)))
    batch = model.make_batch(s, c)
    with torch.no_grad():
        # the total-energy loss vanishes for showers at the mean response, not otherwise
        model.transform.umax.fill_(1e9)  # no clipping of the rescaled toy cells
        at_mean = torch.as_tensor(s) / torch.as_tensor(s.sum(1, keepdims=True))
        at_mean = model.transform(at_mean * model.response * batch.energy[:, None], batch.energy)
        assert float(model.total_energy_error(at_mean, batch.energy)) < 1e-4
        twice = float(model.total_energy_error(2 * at_mean, batch.energy))
        assert twice == pytest.approx(1.0, rel=1e-3)
        # the auxiliary regression error is zero for a perfect prediction
        assert float(model.energy_error(batch.cond[:, 0], batch.cond)) == 0.0
        # the particle type enters the generator
        z = torch.randn(4, 4, generator=torch.Generator().manual_seed(1))
        e = torch.zeros(4, 1)
        a = model.generator(z, torch.cat([e, torch.zeros(4, 1)], 1))
        b = model.generator(z, torch.cat([e, torch.ones(4, 1)], 1))
    assert not torch.allclose(a, b)


# ---- bib-ae ----------------------------------------------------------------------------
def test_bib_ae_mmd_zero_for_identical_samples_positive_otherwise(toy_det) -> None:
    model = _tiny("bib-ae", toy_det, latent_dim=4, encoder_hidden=(8,), decoder_hidden=(8,))
    g = torch.Generator().manual_seed(0)
    a = torch.randn(200, 4, generator=g)
    assert float(model.latent_regulariser(a, a)) == pytest.approx(0.0, abs=1e-6)
    assert float(mmd(a, a.clone())) == pytest.approx(0.0, abs=1e-6)
    b = torch.randn(200, 4, generator=g)
    same = float(model.latent_regulariser(a, b))  # two draws of one distribution
    shifted = float(model.latent_regulariser(a, b + 1.0))
    wide = float(model.latent_regulariser(a, 3.0 * b))
    assert 0 < same < shifted and same < wide


def test_bib_ae_trains_critic_and_mmd_and_shares_the_vae_pieces(toy_files, tmp_path: Path) -> None:
    result = train(
        "bib-ae",
        toy_files[0],
        out=tmp_path / "run",
        overrides=[*TINY["bib-ae"], *FAST, "steps=10", "kde_points=100"],
    )
    model, ckpt = load_model(result.checkpoint)
    assert isinstance(model.postprocessor, DecoderHead) and isinstance(model.kde, LatentKDE)
    assert ckpt["state"]["kde._extra_state"]["points"].shape == (100, 4)
    assert set(ckpt["trainer"]["optimizers"]) == {"vae", "postprocessor", "critic"}
    losses = [
        json.loads(line)["loss"]
        for line in (result.out / "metrics.jsonl").read_text().splitlines()
        if "loss" in json.loads(line)
    ]
    assert {"latent_mmd", "adv", "wasserstein", "gp", "pp_spectrum"} <= set(losses[-1])
    fresh = build_model("bib-ae", model.config, model.detector)  # same init seed
    trained = dict(model.critic.named_parameters())
    assert any(not torch.equal(p, trained[n]) for n, p in fresh.critic.named_parameters())
