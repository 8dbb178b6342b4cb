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

Modules: :mod:`~caloforge.bench.run` (``run_bench``), :mod:`~caloforge.bench.timing` (the
timing harness), :mod:`~caloforge.bench.torch_backend` and
:mod:`~caloforge.bench.onnx_backend` (the two backends), :mod:`~caloforge.bench.geant4`
(the Geant4 baseline), :mod:`~caloforge.bench.conditions`, :mod:`~caloforge.bench.machine`
and :mod:`~caloforge.bench.report`.
"""

from caloforge.bench.conditions import bench_conditions
from caloforge.bench.geant4 import geant4_timing
from caloforge.bench.machine import machine_info, machine_line
from caloforge.bench.onnx_backend import bench_onnx, onnx_dense_flops
from caloforge.bench.report import BenchReport, BenchRow, Geant4Timing
from caloforge.bench.run import DEFAULT_BATCHES, run_bench
from caloforge.bench.timing import PeakRSS
from caloforge.bench.torch_backend import DEFAULT_PRECISIONS, bench_torch

__all__ = [
    "DEFAULT_BATCHES",
    "DEFAULT_PRECISIONS",
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
