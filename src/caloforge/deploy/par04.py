"""Export a model as a drop-in for Geant4's Par04 example (``caloforge export --format par04``).

Geant4's ``examples/extended/parameterisations/Par04`` (``Par04InferenceSetup::GetEnergies``
and ``Par04OnnxInference::RunInference``) feeds its ONNX model one float32 tensor of shape
``(1, latent + 4)``, through the graph's first input, and reads ``r x phi x z`` floats from
its first output:

* input ``[z_1 .. z_latent, E / 1024 GeV, theta_deg / 90, 0, 1]``: standard normal latent
  numbers, then the conditions: the particle's kinetic energy over Par04's maximum energy,
  its polar angle (``G4ThreeVector::theta``, degrees) over Par04's maximum angle, and the
  one-hot geometry code that Par04 fixes at ``[0, 1]``;
* output: per mesh cell the energy *over the particle's energy* (Par04 multiplies by it),
  flattened with r outermost, then phi, then z (``index = (i_r * n_phi + i_phi) * n_z + i_z``);
  Par04 places cell ``(i_r, i_phi, i_z)`` at radius ``(i_r + 0.5) dr``, azimuth
  ``(i_phi + 0.5) 2 pi / n_phi - pi`` and depth ``(i_z + 0.5) dz`` in the frame of the
  particle (rotated to its direction), and has no cell threshold of its own.

The exported graph wraps the model's ONNX graph (:mod:`caloforge.deploy.export`): it turns
Par04's input into caloforge's condition features (conditions Par04 does not give take
their value at normal incidence and the centre of the trained impact range; the particle
is the first trained one), runs the model with the latent numbers as its noise, and turns
its showers (MeV, caloforge's voxel order: layer, then angular bin from alpha = 0, then
radial bin, with the model's own threshold applied) into Par04's order and scale. Only a
layout Par04 can place is exported: one cylindrical readout mesh centred on the particle,
the same in every layer, radial bins of one width from the axis, an even number of
angular bins, readout layers of one thickness (e.g. ``calochallenge-ds2``). The macro sets
the model path, the latent size and the mesh (see :func:`par04_macro`).

key4hep's DDML (``Par04ExampleVAE``) feeds the same input (the angle as theta / (pi/2) in
radians, the same number, measured in the calorimeter's local frame) and reads the same
output, but places phi bin ``j`` at ``(j + 0.5) 2 pi / n_phi``, from 0 like caloforge, and
deposits only cells above zero: ``flavour="ddml"`` (``--format ddml``) writes the graph
without Par04's half-turn of the angular bins.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from caloforge._optional import require
from caloforge.data import Conditions, condition_features
from caloforge.deploy.export import (
    OPSET,
    ExportResult,
    load_for_export,
    onnx_session,
    parity,
    save_onnx,
    trace_onnx,
)
from caloforge.deploy.runtime import METADATA_KEY, TrainedRange
from caloforge.files import atomic_output, writes_output
from caloforge.geometry import CylindricalSegmentation, Detector, detector_from_json
from caloforge.models.base import ExportNotSupportedError
from caloforge.train.checkpoint import load_checkpoint

MAX_ENERGY_MEV = 1024000.0
"""Par04's ``fMaxEnergy``: the energy condition is E / 1024 GeV."""
MAX_ANGLE_DEG = 90.0
"""Par04's ``fMaxAngle``: the angle condition is theta (degrees) / 90."""
GEOMETRY_ONE_HOT = (0.0, 1.0)
"""The geometry code Par04 appends to the conditions."""
N_CONDITIONS = 4


class Par04LayoutError(ValueError):
    """A detector layout Par04's mesh cannot hold (one line)."""


@dataclass(frozen=True)
class Par04Mesh:
    """Par04's cylindrical mesh of a layout: cells and sizes (mm) along (r, phi, z)."""

    n_r: int
    n_phi: int
    n_z: int
    size_r: float
    size_z: float


