"""The contract every registered post-processor fulfils, run on an untrained tiny wgan-gp
and TOY showers of the toy detector (tests only): fit, state round trip, checkpoint round
trip, sample shapes and export (or its one-line refusal)."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from caloforge.data import Conditions
from caloforge.models import ShowerModel, get_family
from caloforge.models.base import ExportNotSupportedError
from caloforge.postprocess import FitSamples, GeneratedBatch, get_postprocessor, postprocessor_names
from caloforge.postprocess.base import PostProcessor
from caloforge.testing import toy_detector, toy_showers

N = 600  # showers: 8 energy bins of the calibration's defaults hold 50 or more each
CONFIG = {"latent_dim": 8, "generator_hidden": (32,), "critic_hidden": (16,)}


def tiny_model(folder: Path, showers: np.ndarray, cond: Conditions) -> ShowerModel:
    cls = get_family("wgan-gp")
    det = toy_detector(folder)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = cls(cls.config_class(**CONFIG), det)  # type: ignore[arg-type]
    model.fit_preprocessing(showers, cond)
    return model.eval()


def model_with(post: PostProcessor, toy: tuple[Path, np.ndarray, Conditions]) -> ShowerModel:
    """The tiny model (the same weights every time) carrying ``post``."""
    model = tiny_model(*toy)
    model.add_postprocessor(post)
    return model


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, Conditions]:
    folder = tmp_path_factory.mktemp("det")
    showers, cond = toy_showers(toy_detector(folder), N, seed=0)
    return folder, showers, cond


@pytest.fixture(scope="module", params=postprocessor_names())
def fitted(
    request: pytest.FixtureRequest, toy: tuple[Path, np.ndarray, Conditions]
) -> tuple[ShowerModel, PostProcessor, dict]:
    folder, showers, cond = toy
    torch.set_num_threads(1)
    model = tiny_model(folder, showers, cond)
    generated = model.sample(cond, torch.Generator().manual_seed(1))
    cls = get_postprocessor(request.param)
    post, record = cls.fit_to(model, FitSamples(generated, showers, cond), cls.settings_class())
    return model, post, record


def test_registry_entry_is_complete(fitted: tuple[ShowerModel, PostProcessor, dict]) -> None:
    _, post, record = fitted
    cls = type(post)
    assert cls.summary and "\n" not in cls.summary and cls.done
    assert dataclasses.is_dataclass(cls.settings_class)
    assert record["kind"] and json.loads(json.dumps(record)) == record
    assert "\n" not in cls.export_note


def test_state_round_trip(
    fitted: tuple[ShowerModel, PostProcessor, dict], toy: tuple[Path, np.ndarray, Conditions]
) -> None:
    model, post, _ = fitted
    _, showers, cond = toy
    again = type(post).from_state(post.state_dict())
    again.load_state_dict(post.state_dict())
    k = post.draws
    x = torch.from_numpy(showers[: 20 * k])
    rows = np.arange(20 * k)

    def run(p: PostProcessor) -> torch.Tensor:
        batch = GeneratedBatch(
            torch.as_tensor(cond.energy[rows], dtype=torch.float32),
            cond.select(rows),
            model.detector,
            torch.Generator().manual_seed(5),
        )
        return p.process(x, batch)

    out = run(post)
    assert out.shape == (20, model.n_voxels) and torch.isfinite(out).all()
    torch.testing.assert_close(run(again), out, rtol=0, atol=0)


def test_checkpoint_round_trip_and_sample_shapes(
    fitted: tuple[ShowerModel, PostProcessor, dict], toy: tuple[Path, np.ndarray, Conditions]
) -> None:
    model, post, _ = fitted
    with_post = model_with(post, toy)
    with pytest.raises(ValueError, match="already has"):
        with_post.add_postprocessor(post)
    buffer = io.BytesIO()
    torch.save({"state": with_post.state_dict()}, buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)["state"]
    assert any(k.startswith(f"postprocessing.{post.name}.") for k in state)
    loaded = tiny_model(*toy)
    loaded.load_checkpoint_state(state)
    assert [p.name for p in loaded.postprocessors] == [post.name]
    sub = toy[2].select(np.arange(30))
    out = loaded.sample(sub, torch.Generator().manual_seed(2), batch_size=64)
    assert out.shape == (30, model.n_voxels) and out.dtype == np.float32
    assert np.isfinite(out).all() and (out >= 0).all()
    np.testing.assert_array_equal(
        out, with_post.sample(sub, torch.Generator().manual_seed(2), batch_size=64)
    )


def test_export_or_one_line_refusal(
    fitted: tuple[ShowerModel, PostProcessor, dict], toy: tuple[Path, np.ndarray, Conditions]
) -> None:
    model, post, _ = fitted
    with_post = model_with(post, toy)
    if post.export_note:
        with pytest.raises(ExportNotSupportedError) as err:
            with_post.export_module()
        assert str(err.value) == post.export_note
        return
    module = with_post.export_module()
    shape = with_post.export_noise_shape
    assert shape is not None and model.noise_shape is not None
    assert int(np.prod(shape)) == int(np.prod(model.noise_shape)) + post.noise_size
    features = with_post.condition_tensor(toy[2].select(np.arange(8)))
    noise = torch.randn(8, *shape, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        out = module(features, noise)
    assert out.shape == (8, model.n_voxels) and torch.isfinite(out).all() and (out >= 0).all()
