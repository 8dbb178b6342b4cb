"""ONNX export: parity with PyTorch, the torch-free runtime, refusals and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from caloforge.data import ShowerFile
from caloforge.deploy.export import export, export_onnx
from caloforge.deploy.runtime import OnnxGenerator, RuntimeModelError
from caloforge.models import ModelConfig, ShowerModel
from caloforge.models.base import ExportNotSupportedError
from caloforge.train import load_checkpoint, load_model
from caloforge.train.checkpoint import save_checkpoint


def cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str
) -> tuple[int, str, str]:
    """Run the CLI entry point in this process: (exit code, stdout, stderr)."""
    from caloforge.cli import main

    monkeypatch.setattr(sys, "argv", ["caloforge", *args])
    capsys.readouterr()
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("family", ["wgan-gp", "vae", "vae+layer-stage"])
def test_parity_and_metadata(
    family: str, tiny_wgan: Path, tiny_vae: Path, tiny_vae_stage: Path, tmp_path: Path
) -> None:
    ckpt = {"wgan-gp": tiny_wgan, "vae": tiny_vae, "vae+layer-stage": tiny_vae_stage}[family]
    family = family.split("+")[0]
    result = export(ckpt, tmp_path / "m.onnx", n_parity=128)
    assert result.max_abs_diff < 1e-2  # MeV, float32 round-off only
    assert result.max_rel_diff < 1e-4
    meta = OnnxGenerator(result.path, threads=1).metadata
    assert meta.family == family
    model, _ = load_model(ckpt)
    assert meta.noise_shape == model.noise_shape
    assert meta.condition_features == model.condition_names
    assert meta.parity["max_abs_mev"] == pytest.approx(result.max_abs_diff)
    # trained range read from the (toy) training file recorded in the checkpoint
    train_file = load_checkpoint(ckpt)["info"]["data"][0]
    c = ShowerFile(train_file).conditions()
    r = meta.trained_range
    assert r.particles == (22,)
    assert r.energy == pytest.approx((c.energy.min(), c.energy.max()))
    assert r.impact_x == pytest.approx((c.impact[:, 0].min(), c.impact[:, 0].max()))


@pytest.mark.parametrize("stage", [None, -1, 0])
def test_wgan_graph_reproduces_torch_sampling(
    stage: int | None,
    tiny_wgan: Path,
    tiny_wgan_stage: Path,
    tiny_wgan_stage_first: Path,
    tmp_path: Path,
) -> None:
    """Fed the generator's own noise, the graph returns exactly model.sample's showers
    (with ``layer_stage``: the stage-1 flow's inverse, either remainder layer, and the
    layer rescaling included)."""
    ckpt = {None: tiny_wgan, -1: tiny_wgan_stage, 0: tiny_wgan_stage_first}[stage]
    path = export_onnx(ckpt, tmp_path / "m.onnx").path
    model, _ = load_model(ckpt)
    n_layers = model.detector.n_layers
    assert model.noise_shape == (model.config.latent_dim + (0 if stage is None else n_layers),)
    assert model.stage1 is None if stage is None else model.config.layer_remainder == stage
    cond = ShowerFile(load_checkpoint(ckpt)["info"]["data"][0]).conditions(0, 50)
    g = torch.Generator().manual_seed(3)
    expected = model.sample(cond, g)
    noise = torch.randn(50, *model.noise_shape, generator=torch.Generator().manual_seed(3))
    gen = OnnxGenerator(path, threads=1)
    got = gen.run(gen.features(cond), noise.numpy())
    np.testing.assert_allclose(got, expected, atol=1e-2, rtol=1e-4)


@pytest.mark.parametrize("sampler", ["ode", "student"])
def test_diffusion_graph_unrolls_the_sampler(
    sampler: str, tiny_diffusion: Path, tmp_path: Path
) -> None:
    """The ODE steps (or the student's pass) are unrolled in the graph: same showers as
    model.sample for the same noise, and the graph grows with the step count."""
    ckpt = tiny_diffusion
    if sampler == "student":
        raw = load_checkpoint(ckpt)
        raw["config"]["model"]["sampler"] = "student"
        ckpt = save_checkpoint(tmp_path / "student.pt", raw)
    path = export_onnx(ckpt, tmp_path / "m.onnx").path
    model, _ = load_model(ckpt)
    n_layers = model.detector.n_layers
    assert model.noise_shape == (n_layers + model.n_features,)
    cond = ShowerFile(load_checkpoint(ckpt)["info"]["data"][0]).conditions(0, 40)
    expected = model.sample(cond, torch.Generator().manual_seed(5))
    noise = torch.randn(40, *model.noise_shape, generator=torch.Generator().manual_seed(5))
    gen = OnnxGenerator(path, threads=1)
    got = gen.run(gen.features(cond), noise.numpy())
    np.testing.assert_allclose(got, expected, atol=1e-2, rtol=1e-4)
    assert (got >= 0).all()
    size = path.stat().st_size
    if sampler == "ode":  # 3 midpoint steps: 6 copies of the velocity network
        assert size > 4 * model.velocity.net.inp.weight.numel() * 4


def test_vae_graph_samples_like_torch(tiny_vae: Path, tmp_path: Path) -> None:
    """KDE latent sampling in the graph: same total-energy distribution as model.sample."""
    path = export_onnx(tiny_vae, tmp_path / "m.onnx").path
    model, _ = load_model(tiny_vae)
    assert model.noise_shape == (model.config.latent_dim + 1,)  # +1 picks the stored latent
    cond = ShowerFile(load_checkpoint(tiny_vae)["info"]["data"][0]).conditions(0, 256)
    torch_sum = model.sample(cond, torch.Generator().manual_seed(0)).sum(1)
    onnx_sum = OnnxGenerator(path, threads=1).sample(cond, seed=0).sum(1)
    ratio = onnx_sum / torch_sum
    assert np.median(ratio) == pytest.approx(1.0, abs=0.15)
    assert (onnx_sum >= 0).all()


def test_runtime_needs_no_torch(tiny_wgan: Path, tmp_path: Path) -> None:
    path = export_onnx(tiny_wgan, tmp_path / "m.onnx").path
    code = textwrap.dedent(
        f"""
        import sys
        sys.modules["torch"] = None  # any 'import torch' now raises ImportError
        import numpy as np
        from caloforge.deploy.runtime import OnnxGenerator
        from caloforge.data import Conditions
        gen = OnnxGenerator({str(path)!r}, threads=1)
        n = 7
        cond = Conditions(np.full(n, 5000.0), np.full(n, 22), np.tile([0.0, 0.0, 1.0], (n, 1)),
                          np.zeros((n, 3)))
        out = gen.sample(cond, seed=1, batch_size=3)
        import json
        print(json.dumps({{"shape": list(out.shape), "min": float(out.min()),
                          "torch": [m for m in sys.modules if m.split(".")[0] == "torch"]}}))
        """
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout.strip().splitlines()[-1])
    assert info["shape"] == [7, 48] and info["min"] >= 0.0 and info["torch"] == ["torch"]


def test_refusals(tiny_wgan: Path, tmp_path: Path) -> None:
    # a family without an export path: the base class default, one clear line
    model, _ = load_model(tiny_wgan)
    base = ShowerModel(ModelConfig(), model.detector)
    with pytest.raises(ExportNotSupportedError, match="cannot be exported"):
        base.export_module()
    # the library (a data lookup) is refused with its reason before its weights are read
    ckpt = load_checkpoint(tiny_wgan)
    fake = save_checkpoint(tmp_path / "lib.pt", {**ckpt, "family": "library"})
    with pytest.raises(ExportNotSupportedError, match="data lookup"):
        export(fake, tmp_path / "lib.onnx")
    with pytest.raises(ValueError, match="not supported"):
        export(tiny_wgan, tmp_path / "m.tflite", format="tflite")
    path = export(tiny_wgan, tmp_path / "m.onnx").path
    with pytest.raises(FileExistsError):
        export(tiny_wgan, path)
    with pytest.raises(RuntimeModelError, match="not a readable ONNX model"):
        OnnxGenerator(tiny_wgan)  # a torch checkpoint is not an ONNX model


def test_cli_export_and_one_line_errors(
    tiny_wgan: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, out, err = cli(
        capsys,
        monkeypatch,
        "export",
        "--checkpoint",
        str(tiny_wgan),
        "--format",
        "onnx",
        "-o",
        str(tmp_path / "m.onnx"),
    )
    assert code == 0, err
    assert "max abs diff" in out and "trained range" in out
    for args, needle in (
        (["--checkpoint", str(tmp_path / "missing.pt")], "no such checkpoint file"),
        (["--checkpoint", str(tiny_wgan), "--format", "tflite"], "not supported"),
    ):
        code, out, err = cli(capsys, monkeypatch, "export", *args, "-o", str(tmp_path / "x.onnx"))
        assert code == 2
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0]
