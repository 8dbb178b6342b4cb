"""Generation speed of models against Geant4 on the same detector and energy distribution.

For each model (a PyTorch checkpoint ``.pt`` or an exported ``.onnx``) and each batch
size: time per shower (median and spread over ``repeats`` timed calls, after warm-up
calls that are not counted), showers per second, peak memory (resident-set growth during
the timed calls on CPU, ``torch.cuda.max_memory_allocated`` on CUDA), FLOPs per shower
(``torch.utils.flop_counter.FlopCounterMode`` for PyTorch; dense-layer count from the
graph for ONNX). Beside it, a small Geant4 sample of the same detector and energies,
simulated in the same run (:func:`caloforge.simulate.simulate`), gives the Geant4 CPU
time per shower (per-event ``cpu_time``) and the speed-up ratio.

A timed call generates showers from :class:`~caloforge.data.Conditions`, end to end:
condition features, noise, network, inverse transform, showers as a numpy array. The
machine load (``os.getloadavg``) is recorded with every measurement: timings on a shared
machine are upper bounds.
"""

from __future__ import annotations

import json
import logging
import math
import os
import platform
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from caloforge._version import __version__
from caloforge.data import Conditions, ShowerFile
from caloforge.geometry import Detector
from caloforge.hardware import cpu_facts

log = logging.getLogger(__name__)

DEFAULT_BATCHES = (1, 10, 128, 1024, 4096)


@dataclass(frozen=True)
class BenchRow:
    """One (model, backend, batch) measurement; times in ms per shower."""

    model: str
    backend: str
    family: str
    detector: str
    n_voxels: int
    device: str
    threads: int
    batch: int
    repeats: int
    ms_per_shower: float
    ms_min: float
    ms_max: float
    ms_iqr: float
    showers_per_s: float
    peak_memory_mb: float
    flops_per_shower: float | None
    load: tuple[float, float, float]
    speedup: float | None = None
    precision: str = "fp32"


@dataclass(frozen=True)
class Geant4Timing:
    """Geant4 CPU time per shower of a small sample (``cpu_time`` column); the mean (total
    CPU time / showers) is the comparator of the speed-up, as the model's time is also an
    average over the same energy distribution."""

    detector: str
    particle: str
    n: int
    energy: str
    ms_median: float
    ms_mean: float
    energy_mean_mev: float
    load: tuple[float, float, float]
    wall_s: float


