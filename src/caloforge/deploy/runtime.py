"""Generate showers from an exported model with numpy + onnxruntime only (no torch).

An exported model (``caloforge export``, :mod:`caloforge.deploy.export`) is one ONNX graph
``(features, noise) -> showers``: ``features`` (N, F) are the unscaled condition features
of :func:`caloforge.data.condition_features` in the model's column order, ``noise`` (N,
*noise_shape) is standard normal, and the output is (N, n_voxels) showers in MeV with the
model's pre- and post-processing inside the graph. Everything else the runtime needs
(detector description, feature names, noise shape, the trained range of the conditions)
is stored as JSON in the ONNX metadata under the key ``caloforge``.

This module and everything it imports must not import torch: a deployment (a Geant4 job,
:mod:`caloforge.deploy.fastsim`) carries numpy and onnxruntime only.

Example:
    >>> gen = OnnxGenerator("m.onnx", threads=1)  # doctest: +SKIP
    >>> showers = gen.sample(conditions, seed=1)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from caloforge._optional import require
from caloforge.data import Conditions, condition_features
from caloforge.data.conditions import ENERGY_SLACK
from caloforge.geometry import Detector, detector_from_json

log = logging.getLogger(__name__)

METADATA_KEY = "caloforge"
"""Key of the JSON metadata in the ONNX model's ``metadata_props``."""
FORMAT = "caloforge-onnx"
FORMAT_VERSION = 1


class RuntimeModelError(ValueError):
    """The file is not a usable caloforge ONNX model (one line naming the file)."""


