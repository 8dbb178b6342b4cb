"""``patch-transformer``: patches of every preset's readout, the periodic angle, bad
patches, size against voxels, training on a fine grid, memory refusal, post-processing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from caloforge.data import write_showers
from caloforge.generate import generate, gun_conditions
from caloforge.geometry import load_detector
from caloforge.models.patch_transformer import PatchTransformerConfig
from caloforge.models.patching import PatchError, patch_layout, position_features
from caloforge.postprocess.fitting import calibrate
from caloforge.testing import toy_showers
from caloforge.train import build_model, load_model, train
from caloforge.train.memory import MemoryEstimateError

from .conftest import TINY

PRESETS = {
    "atlas-pblar": 504,
    "calochallenge-ds2": 6_480,
    "lcd-cube": 15_625,
    "ild-wsi": 27_000,
    "calochallenge-ds3": 40_500,
    "hgcal-hex": 1_260,
}
SMALL = PatchTransformerConfig(
    hidden=16, depth=1, heads=2, student_hidden=8, student_depth=1, sample_steps=1
)
CF = Path(sys.executable).parent / "caloforge"


@pytest.fixture(scope="module")
def ds2_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 TOY showers in the calochallenge-ds2 layout (not physics)."""
    det = load_detector("calochallenge-ds2")
    showers, cond = toy_showers(det, 300, seed=5)
    return write_showers(tmp_path_factory.mktemp("ds2") / "toy_ds2.h5", showers, cond, det)


@pytest.mark.parametrize("preset", PRESETS)
def test_patches_tile_the_readout_within_the_token_budget(preset: str) -> None:
    det = load_detector(preset)
    assert det.n_voxels == PRESETS[preset]
    layout = patch_layout(det, max_tokens=256)
    flat = np.sort(layout.gather.ravel())
    np.testing.assert_array_equal(flat, np.arange(det.n_voxels))
    assert layout.n_tokens <= 256
    assert layout.gather.shape == (layout.n_tokens, layout.patch_size)


def test_patch_voxels_are_neighbours_in_the_grid() -> None:
    det = load_detector("calochallenge-ds2")  # 45 x 16 x 9, index (layer, alpha, r)
    layout = patch_layout(det, (3, 2, 3))
    layer, rest = np.divmod(layout.gather, 16 * 9)
    alpha, radius = np.divmod(rest, 9)
    for values, size in ((layer, 3), (alpha, 2), (radius, 3)):
        assert (values.max(1) - values.min(1) == size - 1).all()
    assert layout.n_tokens == 15 * 8 * 3


def test_angle_is_periodic_and_radius_is_not() -> None:
    layout = patch_layout(load_detector("calochallenge-ds2"), (1, 2, 3))  # 8 angular patches
    feats = position_features(layout, 1)  # one frequency: distances read as angles
    same = (layout.group == 0) & (layout.pos_b == 0)
    ring = feats[same][np.argsort(layout.pos_a[same])]
    step = np.linalg.norm(ring[1] - ring[0])
    np.testing.assert_allclose(np.linalg.norm(ring[-1] - ring[0]), step, rtol=1e-5)
    line = (layout.group == 0) & (layout.pos_a == 0)
    radial = feats[line][np.argsort(layout.pos_b[line])]
    assert np.linalg.norm(radial[-1] - radial[0]) > 1.5 * np.linalg.norm(radial[1] - radial[0])


def test_layers_of_different_grids_are_patched_each_on_its_own() -> None:
    det = load_detector("atlas-pblar")  # 3 x 96, 12 x 12, 12 x 6
    layout = patch_layout(det, (1, 3, 6))
    assert np.bincount(layout.group).tolist() == [1 * 16, 4 * 2, 4 * 1]


@pytest.mark.parametrize(
    ("preset", "patch", "words"),
    [
        ("calochallenge-ds2", (1, 3, 3), ["patch=1,3,3", "16 x 9 cylindrical", "not [16]"]),
        ("calochallenge-ds2", (2, 1, 1), ["patch=2,1,1", "45 readout layers"]),
        ("atlas-pblar", (1, 1, 4), ["patch=1,1,4", "3 x 96", "not [6]"]),
    ],
)
def test_a_patch_that_does_not_divide_the_layout_is_refused_when_built(
    preset: str, patch: tuple[int, int, int], words: list[str]
) -> None:
    det = load_detector(preset)
    with pytest.raises(PatchError) as err:
        build_model("patch-transformer", PatchTransformerConfig(patch=patch), det)
    message = str(err.value)
    assert "\n" not in message and preset in message
    for word in words:
        assert word in message


def test_bad_patch_through_the_cli_is_one_line_exit_2(ds2_file: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            *(str(CF), "train", "-m", "patch-transformer", "--data", str(ds2_file)),
            *("-o", str(tmp_path / "run"), "--steps", "1", "-q", "patch=1,3,3"),
        ],
        capture_output=True,
        text=True,
        env=os.environ,
        check=False,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("error: patch=1,3,3 does not fit calochallenge-ds2")
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_parameters_grow_with_the_patch_not_with_the_voxels() -> None:
    cfg = PatchTransformerConfig(**{**SMALL.__dict__, "patch": (3, 2, 3)})
    counts, tokens = {}, {}
    for preset in ("calochallenge-ds2", "calochallenge-ds3"):  # 6,480 and 40,500 voxels
        model = build_model("patch-transformer", cfg, load_detector(preset))
        counts[preset] = sum(p.numel() for p in model.velocity.parameters())
        tokens[preset] = model.layout.n_tokens
    assert tokens == {"calochallenge-ds2": 15 * 8 * 3, "calochallenge-ds3": 15 * 25 * 6}
    assert counts["calochallenge-ds2"] == counts["calochallenge-ds3"]
    bigger = PatchTransformerConfig(**{**SMALL.__dict__, "patch": (3, 2, 6)})
    model = build_model("patch-transformer", bigger, load_detector("calochallenge-ds3"))
    grown = sum(p.numel() for p in model.velocity.parameters()) - counts["calochallenge-ds3"]
    assert grown == (3 * 2 * 3) * (2 * SMALL.hidden + 1)  # patch embedding, read-out (+ bias)


