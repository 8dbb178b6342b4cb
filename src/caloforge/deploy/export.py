"""Export a trained model to ONNX: ``(features, noise) -> showers in MeV``, with parity check.

The graph is the model's :meth:`~caloforge.models.ShowerModel.export_module`: condition
scaling, the network(s) and the inverse shower transform (to MeV, clipped, exact zeros
below the regularisation scale) in one graph, with a dynamic batch axis. The ONNX
metadata (key ``caloforge``) holds what :mod:`caloforge.deploy.runtime` needs to generate
without torch, and the range of conditions the model was trained on (read from the
training data, or estimated from the stored condition scaling when the data are not at
hand), which :mod:`caloforge.deploy.fastsim` uses to decide what the model may simulate.

After writing, the exported graph is run with ONNX Runtime on the same features and
noise as PyTorch, and the maximum absolute difference (MeV) and the maximum relative
difference (per shower, relative to the shower's largest cell) are recorded.

Families whose sampling loops over a network (diffusion steps, autoregressive pixels)
export only when they implement ``generate_from_noise`` as one traceable pass (e.g. a
distilled one-step sampler); otherwise :class:`~caloforge.models.base.ExportNotSupportedError`
names the reason (see docs/deployment.md).

Example:
    >>> result = export_onnx("m.pt", "m.onnx")  # doctest: +SKIP
    >>> result.max_abs_diff  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from caloforge._optional import require
from caloforge._version import __version__
from caloforge.data import PDG_CODES, ShowerFile
from caloforge.data.conditions import condition_ranges
from caloforge.deploy.runtime import METADATA_KEY, ExportMetadata, OnnxGenerator, TrainedRange
from caloforge.files import atomic_output, writes_output
from caloforge.models import ShowerModel, get_family
from caloforge.models.base import ExportNotSupportedError
from caloforge.train.checkpoint import load_checkpoint
from caloforge.train.loading import load_model

log = logging.getLogger(__name__)

FORMATS = ("onnx", "par04", "ddml")
"""Export formats: caloforge's ONNX contract, Geant4 Par04's or key4hep DDML's
(:mod:`caloforge.deploy.par04`)."""
OPSET = 17


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_onnx` wrote and how well the graph agrees with PyTorch.

    Arguments:
        path: the ONNX file. metadata: the stored metadata. n_parity: showers compared.
        max_abs_diff: largest |onnx - torch| over all cells, MeV.
        max_rel_diff: largest per-shower max|onnx - torch| / max|torch|.
    """

    path: Path
    metadata: ExportMetadata
    n_parity: int
    max_abs_diff: float
    max_rel_diff: float


def trained_range(
    model: ShowerModel, ckpt: dict[str, Any], data: str | Path | None = None
) -> TrainedRange:
    """The range of conditions a model was trained on.

    From ``data`` (or, when None, the training files recorded in the checkpoint, if they
    are readable): particles seen, min/max energy, polar angle and impact point. Else the
    checkpoint's record of its training conditions
    (:func:`caloforge.data.conditions.condition_ranges`). Otherwise
    estimated from the condition scaling stored in the model: a non-constant feature
    spans mean +- sqrt(3) std (exact for a uniform distribution, e.g. log-uniform
    energies), a constant one its value; particle and angle not among the features are
    the detector gun's.
    """
    paths = (
        [Path(data)]
        if data is not None
        else [Path(p) for p in ckpt.get("info", {}).get("data", [])]
    )
    if paths and all(p.is_file() for p in paths):
        ranges = condition_ranges(ShowerFile(paths, model.detector).conditions())
        source = "data:" + ",".join(str(p) for p in paths)
        return TrainedRange.from_dict({**ranges, "source": source})
    if data is not None:
        raise FileNotFoundError(f"{data}: no such training data file (--data)")
    if ckpt.get("conditions") is not None:
        return TrainedRange.from_dict({**ckpt["conditions"], "source": "checkpoint"})
    log.warning("training data not found: trained range estimated from the condition scaling")
    mean = model.cond_scaler.mean.cpu().numpy().astype(float)
    std = model.cond_scaler.std.cpu().numpy().astype(float)
    const = model.cond_scaler.constant.cpu().numpy()
    names = model.condition_names

    def span(name: str, default: tuple[float, float]) -> tuple[float, float]:
        if name not in names:
            return default
        i = names.index(name)
        if const[i]:
            return (mean[i], mean[i])
        w = math.sqrt(3.0) * std[i]
        return (mean[i] - w, mean[i] + w)

    gun = model.detector.gun
    d = np.asarray(gun.direction, dtype=float)
    d = d / np.linalg.norm(d)
    pos = np.asarray(gun.position, dtype=float)
    impact = pos - d * pos[2] / d[2]
    gun_theta = float(np.arccos(np.clip(d[2], -1.0, 1.0)))
    lo, hi = span("log_energy", (0.0, 0.0))
    pdg = gun.particle if isinstance(gun.particle, int) else PDG_CODES[gun.particle]
    return TrainedRange(
        particles=(int(pdg),),
        energy=(1000.0 * math.exp(lo), 1000.0 * math.exp(hi)),
        theta=span("theta", (gun_theta, gun_theta)),
        impact_x=span("impact_x", (float(impact[0]), float(impact[0]))),
        impact_y=span("impact_y", (float(impact[1]), float(impact[1]))),
        source="scaler",
    )