@dataclass(frozen=True)
class TrainedRange:
    """The conditions a model was trained on; outside them it should not be trusted.

    Arguments:
        particles: PDG codes seen in training.
        energy: (min, max) incident kinetic energy, MeV.
        theta: (min, max) polar angle of the direction to the z axis, rad.
        impact_x, impact_y: (min, max) impact point on the front face, mm.
        source: where the range comes from (``data:FILE`` or ``scaler`` when estimated
            from the stored condition scaling).
    """

    particles: tuple[int, ...]
    energy: tuple[float, float]
    theta: tuple[float, float]
    impact_x: tuple[float, float]
    impact_y: tuple[float, float]
    source: str = ""

    def contains(
        self,
        pdg: NDArray[np.int64],
        energy: NDArray[np.float64],
        direction: NDArray[np.float64],
        impact: NDArray[np.float64],
        *,
        tolerance_mm: float = 1e-3,
        tolerance_rad: float = 1e-6,
    ) -> NDArray[np.bool_]:
        """Mask (N,) of the conditions inside the range (bounds included; energies within
        ``ENERGY_SLACK`` of a bound count as inside).

        Arguments:
            pdg: (N,) PDG codes. energy: (N,) MeV. direction: (N, 3) unit vectors.
            impact: (N, 2 or 3) front-face impact points, mm.
        """
        pdg = np.asarray(pdg)
        e = np.asarray(energy, dtype=np.float64)
        d = np.asarray(direction, dtype=np.float64).reshape(-1, 3)
        xy = np.asarray(impact, dtype=np.float64).reshape(len(e), -1)
        theta = np.arccos(np.clip(d[:, 2], -1.0, 1.0))
        ok = np.isin(pdg, np.asarray(self.particles, dtype=np.int64))
        lo, hi = self.energy[0] * (1 - ENERGY_SLACK), self.energy[1] * (1 + ENERGY_SLACK)
        ok &= (e >= lo) & (e <= hi)
        ok &= (theta >= self.theta[0] - tolerance_rad) & (theta <= self.theta[1] + tolerance_rad)
        for col, (lo, hi) in enumerate((self.impact_x, self.impact_y)):
            ok &= (xy[:, col] >= lo - tolerance_mm) & (xy[:, col] <= hi + tolerance_mm)
        return ok

    def to_dict(self) -> dict[str, Any]:
        return {
            "particles": list(self.particles),
            "energy": list(self.energy),
            "theta": list(self.theta),
            "impact_x": list(self.impact_x),
            "impact_y": list(self.impact_y),
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainedRange:
        def pair(key: str) -> tuple[float, float]:
            lo, hi = d[key]
            return float(lo), float(hi)

        return cls(
            particles=tuple(int(p) for p in d["particles"]),
            energy=pair("energy"),
            theta=pair("theta"),
            impact_x=pair("impact_x"),
            impact_y=pair("impact_y"),
            source=str(d.get("source", "")),
        )


@dataclass(frozen=True)
class ExportMetadata:
    """What an exported model carries besides its graph.

    Arguments:
        family: model family. checkpoint: source checkpoint path. step: training steps.
        condition_features: feature names in column order. noise_shape: per-shower noise.
        detector_json: the detector description (JSON). trained_range: see
        :class:`TrainedRange`. parity: the export's parity check against PyTorch.
    """

    family: str
    checkpoint: str
    step: int
    condition_features: tuple[str, ...]
    noise_shape: tuple[int, ...]
    detector_json: str
    trained_range: TrainedRange
    caloforge_version: str = ""
    parity: dict[str, float] = field(default_factory=dict)

    @property
    def detector(self) -> Detector:
        return detector_from_json(self.detector_json, source="onnx metadata: detector")

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "family": self.family,
                "checkpoint": self.checkpoint,
                "step": self.step,
                "condition_features": list(self.condition_features),
                "noise_shape": list(self.noise_shape),
                "detector": self.detector_json,
                "trained_range": self.trained_range.to_dict(),
                "caloforge_version": self.caloforge_version,
                "parity": self.parity,
            }
        )

    @classmethod
    def from_json(cls, text: str, source: str = "onnx metadata") -> ExportMetadata:
        try:
            d = json.loads(text)
            if d.get("format") != FORMAT:
                raise KeyError("format")
            if int(d["format_version"]) > FORMAT_VERSION:
                raise RuntimeModelError(
                    f"{source}: exported with a newer caloforge (format {d['format_version']})"
                )
            return cls(
                family=str(d["family"]),
                checkpoint=str(d.get("checkpoint", "")),
                step=int(d.get("step", 0)),
                condition_features=tuple(d["condition_features"]),
                noise_shape=tuple(int(v) for v in d["noise_shape"]),
                detector_json=str(d["detector"]),
                trained_range=TrainedRange.from_dict(d["trained_range"]),
                caloforge_version=str(d.get("caloforge_version", "")),
                parity={k: float(v) for k, v in d.get("parity", {}).items()},
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, RuntimeModelError):
                raise
            raise RuntimeModelError(
                f"{source}: caloforge metadata is incomplete or corrupt ({exc!s:.80})"
            ) from None


_MASK64 = (1 << 64) - 1


def keyed_normal(shape: tuple[int, ...], seed: int, event: int, track: int) -> NDArray[np.float32]:
    """Standard normal float32 noise of ``shape`` that depends only on (run seed, event
    index, track index): a counter-based Philox stream keyed by ``(seed, event)`` whose
    counter starts at ``track`` in its top word, so streams of different tracks never
    overlap. Used by fast simulation: a shower's noise does not depend on which batch,
    chunk or worker generated it.
    """
    bits = np.random.Philox(key=[seed & _MASK64, event & _MASK64], counter=[0, 0, 0, track])
    return np.random.Generator(bits).standard_normal(shape, dtype=np.float32)


def _session_options(ort: Any, threads: int | None) -> Any:
    opts = ort.SessionOptions()
    if threads is not None:
        opts.intra_op_num_threads = int(threads)
        opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    return opts


def read_metadata(path: str | Path) -> ExportMetadata:
    """The caloforge metadata of an exported model (without building a full session).

    Raises:
        RuntimeModelError: missing file, not ONNX, or no caloforge metadata.
    """
    return OnnxGenerator(path, threads=1).metadata


