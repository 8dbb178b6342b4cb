"""The contract every registered model family must fulfil, on a tiny detector with TOY showers."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from caloforge.data import read_showers
from caloforge.generate import generate, generate_file, gun_conditions
from caloforge.models import family_names, get_family
from caloforge.train import TrainResult, load_checkpoint, load_model, train

from .conftest import FAST, TINY

N = 15  # steps of the resume half-run; the full run has 2N
VARIANTS = {
    "wgan-gp+layer-stage": ("wgan-gp", ["layer_stage=true"]),
    "vae+layer-stage": ("vae", ["layer_stage=true"]),
    "bib-ae+layer-stage": ("bib-ae", ["layer_stage=true"]),
    "layer-gan+layer-stage": ("layer-gan", ["layer_stage=true"]),
    "gan3d+layer-stage": ("gan3d", ["layer_stage=true"]),
}
"""Configurations that change a family's structure, run through the same contract."""


def _train(
    spec: str, data: tuple[Path, Path], out: Path, steps: int, *, resume: bool = False
) -> TrainResult:
    train_file, val_file = data
    family, extra = VARIANTS.get(spec, (spec, []))
    return train(
        family,
        train_file,
        val=val_file,
        out=out,
        overrides=[
            *TINY.get(family, []),
            *extra,
            *FAST,
            f"train.steps={steps}",
            "train.checkpoint_every=10",
        ],
        resume=resume,
    )


@pytest.fixture(scope="module", params=[*family_names(), *VARIANTS])
def run(
    request: pytest.FixtureRequest,
    toy_files: tuple[Path, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict:
    family = request.param
    folder = tmp_path_factory.mktemp(family)
    full = _train(family, toy_files, folder / "full", 2 * N)
    _train(family, toy_files, folder / "half", N)
    resumed = _train(family, toy_files, folder / "half", 2 * N, resume=True)
    return {"family": VARIANTS.get(family, (family,))[0], "full": full, "resumed": resumed}


def test_registry_entry_is_complete(run: dict) -> None:
    cls = get_family(run["family"])
    assert cls.summary and "\n" not in cls.summary
    assert cls.config_class.__doc__


def test_shapes_finite_nonnegative(run: dict, toy_det) -> None:
    model, _ = load_model(run["full"].checkpoint)
    cond = gun_conditions(np.geomspace(1e3, 1e5, 50), toy_det)
    showers = generate(model, cond, seed=3)
    assert showers.shape == (50, toy_det.n_voxels)
    assert showers.dtype == np.float32
    assert np.isfinite(showers).all() and (showers >= 0).all()
    assert (showers.sum(1) > 0).mean() > 0.9


def test_more_incident_energy_more_visible_energy(run: dict, toy_det) -> None:
    model, _ = load_model(run["full"].checkpoint)
    means = [
        generate(model, gun_conditions(np.full(200, e), toy_det), seed=4).sum(1).mean()
        for e in (2e3, 10e3, 50e3)
    ]
    assert means[0] < means[1] < means[2]
    # roughly proportional: the toy sampling fraction is 0.2
    assert 0.05 < means[2] / 50e3 < 0.6


def test_save_load_gives_identical_samples(run: dict, toy_det) -> None:
    cond = gun_conditions(np.geomspace(1e3, 1e5, 64), toy_det)
    a, _ = load_model(run["full"].checkpoint)
    b, _ = load_model(run["full"].checkpoint)
    np.testing.assert_array_equal(generate(a, cond, seed=7), generate(b, cond, seed=7))


def test_resume_continues_the_same_run(run: dict) -> None:
    full = load_checkpoint(run["full"].checkpoint)
    resumed = load_checkpoint(run["resumed"].checkpoint)
    assert full["step"] == resumed["step"] == (2 * N if get_family(run["family"]).trainable else 0)
    assert full["state"].keys() == resumed["state"].keys()
    for key, value in full["state"].items():
        if isinstance(value, torch.Tensor):
            torch.testing.assert_close(value, resumed["state"][key], rtol=0, atol=0, msg=key)
    for name, opt in full["trainer"]["optimizers"].items():
        for pid, st in opt["state"].items():
            torch.testing.assert_close(
                st["exp_avg"],
                resumed["trainer"]["optimizers"][name]["state"][pid]["exp_avg"],
                rtol=0,
                atol=0,
            )
    assert torch.equal(full["trainer"]["generator"], resumed["trainer"]["generator"])


def test_checkpoint_contents(run: dict, toy_det) -> None:
    ckpt = load_checkpoint(run["full"].checkpoint)
    assert ckpt["family"] == run["family"]
    assert json.loads(ckpt["detector"])["name"] == toy_det.name
    assert ckpt["condition_features"][0] == "log_energy"
    assert set(ckpt["config"]) == {"model", "train"}
    assert any(k.startswith("transform.") for k in ckpt["preprocessing"])
    assert ckpt["caloforge_version"]
    metrics = [
        json.loads(line) for line in (run["full"].out / "metrics.jsonl").read_text().splitlines()
    ]
    assert any("val" in m for m in metrics)
    if get_family(run["family"]).trainable:
        assert [m["step"] for m in metrics if "loss" in m] == list(range(5, 2 * N + 1, 5))
        assert all({"step", "time", "lr", "loss"} <= set(m) for m in metrics if "loss" in m)


def test_generate_file_with_reference_conditions(run: dict, toy_files, tmp_path: Path) -> None:
    _, val = toy_files
    path = generate_file(
        run["full"].checkpoint, tmp_path / "gen.h5", n=100, conditions_from=val, seed=1
    )
    showers, cond, det = read_showers(path)
    _, ref_cond, _ = read_showers(val, max_showers=100)
    assert showers.shape == (100, det.n_voxels)
    np.testing.assert_allclose(cond.energy, ref_cond.energy, rtol=1e-6)
    with h5py.File(path) as f:
        gen = json.loads(f.attrs["generator"])
        assert gen["model"] == run["family"]
        assert json.loads(f.attrs["config"])["model"]
    with pytest.raises(FileExistsError):
        generate_file(run["full"].checkpoint, path, n=10, energy="10GeV")


def test_exports_with_parity_or_refuses_in_one_line(run: dict, tmp_path: Path) -> None:
    """Every family either exports to ONNX (the graph fed the model's own noise matches
    PyTorch) or is refused with a one-line reason naming it."""
    from caloforge.deploy.export import export_onnx
    from caloforge.models.base import ExportNotSupportedError

    try:
        result = export_onnx(run["full"].checkpoint, tmp_path / "m.onnx", n_parity=32)
    except ExportNotSupportedError as exc:
        message = str(exc)
        assert run["family"] in message and "\n" not in message
        return
    assert result.max_rel_diff < 1e-3
