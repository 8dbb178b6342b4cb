"""The timing harness: timed calls after warm-up, peak memory, one row per batch size."""

from __future__ import annotations

import math
import os
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from caloforge.bench.report import BenchRow
from caloforge.geometry import Detector


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


def time_calls(
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


def make_row(
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
    note: str = "",
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
        note=note,
    )


__all__ = ["PeakRSS", "make_row", "time_calls"]