class OnnxGenerator:
    """An exported caloforge model in an ONNX Runtime session (numpy in, numpy out).

    Arguments:
        path: the ``.onnx`` file written by ``caloforge export``.
        threads: intra-op threads of ONNX Runtime (``None``: its default, all cores).
        providers: ONNX Runtime execution providers (``None``: CPU).

    Raises:
        RuntimeModelError: missing file, not an ONNX model, or no caloforge metadata.
    """

    def __init__(
        self, path: str | Path, *, threads: int | None = None, providers: list[str] | None = None
    ) -> None:
        ort = require("onnxruntime")
        self.path = Path(path)
        if not self.path.is_file():
            raise RuntimeModelError(f"{self.path}: no such ONNX model file")
        try:
            self.session = ort.InferenceSession(
                str(self.path),
                sess_options=_session_options(ort, threads),
                providers=providers or ["CPUExecutionProvider"],
            )
        except Exception as exc:  # onnxruntime raises its own exception types
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]
            raise RuntimeModelError(f"{self.path}: not a readable ONNX model ({first})") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        if METADATA_KEY not in meta:
            raise RuntimeModelError(
                f"{self.path}: an ONNX model without caloforge metadata (write it with "
                "'caloforge export')"
            )
        self.metadata = ExportMetadata.from_json(meta[METADATA_KEY], source=str(self.path))
        self.detector = self.metadata.detector
        self.n_voxels = self.detector.n_voxels

    @property
    def trained_range(self) -> TrainedRange:
        return self.metadata.trained_range

    def features(self, conditions: Conditions) -> NDArray[np.float32]:
        """(N, F) unscaled condition features in the model's column order."""
        return condition_features(conditions, self.metadata.condition_features)

    def noise(self, n: int, rng: np.random.Generator) -> NDArray[np.float32]:
        """(n, *noise_shape) standard normal noise."""
        return rng.standard_normal((n, *self.metadata.noise_shape), dtype=np.float32)

    def keyed_noise(self, seed: int, keys: NDArray[np.int64]) -> NDArray[np.float32]:
        """(n, *noise_shape) standard normal noise, row ``i`` a function of ``(seed,
        keys[i, 0], keys[i, 1])`` only (see :func:`keyed_normal`)."""
        shape = self.metadata.noise_shape
        keys = np.asarray(keys, dtype=np.int64).reshape(-1, 2)
        out = np.empty((len(keys), *shape), dtype=np.float32)
        for i, (a, b) in enumerate(keys):
            out[i] = keyed_normal(shape, seed, int(a), int(b))
        return out

    def run(self, features: NDArray[np.float32], noise: NDArray[np.float32]) -> NDArray[np.float32]:
        """One graph evaluation: showers (N, n_voxels) in MeV."""
        (out,) = self.session.run(
            ["showers"],
            {
                "features": np.ascontiguousarray(features, dtype=np.float32),
                "noise": np.ascontiguousarray(noise, dtype=np.float32),
            },
        )
        return np.asarray(out, dtype=np.float32)

    def sample(
        self,
        conditions: Conditions,
        seed: int | np.random.Generator | None = None,
        *,
        batch_size: int = 10_000,
    ) -> NDArray[np.float32]:
        """Showers (N, n_voxels) in MeV for the given conditions.

        Arguments:
            conditions: N conditions. seed: integer seed or numpy generator (None: fresh).
            batch_size: showers per graph evaluation.
        """
        if batch_size < 1:
            raise ValueError(f"batch size must be >= 1, got {batch_size}")
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        feats = self.features(conditions)
        n = len(feats)
        if n == 0:
            return np.zeros((0, self.n_voxels), dtype=np.float32)
        out = []
        for start in range(0, n, batch_size):
            f = feats[start : start + batch_size]
            out.append(self.run(f, self.noise(len(f), rng)))
        return out[0] if len(out) == 1 else np.concatenate(out)


__all__ = [
    "METADATA_KEY",
    "ExportMetadata",
    "OnnxGenerator",
    "RuntimeModelError",
    "TrainedRange",
    "keyed_normal",
    "read_metadata",
]