def par04_mesh(detector: Detector, fmt: str = "par04") -> Par04Mesh:
    """The Par04 mesh that holds ``detector``'s readout.

    Raises:
        Par04LayoutError: naming what Par04 cannot read.
    """
    name = detector.name
    segs = {r.segmentation for r in detector.readout}
    seg = detector.readout[0].segmentation
    if not isinstance(seg, CylindricalSegmentation):
        raise Par04LayoutError(
            f"--format {fmt}: detector {name!r} is read out in {seg.kind} cells; Par04 reads "
            "a cylindrical mesh centred on the particle (e.g. calochallenge-ds2)"
        )
    if len(segs) != 1:
        raise Par04LayoutError(
            f"--format {fmt}: detector {name!r} has different cells in different layers; "
            "Par04's mesh is the same in every layer"
        )
    edges = np.asarray(seg.r_edges, dtype=np.float64)
    widths = np.diff(edges)
    if edges[0] != 0.0 or not np.allclose(widths, widths[0], rtol=1e-6):
        raise Par04LayoutError(
            f"--format {fmt}: detector {name!r} has radial edges {list(seg.r_edges)}; Par04's "
            "radial cells start at the axis and have one width"
        )
    if seg.n_alpha % 2:
        raise Par04LayoutError(
            f"--format {fmt}: detector {name!r} has {seg.n_alpha} angular bins; Par04's bins "
            "start at -pi, caloforge's at 0: an even number is needed to map them (DDML too)"
        )
    thick = {
        round(sum(la.thickness for la in detector.layers[r.first : r.last + 1]), 9)
        for r in detector.readout
    }
    if len(thick) != 1:
        raise Par04LayoutError(
            f"--format {fmt}: detector {name!r} has readout layers of different thickness "
            f"({sorted(thick)} mm); Par04's z cells have one size"
        )
    return Par04Mesh(seg.n_r, seg.n_alpha, detector.n_layers, float(widths[0]), thick.pop())


def par04_macro(mesh: Par04Mesh, latent: int, model: str | Path) -> str:
    """The Par04 macro lines that load an exported model."""
    return "\n".join(
        [
            f"/Par04/inference/setModelPathName {model}",
            "/Par04/inference/setInferenceLibrary ONNX",
            f"/Par04/inference/setSizeLatentVector {latent}",
            f"/Par04/inference/setSizeConditionVector {N_CONDITIONS}",
            f"/Par04/inference/setNbOfRhoCells {mesh.n_r}",
            f"/Par04/inference/setNbOfPhiCells {mesh.n_phi}",
            f"/Par04/inference/setNbOfZCells {mesh.n_z}",
            f"/Par04/inference/setSizeOfRhoCells {mesh.size_r:g} mm",
            f"/Par04/inference/setSizeOfZCells {mesh.size_z:g} mm",
        ]
    )


class _Par04Graph(torch.nn.Module):
    """Par04's input -> the caloforge graph -> Par04's output (see the module docstring)."""

    def __init__(
        self,
        module: torch.nn.Module,
        base: np.ndarray,
        names: tuple[str, ...],
        noise_shape: tuple[int, ...],
        mesh: Par04Mesh,
        phi_shift: int,
    ) -> None:
        super().__init__()
        self.phi_shift = phi_shift
        self._inner = [module]  # outside the module tree (see export._Traced)
        self.base = torch.from_numpy(np.asarray(base, dtype=np.float32)).reshape(1, -1)
        self.names = names
        self.noise_shape = noise_shape
        self.latent = math.prod(noise_shape)
        self.mesh = mesh

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, m, lat = x.shape[0], self.mesh, self.latent
        noise = x[:, :lat].reshape(-1, *self.noise_shape)
        energy = x[:, lat : lat + 1] * MAX_ENERGY_MEV
        theta = x[:, lat + 1 : lat + 2] * (MAX_ANGLE_DEG * math.pi / 180.0)
        cols = []
        for i, name in enumerate(self.names):
            if name == "log_energy":
                cols.append(torch.log(energy / 1000.0))
            elif name == "theta":
                cols.append(theta)
            else:
                cols.append(self.base[:, i : i + 1].expand(n, 1))
        showers = self._inner[0](torch.cat(cols, dim=1), noise)
        s = showers.reshape(-1, m.n_z, m.n_phi, m.n_r)
        if self.phi_shift:  # Par04 bin k: alpha bin k + n/2
            s = torch.roll(s, shifts=-self.phi_shift, dims=2)
        return s.permute(0, 3, 2, 1).reshape(n, -1) / energy


def base_features(trained: TrainedRange, names: tuple[str, ...]) -> np.ndarray:
    """The condition features (F,) at 1 GeV, normal incidence, the first trained particle
    and the centre of the trained impact range."""
    impact = np.array([[0.5 * sum(trained.impact_x), 0.5 * sum(trained.impact_y), 0.0]])
    cond = Conditions(
        np.array([1000.0]), np.array([trained.particles[0]]), np.array([[0.0, 0.0, 1.0]]), impact
    )
    return condition_features(cond, names)[0]