@pytest.mark.parametrize("preset", ["atlas-pblar", "calochallenge-ds3"])
@pytest.mark.parametrize("sampler", ["ode", "student"])
def test_untrained_model_generates_at_every_size(preset: str, sampler: str) -> None:
    det = load_detector(preset)
    cfg = PatchTransformerConfig(**{**SMALL.__dict__, "sampler": sampler, "distill_start": 1})
    model = build_model("patch-transformer", cfg, det)
    showers = generate(model, gun_conditions(np.array([1e4, 5e4]), det), seed=1)
    assert showers.shape == (2, det.n_voxels)
    assert np.isfinite(showers).all() and (showers >= 0).all()


def test_a_large_batch_without_gradients_is_the_same_network_in_chunks() -> None:
    """Generation runs the transformer INFERENCE_CHUNK showers at a time: the same values as
    one pass over the whole batch (which training, with gradients, still makes)."""
    import torch

    from caloforge.models.patch_transformer import INFERENCE_CHUNK

    cfg = PatchTransformerConfig(**{**SMALL.__dict__, "patch": (3, 2, 3)})
    model = build_model("patch-transformer", cfg, load_detector("calochallenge-ds2"))
    net = model.student
    for p in net.parameters():  # the zero-initialised gates and read-out would hide a mix-up
        torch.nn.init.normal_(p, std=0.1)
    n = 2 * INFERENCE_CHUNK + 5
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, net.token_size * net.n_tokens, generator=gen)
    ctx = torch.randn(n, net.context[0].in_features, generator=gen)
    passes: list[int] = []
    one_pass = net._forward
    net._forward = lambda x, ctx: passes.append(len(x)) or one_pass(x, ctx)  # type: ignore
    whole = net(x, ctx).detach()  # gradients on: one pass
    with torch.no_grad():
        chunked = net(x, ctx)
    assert passes == [n, INFERENCE_CHUNK, INFERENCE_CHUNK, 5]
    torch.testing.assert_close(chunked, whole, rtol=1e-5, atol=1e-6)
    assert chunked.abs().max() > 0 and not torch.equal(chunked[0], chunked[-1])


def test_loss_falls_on_a_few_hundred_showers_of_a_fine_grid(ds2_file: Path, tmp_path: Path) -> None:
    result = train(
        "patch-transformer",
        ds2_file,
        out=tmp_path / "run",
        overrides=[
            *TINY["patch-transformer"][1:],
            "patch=3,2,3",
            "distill_start=0",
            "coding=hit-energy",
            "train.steps=40",
            "train.batch_size=64",
            "train.lr=3e-3",
            "train.log_every=1",
            "train.threads=1",
        ],
    )
    lines = (result.out / "metrics.jsonl").read_text().splitlines()
    cfm = [json.loads(line)["loss"]["cfm"] for line in lines if '"loss"' in line]
    assert len(cfm) == 40
    assert np.mean(cfm[-8:]) < 0.9 * np.mean(cfm[:8])


def test_memory_estimate_refuses_a_batch_with_the_one_that_fits(
    ds2_file: Path, tmp_path: Path
) -> None:
    cfg = PatchTransformerConfig(**{**SMALL.__dict__, "patch": (1, 2, 3)})
    model = build_model("patch-transformer", cfg, load_detector("calochallenge-ds2"))
    small = model.memory_estimate(1, training=True)
    big = model.memory_estimate(256, training=True)
    assert small is not None and big is not None and big > small
    limit_gb = (small + big) / 2 / 1e9
    overrides = [f"{k}={getattr(cfg, k)}" for k in ("hidden", "depth", "heads", "sample_steps")]
    overrides += ["student_hidden=8", "student_depth=1", "patch=1,2,3"]
    overrides += ["train.steps=1", "train.batch_size=256", f"train.max_memory_gb={limit_gb}"]
    with pytest.raises(MemoryEstimateError) as err:
        train("patch-transformer", ds2_file, out=tmp_path / "run", overrides=overrides)
    message = str(err.value)
    assert "\n" not in message
    assert "train.batch_size=256" in message and "calochallenge-ds2" in message
    fits = int(message.rsplit("train.batch_size=", 1)[1].split()[0])
    assert 1 <= fits < 256
    fits_bytes = model.memory_estimate(fits, training=True)
    over_bytes = model.memory_estimate(fits + 1, training=True)
    assert fits_bytes is not None and over_bytes is not None
    assert fits_bytes <= limit_gb * 1e9 < over_bytes
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_calibration_applies_to_the_family(toy_files: tuple[Path, Path], tmp_path: Path) -> None:
    train_file, _ = toy_files
    run = train(
        "patch-transformer",
        train_file,
        out=tmp_path / "run",
        overrides=[*TINY["patch-transformer"], "train.steps=25", "train.batch_size=64"],
    )
    out = calibrate(run.checkpoint, train_file, tmp_path / "calibrated.pt", bins=2)
    model, _ = load_model(out.path)
    assert list(model.postprocessing) == ["calibration"]
    det = model.detector
    showers = generate(model, gun_conditions(np.full(20, 1e4), det), seed=2)
    assert showers.shape == (20, det.n_voxels) and np.isfinite(showers).all()
