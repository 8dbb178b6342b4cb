"""Timing an ONNX export with the torch-free runtime, and its dense-layer FLOPs."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from caloforge.bench.conditions import bench_conditions, onnx_energy, take
from caloforge.bench.report import BenchRow
from caloforge.bench.timing import make_row, time_calls
from caloforge.data import Conditions

log = logging.getLogger(__name__)


def bench_onnx(
    path: str | Path,
    batches: Sequence[int],
    *,
    energy: str | None = None,
    threads: int = 1,
    repeats: int = 5,
    warmup: int = 2,
    min_showers: int = 256,
    seed: int = 0,
) -> list[BenchRow]:
    """Time an exported model with :class:`caloforge.deploy.runtime.OnnxGenerator` (CPU)."""
    from caloforge.deploy.runtime import OnnxGenerator

    gen = OnnxGenerator(path, threads=threads)
    det = gen.detector
    spec = energy or onnx_energy(Path(path))
    cond_all = bench_conditions(det, max(batches), spec, seed=seed)
    flops = onnx_dense_flops(path)
    rows = []
    for b in batches:
        cond = take(cond_all, b)
        rng = np.random.default_rng(seed)

        def call(cond: Conditions = cond, rng: np.random.Generator = rng, b: int = b) -> None:
            gen.sample(cond, rng, batch_size=b)

        times, mem = time_calls(call, b, repeats, warmup, min_showers)
        rows.append(
            make_row(
                str(path),
                "onnxruntime",
                gen.metadata.family,
                det,
                "cpu",
                threads,
                b,
                times,
                mem,
                flops,
            )
        )
        log.info("onnx %s batch %d: %.4g ms/shower", path, b, rows[-1].ms_per_shower)
    return rows


def onnx_dense_flops(path: str | Path) -> float | None:
    """FLOPs per shower of the dense layers (Gemm/MatMul with a constant weight) of a graph
    (2 x in x out each); ``None`` without the ``onnx`` package."""
    try:
        import onnx
    except ImportError:
        return None
    g = onnx.load(str(path)).graph
    shapes = {i.name: tuple(i.dims) for i in g.initializer}
    for node in g.node:  # constants folded into Constant nodes
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value":
                    shapes[node.output[0]] = tuple(a.t.dims)
    total = 0.0
    for node in g.node:
        if node.op_type in ("Gemm", "MatMul"):
            w = shapes.get(node.input[1])
            if w is not None and len(w) == 2:
                total += 2.0 * w[0] * w[1]
    return total or None


__all__ = ["bench_onnx", "onnx_dense_flops"]