def par04_input(latent: np.ndarray, energy_mev: float, theta_rad: float) -> np.ndarray:
    """The (1, latent + 4) float32 tensor Par04's ``GetEnergies`` builds for one particle."""
    vec = np.zeros(latent.size + N_CONDITIONS, dtype=np.float32)
    vec[: latent.size] = latent.ravel()
    vec[latent.size] = energy_mev / MAX_ENERGY_MEV
    vec[latent.size + 1] = math.degrees(theta_rad) / MAX_ANGLE_DEG
    vec[latent.size + 2 :] = GEOMETRY_ONE_HOT
    return vec.reshape(1, -1)


@writes_output("output", inputs=("checkpoint", "data"))
def export_par04(
    checkpoint: str | Path,
    output: str | Path,
    *,
    data: str | Path | None = None,
    n_parity: int = 64,
    seed: int = 0,
    use_ema: bool = True,
    overwrite: bool = False,
    flavour: Literal["par04", "ddml"] = "par04",
) -> ExportResult:
    """Export a checkpoint as an ONNX model with Par04's input and output contract
    (``flavour="ddml"``: DDML's angular bin order); the other arguments are those of
    :func:`~caloforge.deploy.export.export_onnx` (the opset is fixed).

    The parity check runs the written graph in ONNX Runtime, one particle per call as
    Par04 does, against the model's PyTorch graph on the same conditions and noise.

    Raises:
        Par04LayoutError: a layout Par04 cannot read. CheckpointError;
        ExportNotSupportedError; FileExistsError; MissingDependencyError.
    """
    require("onnx")
    require("onnxruntime")
    output = Path(output)
    ckpt = load_checkpoint(checkpoint)
    det = detector_from_json(str(ckpt["detector"]), source=f"{checkpoint}: detector")
    mesh = par04_mesh(det, flavour)
    src = load_for_export(checkpoint, ckpt, data=data, use_ema=use_ema)
    meta = src.metadata()
    if not meta.noise_shape:
        raise ExportNotSupportedError(
            f"{checkpoint}: --format par04 needs a model that takes latent noise"
        )
    base = base_features(src.trained, meta.condition_features)
    if flavour not in ("par04", "ddml"):
        raise ValueError(f"flavour={flavour!r}: expected par04 or ddml")
    shift = mesh.n_phi // 2 if flavour == "par04" else 0
    graph = _Par04Graph(src.module, base, meta.condition_features, meta.noise_shape, mesh, shift)
    latent = graph.latent
    rng = np.random.default_rng(seed)
    n = max(n_parity, 2)
    lo, hi = (max(v, 1e-3) for v in src.trained.energy)
    energies = np.exp(rng.uniform(math.log(lo), math.log(hi), n))
    thetas = rng.uniform(*src.trained.theta, n)
    noise = rng.standard_normal((n, latent)).astype(np.float32)
    inputs = np.concatenate(
        [par04_input(z, e, t) for z, e, t in zip(noise, energies, thetas, strict=True)]
    )
    with torch.inference_mode():
        expected = graph(torch.from_numpy(inputs)).numpy()
    with atomic_output(output, overwrite=overwrite) as tmp_path:
        proto = trace_onnx(graph, {"input": inputs[:2]}, "output", str(tmp_path), OPSET)
        sess = onnx_session(proto)  # one particle per call, as Par04 runs it
        got = np.concatenate([sess.run(None, {"input": row[None]})[0] for row in inputs])
        check = parity(got * energies[:, None], expected * energies[:, None])  # MeV
        record = {
            **json.loads(meta.to_json()),
            "format": flavour,
            "par04": {
                **asdict(mesh),
                "latent": latent,
                "max_energy_mev": MAX_ENERGY_MEV,
                "max_angle_deg": MAX_ANGLE_DEG,
                "macro": par04_macro(mesh, latent, output.name),
            },
            "parity": check,
        }
        save_onnx(proto, str(tmp_path), f"{METADATA_KEY}_par04", json.dumps(record))
    max_abs, max_rel = check["max_abs_mev"], check["max_rel"]
    return ExportResult(output, meta, n, max_abs, max_rel)


__all__ = [
    "MAX_ANGLE_DEG",
    "MAX_ENERGY_MEV",
    "Par04LayoutError",
    "Par04Mesh",
    "base_features",
    "export_par04",
    "par04_input",
    "par04_macro",
    "par04_mesh",
]