def parity_inputs(
    model: ShowerModel, rng: np.random.Generator, n: int, rng_range: TrainedRange
) -> tuple[np.ndarray, np.ndarray]:
    """(features, noise) spread over the trained range, for the parity check."""
    from caloforge.data import Conditions

    lo, hi = (max(v, 1e-3) for v in rng_range.energy)
    energy = np.exp(rng.uniform(math.log(lo), math.log(hi), n))
    theta = rng.uniform(*rng_range.theta, n)
    phi = rng.uniform(-np.pi, np.pi, n)
    direction = np.stack(
        [np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)], axis=1
    )
    impact = np.zeros((n, 3))
    impact[:, 0] = rng.uniform(*rng_range.impact_x, n)
    impact[:, 1] = rng.uniform(*rng_range.impact_y, n)
    particle = rng.choice(np.asarray(rng_range.particles, dtype=np.int64), n)
    cond = Conditions(energy, particle, direction, impact)
    feats = model.condition_tensor(cond).numpy()
    shape = model.export_noise_shape or ()
    noise = rng.standard_normal((n, *shape)).astype(np.float32)
    return feats, noise


class _Traced(torch.nn.Module):
    """Holds the export module outside the module tree: the TorchScript exporter reads the
    ``state_dict``, which cannot hold the non-tensor extra state of some families (stored
    latents, shower libraries); the weights are captured as graph constants instead."""

    def __init__(self, module: torch.nn.Module) -> None:
        super().__init__()
        self._inner = [module]

    def forward(self, features: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return self._inner[0](features, noise)


@writes_output("output", inputs=("checkpoint", "data"))
def export_onnx(
    checkpoint: str | Path,
    output: str | Path,
    *,
    data: str | Path | None = None,
    n_parity: int = 256,
    seed: int = 0,
    use_ema: bool = True,
    opset: int = OPSET,
    overwrite: bool = False,
) -> ExportResult:
    """Export a checkpoint to an ONNX model and check it against PyTorch.

    Arguments:
        checkpoint: a caloforge checkpoint. output: the ``.onnx`` file (written atomically).
        data: training data whose conditions define the trained range (default: the
            files recorded in the checkpoint, when readable).
        n_parity: showers in the parity check. seed: seed of its inputs.
        use_ema: export the EMA weights when stored. opset: ONNX opset.
        overwrite: replace an existing output.

    Raises:
        CheckpointError; ExportNotSupportedError: the family has no export path;
        FileExistsError; MissingDependencyError: onnx / onnxruntime missing.
    """
    onnx = require("onnx")
    require("onnxruntime")
    output = Path(output)
    ckpt = load_checkpoint(checkpoint)
    cls = get_family(str(ckpt["family"]))
    if cls.export_note:  # refused by the family itself: say why before loading weights
        raise ExportNotSupportedError(
            f"{checkpoint}: model family {cls.name!r} cannot be exported: {cls.export_note}"
        )
    model, _ = load_model(ckpt, "cpu", use_ema=use_ema)
    module = model.export_module()  # raises ExportNotSupportedError with the reason
    model.requires_grad_(False)  # weights become graph constants
    rng_range = trained_range(model, ckpt, data)
    feats, noise = parity_inputs(model, np.random.default_rng(seed), max(n_parity, 2), rng_range)
    with torch.inference_mode():
        expected = module(torch.from_numpy(feats), torch.from_numpy(noise)).numpy()
    meta = ExportMetadata(
        family=str(ckpt["family"]),
        checkpoint=str(checkpoint),
        step=int(ckpt["step"]),
        condition_features=tuple(model.condition_names),
        noise_shape=tuple(model.export_noise_shape or ()),
        detector_json=str(ckpt["detector"]),
        trained_range=rng_range,
        caloforge_version=__version__,
    )
    with atomic_output(output, overwrite=overwrite) as tmp_path:
        tmp = str(tmp_path)
        with warnings.catch_warnings(), torch.no_grad():
            # the TorchScript-based exporter (no onnxscript needed) warns that it is legacy
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _Traced(module),
                (torch.from_numpy(feats[:2]), torch.from_numpy(noise[:2])),
                tmp,
                dynamo=False,
                input_names=["features", "noise"],
                output_names=["showers"],
                dynamic_axes={
                    "features": {0: "batch"},
                    "noise": {0: "batch"},
                    "showers": {0: "batch"},
                },
                opset_version=opset,
            )
        proto = onnx.load(tmp)
        try:
            got = _run(proto, feats, noise)
        except Exception as exc:  # ONNX Runtime rejects the traced graph
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ExportNotSupportedError(
                f"{checkpoint}: the ONNX graph of model family {ckpt['family']!r} does not run "
                f"in ONNX Runtime ({first[:200]}); nothing was written"
            ) from None
        diff = np.abs(got - expected)
        max_abs = float(diff.max()) if diff.size else 0.0
        scale = np.maximum(np.abs(expected).max(axis=1), 1e-12)
        max_rel = float((diff.max(axis=1) / scale).max()) if diff.size else 0.0
        meta = ExportMetadata(
            **{
                **meta.__dict__,
                "parity": {"n": float(len(feats)), "max_abs_mev": max_abs, "max_rel": max_rel},
            }
        )
        entry = proto.metadata_props.add()
        entry.key, entry.value = METADATA_KEY, meta.to_json()
        proto.producer_name = "caloforge"
        proto.producer_version = __version__
        onnx.save(proto, tmp)
    # the file as written must load in the torch-free runtime
    OnnxGenerator(output, threads=1)
    log.info("exported %s to %s (max |diff| %.3g MeV)", checkpoint, output, max_abs)
    return ExportResult(output, meta, len(feats), max_abs, max_rel)


