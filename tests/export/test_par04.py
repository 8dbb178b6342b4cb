"""``caloforge export --format par04``: Geant4 Par04's input/output contract, fed exactly as
Par04's C++ feeds it, against the model's own showers; layouts Par04 cannot read."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from caloforge.data import Conditions, write_showers
from caloforge.deploy.par04 import (
    MAX_ANGLE_DEG,
    MAX_ENERGY_MEV,
    Par04LayoutError,
    export_par04,
    par04_input,
    par04_mesh,
)
from caloforge.geometry import load_detector
from caloforge.testing import toy_showers
from caloforge.train import load_model, train
from cli_writers import caloforge, leftovers, one_line_error

from .conftest import FAST, TINY

CYLINDER = """
name = "toy-cylinder"
description = "4 x (1.4 mm W + 0.3 mm Si) read out in 2 layer pairs, 4 angular x 3 radial bins"
size_x = 100.0
size_y = 100.0

[[layers]]
absorber = "W"
absorber_thickness = 1.4
active = "Si"
active_thickness = 0.3
repeat = 4

[[readout]]
group = 2
repeat = 2
segmentation = "cylindrical"
n_alpha = 4
n_r = 3
dr = 5.0

[gun]
particle = "gamma"
position = [0.0, 0.0, -100.0]
direction = [0.0, 0.0, 1.0]
"""


@pytest.fixture(scope="module")
def cylinder_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("par04")
    (folder / "toy-cylinder.toml").write_text(CYLINDER)
    det = load_detector(folder / "toy-cylinder.toml")
    s, c = toy_showers(det, 256, seed=1)
    data = write_showers(folder / "train.h5", s, c, det)
    s, c = toy_showers(det, 64, seed=2)
    val = write_showers(folder / "val.h5", s, c, det)
    return train(
        "wgan-gp", data, val=val, out=folder / "run", overrides=[*TINY["wgan-gp"], *FAST]
    ).checkpoint


def par04_run_inference(session, gen_vector: np.ndarray, size: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Par04OnnxInference::RunInference: a (1, len) tensor into the first input, the first
    ``size`` floats of the first output."""
    name = session.get_inputs()[0].name
    outputs = [o.name for o in session.get_outputs()]
    out = session.run(outputs, {name: gen_vector.reshape(1, -1).astype(np.float32)})[0]
    return np.asarray(out, dtype=np.float64).ravel()[:size]


@pytest.mark.parametrize("flavour", ["par04", "ddml"])
def test_par04_contract_against_the_model(
    cylinder_ckpt: Path, tmp_path: Path, flavour: str
) -> None:
    import onnxruntime as ort

    result = export_par04(cylinder_ckpt, tmp_path / "par04.onnx", n_parity=16, flavour=flavour)  # type: ignore[arg-type]
    assert result.max_rel_diff < 1e-4
    model, _ = load_model(cylinder_ckpt)
    latent = math.prod(model.export_noise_shape)
    mesh = par04_mesh(model.detector)
    assert (mesh.n_r, mesh.n_phi, mesh.n_z, mesh.size_r, mesh.size_z) == (3, 4, 2, 5.0, 3.4)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # Par04's default
    session = ort.InferenceSession(str(result.path), opts, providers=["CPUExecutionProvider"])
    size = mesh.n_r * mesh.n_phi * mesh.n_z
    rng = np.random.default_rng(3)
    module = model.export_module()
    for energy in (2e3, 3e4, 9e4):  # MeV, as Geant4 passes them
        z = rng.standard_normal(latent).astype(np.float32)
        vec = par04_input(z, energy, 0.0)
        assert vec[0, latent] == pytest.approx(energy / MAX_ENERGY_MEV)
        assert vec[0, latent + 1 :].tolist() == [0.0, 0.0, 1.0]
        cells = par04_run_inference(session, vec, size) * energy  # GetEnergies rescales
        # the model's own shower at the same conditions and noise (caloforge voxel order)
        cond = Conditions(
            np.array([energy]), np.array([22]), np.array([[0.0, 0.0, 1.0]]), np.zeros((1, 3))
        )
        feats = model.condition_tensor(cond)
        with torch.inference_mode():
            own = module(feats, torch.from_numpy(z).reshape(1, *model.export_noise_shape))
        own = own.numpy().reshape(mesh.n_z, mesh.n_phi, mesh.n_r)
        # Par04 cell (r, phi, z), phi bins from -pi (DDML: from 0); caloforge (z, alpha, r),
        # alpha from 0
        shift = mesh.n_phi // 2 if flavour == "par04" else 0
        for i_r in range(mesh.n_r):
            for i_phi in range(mesh.n_phi):
                for i_z in range(mesh.n_z):
                    got = cells[(i_r * mesh.n_phi + i_phi) * mesh.n_z + i_z]
                    want = own[i_z, (i_phi + shift) % mesh.n_phi, i_r]
                    assert got == pytest.approx(want, rel=1e-4, abs=1e-3)
        assert cells.sum() > 0
    assert MAX_ANGLE_DEG == 90.0


def test_par04_refuses_layouts_it_cannot_read(tmp_path: Path) -> None:
    with pytest.raises(Par04LayoutError, match="read out in cartesian cells"):
        par04_mesh(load_detector("atlas-pblar"))
    mesh = par04_mesh(load_detector("calochallenge-ds2"))
    assert (mesh.n_r, mesh.n_phi, mesh.n_z, mesh.size_r) == (9, 16, 45, 4.65)
    assert mesh.size_z == pytest.approx(3.4)


def test_cli_par04_export_of_another_layout_is_one_line(tmp_path: Path) -> None:
    from export.conftest import tiny_checkpoint

    ckpt = tiny_checkpoint("wgan-gp", tmp_path)  # the cartesian toy detector
    out = tmp_path / "p.onnx"
    result = caloforge("export", "-c", ckpt, "--format", "par04", "-o", out)
    one_line_error(result, "--format par04: detector 'toy-3x4x4' is read out in cartesian cells")
    assert not out.exists() and leftovers(tmp_path) == []


def test_cli_par04_export_prints_the_macro(cylinder_ckpt: Path, tmp_path: Path) -> None:
    out = tmp_path / "p.onnx"
    result = caloforge("export", "-c", cylinder_ckpt, "--format", "par04", "-o", out)
    assert result.returncode == 0, result.stderr
    assert out.is_file() and "/Par04/inference/setNbOfPhiCells 4" in result.stdout
    assert "/Par04/inference/setSizeOfRhoCells 5 mm" in result.stdout
