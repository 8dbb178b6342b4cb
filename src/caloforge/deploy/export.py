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
from dataclasses import dataclass, replace
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


@dataclass(frozen=True)
class ExportSource:
    """A checkpoint loaded for export (:func:`load_for_export`).

    Arguments:
        checkpoint: where it was read. ckpt: the checkpoint dict.
        model: the model, float32 on the CPU, its weights frozen (they become graph
            constants). module: its ``(features, noise) -> showers`` export module.
        trained: the range of conditions it was trained on (:func:`trained_range`).
    """

    checkpoint: str | Path
    ckpt: dict[str, Any]
    model: ShowerModel
    module: torch.nn.Module
    trained: TrainedRange

    def metadata(self) -> ExportMetadata:
        """The metadata of the export, without its parity record."""
        return ExportMetadata(
            family=str(self.ckpt["family"]),
            checkpoint=str(self.checkpoint),
            step=int(self.ckpt["step"]),
            condition_features=tuple(self.model.condition_names),
            noise_shape=tuple(self.model.export_noise_shape or ()),
            detector_json=str(self.ckpt["detector"]),
            trained_range=self.trained,
            caloforge_version=__version__,
        )


def load_for_export(
    checkpoint: str | Path, ckpt: dict[str, Any], *, data: str | Path | None, use_ema: bool
) -> ExportSource:
    """The model of ``ckpt`` (read from ``checkpoint``) ready to trace; ``data`` and
    ``use_ema`` as in :func:`export_onnx`.

    Raises:
        ExportNotSupportedError: the family has no export path (before loading weights when
        the family itself says so). CheckpointError; FileNotFoundError: no ``data``.
    """
    cls = get_family(str(ckpt["family"]))
    if cls.export_note:  # refused by the family itself: say why before loading weights
        raise ExportNotSupportedError(
            f"{checkpoint}: model family {cls.name!r} cannot be exported: {cls.export_note}"
        )
    model, _ = load_model(ckpt, "cpu", use_ema=use_ema)
    module = model.export_module()  # raises ExportNotSupportedError with the reason
    model.requires_grad_(False)  # weights become graph constants
    return ExportSource(checkpoint, ckpt, model, module, trained_range(model, ckpt, data))


class _Traced(torch.nn.Module):
    """Holds the export module outside the module tree: the TorchScript exporter reads the
    ``state_dict``, which cannot hold the non-tensor extra state of some families (stored
    latents, shower libraries); the weights are captured as graph constants instead."""

    def __init__(self, module: torch.nn.Module) -> None:
        super().__init__()
        self._inner = [module]

    def forward(self, features: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return self._inner[0](features, noise)


def trace_onnx(
    graph: torch.nn.Module, example: dict[str, np.ndarray], output: str, path: str, opset: int
) -> Any:
    """Trace ``graph`` on the inputs ``example`` (by name, in the order ``forward`` takes
    them) into an ONNX file at ``path`` with one output named ``output`` and a dynamic batch
    axis; returns the loaded ONNX model."""
    onnx = require("onnx")
    names = list(example)
    with warnings.catch_warnings(), torch.no_grad():
        # the TorchScript-based exporter (no onnxscript needed) warns that it is legacy
        warnings.simplefilter("ignore")
        torch.onnx.export(
            graph,
            tuple(torch.from_numpy(v) for v in example.values()),
            path,
            dynamo=False,
            input_names=names,
            output_names=[output],
            dynamic_axes={name: {0: "batch"} for name in [*names, output]},
            opset_version=opset,
        )
    return onnx.load(path)


def onnx_session(proto: Any) -> Any:
    """An ONNX Runtime session of the ONNX model ``proto`` on one CPU thread."""
    ort = require("onnxruntime")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(
        proto.SerializeToString(), sess_options=opts, providers=["CPUExecutionProvider"]
    )


def parity(got: np.ndarray, expected: np.ndarray) -> dict[str, float]:
    """The parity record of (N, V) showers of the graph against PyTorch's, MeV: ``n``
    showers, ``max_abs_mev`` the largest |got - expected| and ``max_rel`` the largest
    per-shower max|got - expected| / max|expected|."""
    diff = np.abs(got - expected)
    max_abs = float(diff.max()) if diff.size else 0.0
    scale = np.maximum(np.abs(expected).max(axis=1), 1e-12)
    max_rel = float((diff.max(axis=1) / scale).max()) if diff.size else 0.0
    return {"n": float(len(expected)), "max_abs_mev": max_abs, "max_rel": max_rel}


def save_onnx(proto: Any, path: str, key: str, value: str) -> None:
    """Store the metadata ``key`` = ``value`` in the ONNX model ``proto``, name caloforge
    its producer and save it to ``path``."""
    entry = proto.metadata_props.add()
    entry.key, entry.value = key, value
    proto.producer_name = "caloforge"
    proto.producer_version = __version__
    require("onnx").save(proto, path)


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
    require("onnx")
    require("onnxruntime")
    output = Path(output)
    src = load_for_export(checkpoint, load_checkpoint(checkpoint), data=data, use_ema=use_ema)
    rng = np.random.default_rng(seed)
    feats, noise = parity_inputs(src.model, rng, max(n_parity, 2), src.trained)
    with torch.inference_mode():
        expected = src.module(torch.from_numpy(feats), torch.from_numpy(noise)).numpy()
    with atomic_output(output, overwrite=overwrite) as tmp_path:
        example = {"features": feats[:2], "noise": noise[:2]}
        proto = trace_onnx(_Traced(src.module), example, "showers", str(tmp_path), opset)
        try:
            (got,) = onnx_session(proto).run(["showers"], {"features": feats, "noise": noise})
        except Exception as exc:  # ONNX Runtime rejects the traced graph
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ExportNotSupportedError(
                f"{checkpoint}: the ONNX graph of model family {src.ckpt['family']!r} does not "
                f"run in ONNX Runtime ({first[:200]}); nothing was written"
            ) from None
        check = parity(np.asarray(got), expected)
        meta = replace(src.metadata(), parity=check)
        save_onnx(proto, str(tmp_path), METADATA_KEY, meta.to_json())
    # the file as written must load in the torch-free runtime
    OnnxGenerator(output, threads=1)
    max_abs, max_rel = check["max_abs_mev"], check["max_rel"]
    log.info("exported %s to %s (max |diff| %.3g MeV)", checkpoint, output, max_abs)
    return ExportResult(output, meta, len(feats), max_abs, max_rel)


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