@dataclass
class BenchReport:
    """All measurements of one ``caloforge bench`` run."""

    rows: list[BenchRow]
    geant4: dict[str, Geant4Timing] = field(default_factory=dict)
    machine: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": [asdict(r) for r in self.rows],
            "geant4": {k: asdict(v) for k, v in self.geant4.items()},
            "machine": self.machine,
        }

    def write_json(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        return path

    def markdown(self) -> str:
        """A Markdown table (for the README), one line per measurement."""
        lines = [
            "| model (file) | backend | precision | detector (voxels) | batch | threads "
            "| ms/shower (median) | spread (min-max) | showers/s | peak MB | MFLOP/shower "
            "| Geant4 ms/shower (mean) | speed-up | load (1 min) |",
            "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in self.rows:
            g4 = self.geant4.get(r.detector)
            flops = f"{r.flops_per_shower / 1e6:.2f}" if r.flops_per_shower else "-"
            g4_ms = f"{g4.ms_mean:.4g}" if g4 is not None else "-"
            speedup = f"{r.speedup:.4g}" if r.speedup is not None else "-"
            lines.append(
                f"| {r.family} ({Path(r.model.split(' ')[0]).name}) | {r.backend} "
                f"| {r.precision} | {r.detector} ({r.n_voxels}) | {r.batch} | {r.threads} "
                f"| {r.ms_per_shower:.4g} | {r.ms_min:.3g}-{r.ms_max:.3g} "
                f"| {r.showers_per_s:.4g} | {r.peak_memory_mb:.0f} | {flops} "
                f"| {g4_ms} | {speedup} | {r.load[0]:.2f} |"
            )
        for g in self.geant4.values():
            lines.append("")
            lines.append(
                f"Geant4 ({g.detector}, {g.particle}, {g.n} showers, energies {g.energy}, "
                f"mean {g.energy_mean_mev / 1000:.1f} GeV): {g.ms_mean:.4g} ms/shower on average "
                f"(CPU time; median {g.ms_median:.4g}), load {g.load[0]:.2f}. Speed-up = "
                "Geant4 mean / model median."
            )
        lines.append("")
        lines.append(f"Machine: {machine_line(self.machine)}.")
        return "\n".join(lines) + "\n"


class PeakRSS:
    """Peak growth of the resident set size while active (polled every ``interval`` s)."""

    def __init__(self, interval: float = 0.002) -> None:
        self.interval = interval
        self.base = 0
        self.peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @staticmethod
    def rss() -> int:
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:  # not Linux
            import resource

            return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(self.interval)

    def __enter__(self) -> PeakRSS:
        self.base = self.peak = self.rss()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak = max(self.peak, self.rss())

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.base) / 2**20


def bench_conditions(
    detector: Detector, n: int, energy: str, *, seed: int = 0, particle: str | None = None
) -> Conditions:
    """``n`` conditions: energies from ``energy`` (``loguniform:1GeV,100GeV``, a shower file
    path: its first conditions, cycled), the rest from the detector's gun."""
    if Path(energy).suffix in (".h5", ".hdf5") or Path(energy).is_file():
        ref = ShowerFile(energy, detector)
        c = ref.conditions(0, min(n, len(ref)))
        reps = math.ceil(n / len(c))
        return Conditions(
            np.tile(c.energy, reps)[:n],
            np.tile(c.particle, reps)[:n],
            np.tile(c.direction, (reps, 1))[:n],
            np.tile(c.impact, (reps, 1))[:n],
        )
    from caloforge.generate import energy_conditions

    return energy_conditions(energy, n, detector, seed=seed, particle=particle)


def _time_calls(
    call: Callable[[], Any], n_per_call: int, repeats: int, warmup: int, min_showers: int
) -> tuple[list[float], float]:
    """ms per shower of each repeat (each repeat: enough calls for ``min_showers``)."""
    inner = max(1, math.ceil(min_showers / n_per_call))
    times = []
    with PeakRSS() as mem:  # from before the first call: allocator growth included
        for _ in range(warmup):
            call()
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(inner):
                call()
            times.append(1000.0 * (time.perf_counter() - t0) / (inner * n_per_call))
    return times, mem.growth_mb


def _row(
    model: str,
    backend: str,
    family: str,
    det: Detector,
    device: str,
    threads: int,
    batch: int,
    times: list[float],
    mem_mb: float,
    flops: float | None,
    precision: str = "fp32",
) -> BenchRow:
    med = statistics.median(times)
    q = np.percentile(times, [25, 75]) if len(times) > 1 else np.array([med, med])
    return BenchRow(
        model=model,
        backend=backend,
        family=family,
        detector=det.name,
        n_voxels=det.n_voxels,
        device=device,
        threads=threads,
        batch=batch,
        repeats=len(times),
        ms_per_shower=med,
        ms_min=min(times),
        ms_max=max(times),
        ms_iqr=float(q[1] - q[0]),
        showers_per_s=1000.0 / med if med > 0 else float("inf"),
        peak_memory_mb=mem_mb,
        flops_per_shower=flops,
        load=os.getloadavg(),
        precision=precision,
    )


def bench_torch(
    checkpoint: str | Path,
    batches: Sequence[int],
    *,
    energy: str | None = None,
    device: str = "cpu",
    threads: int = 1,
    repeats: int = 5,
    warmup: int = 2,
    min_showers: int = 256,
    seed: int = 0,
    untrained_detector: str | None = None,
    precision: str = "auto",
) -> list[BenchRow]:
    """Time a PyTorch checkpoint (inference mode, batched ``model.sample``).

    Arguments:
        untrained_detector: time an UNTRAINED model of the checkpoint's family and
            configuration on this detector instead (for the voxel-count scaling only).
        precision: ``auto``, ``fp32`` or ``bf16`` (:meth:`ShowerModel.set_precision`);
            the row records the precision chosen, and the backend reads ``torch-bf16``
            for bfloat16.
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from caloforge.train.checkpoint import load_checkpoint
    from caloforge.train.trainer import load_model, resolve_device

    torch.set_num_threads(threads)
    dev = resolve_device(device)
    ckpt = load_checkpoint(checkpoint)
    model, _ = load_model(ckpt, dev)
    label = str(checkpoint)
    if untrained_detector is not None:
        from caloforge.geometry import load_detector
        from caloforge.train.trainer import build_model

        det = load_detector(untrained_detector)
        model = build_model(ckpt["family"], model.config, det, seed=seed).to(dev).eval()
        label = f"{checkpoint} (untrained, {det.name})"
    precision = model.set_precision(precision)
    backend = "torch" if precision == "fp32" else f"torch-{precision}"
    det = model.detector
    spec = energy or _energy_of(ckpt, as_range=untrained_detector is not None)
    cond_all = bench_conditions(det, max(batches), spec, seed=seed)
    flops: float | None = None
    with torch.inference_mode():
        n_f = min(64, max(batches))
        counter = FlopCounterMode(display=False)
        with counter:
            model.sample(_take(cond_all, n_f), _gen(torch, dev, seed))
        flops = counter.get_total_flops() / n_f
    rows = []
    for b in batches:
        cond = _take(cond_all, b)
        gen = _gen(torch, dev, seed)

        def call(cond: Conditions = cond, gen: Any = gen, b: int = b) -> None:
            with torch.inference_mode():
                model.sample(cond, gen, batch_size=b)
            if dev.type == "cuda":
                torch.cuda.synchronize()

        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
        times, mem = _time_calls(call, b, repeats, warmup, min_showers)
        if dev.type == "cuda":
            mem = (torch.cuda.max_memory_allocated() - base) / 2**20
        rows.append(
            _row(
                label,
                backend,
                ckpt["family"],
                det,
                str(dev),
                threads,
                b,
                times,
                mem,
                flops,
                precision,
            )
        )
        log.info("torch %s batch %d: %.4g ms/shower", label, b, rows[-1].ms_per_shower)
    return rows


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
    """Time an exported model with :class:`caloforge.runtime.OnnxGenerator` (CPU)."""
    from caloforge.runtime import OnnxGenerator

    gen = OnnxGenerator(path, threads=threads)
    det = gen.detector
    spec = energy or _onnx_energy(Path(path))
    cond_all = bench_conditions(det, max(batches), spec, seed=seed)
    flops = onnx_dense_flops(path)
    rows = []
    for b in batches:
        cond = _take(cond_all, b)
        rng = np.random.default_rng(seed)

        def call(cond: Conditions = cond, rng: np.random.Generator = rng, b: int = b) -> None:
            gen.sample(cond, rng, batch_size=b)

        times, mem = _time_calls(call, b, repeats, warmup, min_showers)
        rows.append(
            _row(
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


def _energy_of(ckpt: dict[str, Any], *, as_range: bool = False) -> str:
    """Energy specification of a checkpoint's training data: its file when readable (or,
    ``as_range``, a log-uniform range over the file's energies); else 1-100 GeV."""
    paths = [Path(p) for p in ckpt.get("info", {}).get("data", [])]
    if paths and all(p.is_file() for p in paths):
        if not as_range:
            return str(paths[0])
        e = ShowerFile(paths[0]).conditions().energy
        return f"loguniform:{e.min():.6g}MeV,{e.max():.6g}MeV"
    return "loguniform:1GeV,100GeV"


def _gen(torch: Any, dev: Any, seed: int) -> Any:
    g = torch.Generator(device=dev)
    g.manual_seed(seed)
    return g


def _take(c: Conditions, n: int) -> Conditions:
    return Conditions(c.energy[:n], c.particle[:n], c.direction[:n], c.impact[:n])


def geant4_timing(
    detector: Detector | str,
    energies: NDArray[np.float64],
    *,
    particle: str | None = None,
    seed: int = 1,
    workdir: str | Path | None = None,
) -> Geant4Timing:
    """Geant4 CPU time per shower for the given energies (one worker, offline EM physics
    unless official data are configured), in a worker process.

    Arguments:
        detector: a detector or preset name. energies: MeV, one event each (1 GeV-1 TeV).
    """
    from caloforge.simulate import SimulationConfig, simulate

    spec = "list:" + ",".join(f"{e:.6g}MeV" for e in energies)
    cfg = SimulationConfig(
        detector=detector,
        particle=particle,
        energy=spec,
        n=len(energies),
        seed=seed,
        workers=1,
        chunk_size=max(1, len(energies)),
    )
    load = os.getloadavg()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        out = simulate(cfg, Path(tmp) / "geant4_timing.h5")
        f = ShowerFile(out)
        cpu = f.read("cpu_time") * 1000.0
    return Geant4Timing(
        detector=cfg.det.name,
        particle=cfg.particle_name,
        n=len(energies),
        energy=f"{len(energies)} energies from the benchmark conditions",
        ms_median=float(np.median(cpu)),
        ms_mean=float(np.mean(cpu)),
        energy_mean_mev=float(np.mean(energies)),
        load=load,
        wall_s=time.perf_counter() - t0,
    )


def machine_info(threads: int | None = None) -> dict[str, Any]:
    """The machine of a measurement: :class:`caloforge.hardware.CpuFacts` (CPU model, ISA
    flags, torch's CPU capability, threads, native bfloat16, environment limits), versions
    and the load average."""
    info: dict[str, Any] = {
        **cpu_facts().to_dict(),
        "python": platform.python_version(),
        "caloforge": __version__,
        "load_start": [round(v, 2) for v in os.getloadavg()],
    }
    if threads is not None:
        info["threads"] = threads
    for mod in ("torch", "onnxruntime"):
        try:
            info[mod] = __import__(mod).__version__
        except ImportError:
            info[mod] = None
    return info


def machine_line(machine: dict[str, Any]) -> str:
    """One line of :func:`machine_info`: CPU, ISA, torch capability, threads, bfloat16."""
    env = "".join(f"; {k}={v}" for k, v in machine.get("env", {}).items())
    return (
        f"{machine.get('cpu', '?')}, {machine.get('cpus', '?')} logical CPUs; ISA "
        f"{' '.join(machine.get('isa', [])) or '-'}; torch CPU capability "
        f"{machine.get('torch_cpu_capability')}; {machine.get('threads')} threads; bfloat16 "
        f"{'native' if machine.get('bf16_native') else 'not native'}{env}; torch "
        f"{machine.get('torch')}, onnxruntime {machine.get('onnxruntime')}; load average at "
        f"start {machine.get('load_start')}, at end {machine.get('load_end')}"
    )


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
    precision: str = "auto",
) -> BenchReport:
    """Benchmark models (``.pt`` checkpoints or ``.onnx`` exports) and Geant4; see the
    module docstring.

    Raises:
        ValueError: bad batch sizes, repeats, or a model file that is neither.
        CheckpointError / RuntimeModelError: unreadable model files.
    """
    if not models:
        raise ValueError("give at least one --checkpoint")
    if not batches or any(b < 1 for b in batches):
        raise ValueError(f"batch sizes must be >= 1, got {list(batches)}")
    if repeats < 1 or warmup < 0 or threads < 1:
        raise ValueError("repeats and threads must be >= 1 and warm-up >= 0")
    for m in models:
        p = Path(m)
        if not p.is_file():
            raise FileNotFoundError(f"{p}: no such model file")
        if p.suffix not in (".pt", ".onnx"):
            raise ValueError(
                f"{p}: unknown model format {p.suffix!r}; use a .pt checkpoint or an .onnx export"
            )
    report = BenchReport(rows=[], machine=machine_info(threads))
    dets: dict[str, tuple[Detector, Conditions]] = {}
    for m in models:
        p = Path(m)
        kw: dict[str, Any] = dict(
            threads=threads,
            repeats=repeats,
            warmup=warmup,
            min_showers=min_showers,
            seed=seed,
            energy=energy,
        )
        if p.suffix == ".onnx":
            if device != "cpu":
                raise ValueError(f"{p}: the ONNX runtime path is timed on cpu only (--device cpu)")
            if precision == "bf16":
                raise ValueError(f"{p}: --precision applies to .pt checkpoints, not ONNX exports")
            rows = bench_onnx(p, batches, **kw)
        else:
            rows = bench_torch(
                p,
                batches,
                device=device,
                untrained_detector=untrained_detector,
                precision=precision,
                **kw,
            )
        report.rows.extend(rows)
        if rows and rows[0].detector not in dets:
            det, spec = _detector_and_energy(p, untrained_detector)
            spec = energy or spec
            dets[det.name] = (det, bench_conditions(det, geant4_showers, spec, seed=seed + 1))
    if geant4:
        for name, (det, cond) in dets.items():
            from caloforge.data.conditions import PDG_CODES

            names = {v: k for k, v in PDG_CODES.items()}
            particle = names.get(int(cond.particle[0]))
            log.info("Geant4: %d showers of %s", len(cond), name)
            report.geant4[name] = geant4_timing(det, cond.energy, particle=particle, seed=seed + 1)
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


