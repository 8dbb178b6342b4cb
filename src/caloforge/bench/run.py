"""``run_bench``: every model and batch size, the Geant4 baseline and the machine."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from caloforge.bench.conditions import (
    bench_conditions,
    detector_and_energy,
    simulation_settings,
)
from caloforge.bench.geant4 import geant4_timing
from caloforge.bench.machine import machine_info
from caloforge.bench.onnx_backend import bench_onnx
from caloforge.bench.report import BenchReport, BenchRow
from caloforge.bench.torch_backend import DEFAULT_PRECISIONS, bench_torch, check_checkpoint
from caloforge.data import Conditions
from caloforge.data.conditions import PARTICLE_NAMES
from caloforge.geometry import Detector
from caloforge.hardware import parse_precisions

log = logging.getLogger(__name__)


DEFAULT_BATCHES = (1, 10, 128, 1024, 4096)


def run_bench(
    models: Sequence[str | Path],
    batches: Sequence[int] = DEFAULT_BATCHES,
    *,
    device: str = "cpu",
    threads: int = 1,
    repeats: int = 5,
    warmup: int = 2,
    min_showers: int = 256,
    energy: str | None = None,
    geant4: bool = True,
    geant4_showers: int = 30,
    untrained_detector: str | None = None,
    seed: int = 0,
    precision: str | Sequence[str] = DEFAULT_PRECISIONS,
    without: Sequence[str] = (),
    progress: Callable[[str], None] | None = None,
) -> BenchReport:
    """Benchmark models (``.pt`` checkpoints or ``.onnx`` exports) and Geant4; see the
    module docstring.

    Arguments:
        precision: the precisions of the networks of ``.pt`` checkpoints, a list
            (``"fp32,bf16"``) or one (:func:`caloforge.hardware.parse_precisions`); every
            checkpoint is timed at each precision it resolves to, once. ONNX exports run
            in float32 (refused when the list is ``bf16`` alone).
        without: post-processors left out of every ``.pt`` checkpoint, the last of its
            chain (``("refiner",)``: the calibrated model the refiner was fitted on); a
            checkpoint that cannot leave them out is refused before any timing.
        progress: called with a short description of each step as it starts (the model
            being timed, the Geant4 sample), e.g. to show a status line.

    Every model file is checked before anything is timed: its format, a ``.pt``
    checkpoint's family against the precisions (``bf16`` for a family without bfloat16
    networks is refused), an ONNX export against the device and the precisions.

    Raises:
        ValueError: bad batch sizes, repeats, precisions, a model file that is neither or
            that cannot run at the precisions or on the device (naming the file).
        CheckpointError / RuntimeModelError: unreadable model files.
    """
    if not models:
        raise ValueError("give at least one --checkpoint")
    if not batches or any(b < 1 for b in batches):
        raise ValueError(f"batch sizes must be >= 1, got {list(batches)}")
    if repeats < 1 or warmup < 0 or threads < 1:
        raise ValueError("repeats and threads must be >= 1 and warm-up >= 0")
    precisions = parse_precisions(precision)
    for m in models:
        p = Path(m)
        if not p.is_file():
            raise FileNotFoundError(f"{p}: no such model file")
        if p.suffix not in (".pt", ".onnx"):
            raise ValueError(
                f"{p}: unknown model format {p.suffix!r}; use a .pt checkpoint or an .onnx export"
            )
        if without and p.suffix == ".onnx":
            raise ValueError(
                f"{p}: --without applies to .pt checkpoints; an ONNX export runs the "
                "post-processors it was exported with"
            )
    for m in models:
        p = Path(m)
        if p.suffix == ".pt":
            check_checkpoint(p, precisions, without, untrained_detector)
        elif device != "cpu":
            raise ValueError(f"{p}: the ONNX runtime path is timed on cpu only (--device cpu)")
        elif precisions == ("bf16",):
            raise ValueError(f"{p}: --precision applies to .pt checkpoints, not ONNX exports")
    report = BenchReport(rows=[], machine=machine_info(threads))
    dets: dict[str, tuple[Detector, Conditions, str | None, dict[str, Any]]] = {}
    note = progress or (lambda _: None)
    for k, m in enumerate(models, 1):
        p = Path(m)
        note(f"timing {p.name} ({k}/{len(models)}), batches {','.join(map(str, batches))}")
        kw: dict[str, Any] = dict(
            threads=threads,
            repeats=repeats,
            warmup=warmup,
            min_showers=min_showers,
            seed=seed,
            energy=energy,
        )
        if p.suffix == ".onnx":
            rows = bench_onnx(p, batches, **kw)
        else:
            rows = bench_torch(
                p,
                batches,
                device=device,
                untrained_detector=untrained_detector,
                precision=precisions,
                without=without,
                **kw,
            )
        report.rows.extend(rows)
        if rows and rows[0].detector not in dets:
            det, spec, files = detector_and_energy(p, untrained_detector)
            spec = energy or spec
            cond = bench_conditions(det, geant4_showers, spec, seed=seed + 1)
            particle = PARTICLE_NAMES.get(int(cond.particle[0]))
            # an untrained model on another detector: that detector's defaults, not the
            # settings of a training file simulated in the checkpoint's detector
            untrained = untrained_detector is not None and p.suffix == ".pt"
            settings = {} if untrained else simulation_settings(p, det, particle, files=files)
            dets[det.name] = (det, cond, particle, settings)
    if geant4:
        for name, (det, cond, particle, settings) in dets.items():
            log.info("Geant4: %d showers of %s", len(cond), name)
            note(f"Geant4: {len(cond)} showers of {name}")
            report.geant4[name] = geant4_timing(
                det, cond.energy, particle=particle, seed=seed + 1, settings=settings
            )
        rows = []
        for r in report.rows:
            g = report.geant4.get(r.detector)
            rows.append(
                BenchRow(
                    **{
                        **asdict(r),
                        "load": r.load,
                        "speedup": g.ms_mean / r.ms_per_shower if g else None,
                    }
                )
            )
        report.rows = rows
    report.machine["load_end"] = [round(v, 2) for v in os.getloadavg()]
    return report


__all__ = ["DEFAULT_BATCHES", "run_bench"]