def _run(proto: Any, feats: np.ndarray, noise: np.ndarray) -> np.ndarray:
    ort = require("onnxruntime")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    sess = ort.InferenceSession(
        proto.SerializeToString(), sess_options=opts, providers=["CPUExecutionProvider"]
    )
    (out,) = sess.run(["showers"], {"features": feats, "noise": noise})
    return np.asarray(out)


def export(
    checkpoint: str | Path, output: str | Path, *, format: str = "onnx", **kwargs: Any
) -> ExportResult:
    """Export ``checkpoint`` in ``format``: see :func:`export_onnx` and
    :func:`caloforge.deploy.par04.export_par04`.

    Raises:
        ValueError: an unsupported format; Par04LayoutError: a layout Par04 cannot read.
    """
    if format not in FORMATS:
        raise ValueError(f"--format {format!r} is not supported; supported: {', '.join(FORMATS)}")
    if format in ("par04", "ddml"):
        from caloforge.deploy.par04 import export_par04

        kwargs.pop("opset", None)
        return export_par04(
            checkpoint, output, flavour="ddml" if format == "ddml" else "par04", **kwargs
        )
    return export_onnx(checkpoint, output, **kwargs)


__all__ = ["FORMATS", "ExportResult", "export", "export_onnx", "parity_inputs", "trained_range"]