def _detector_and_energy(path: Path, untrained: str | None) -> tuple[Detector, str]:
    """The detector a model file generates for and the energy specification of its data."""
    if path.suffix == ".onnx":
        from caloforge.runtime import read_metadata

        return read_metadata(path).detector, _onnx_energy(path)
    from caloforge.geometry import load_detector
    from caloforge.train.checkpoint import checkpoint_detector, load_checkpoint

    ckpt = load_checkpoint(path)
    det = load_detector(untrained) if untrained else checkpoint_detector(ckpt, str(path))
    return det, _energy_of(ckpt, as_range=untrained is not None)


def _onnx_energy(path: Path) -> str:
    from caloforge.runtime import read_metadata

    meta = read_metadata(path)
    src = meta.trained_range.source
    if src.startswith("data:") and Path(src[5:].split(",")[0]).is_file():
        return src[5:].split(",")[0]
    lo, hi = meta.trained_range.energy
    return f"loguniform:{lo:.6g}MeV,{hi:.6g}MeV"


__all__ = [
    "DEFAULT_BATCHES",
    "BenchReport",
    "BenchRow",
    "Geant4Timing",
    "PeakRSS",
    "bench_conditions",
    "bench_onnx",
    "bench_torch",
    "geant4_timing",
    "machine_info",
    "machine_line",
    "onnx_dense_flops",
    "run_bench",
]
