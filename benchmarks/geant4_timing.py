"""Geant4 full-simulation speed on this machine: the denominator of every speed-up.

Measures (1) CPU ms per shower for 1, 10 and 100 GeV electrons in ``atlas-pblar`` and
``ild-wsi`` (one worker; per-event CPU time recorded by the backend), and (2) showers/s
(wall clock, start-up included) with 1 and 2 workers. Offline data mode, EM option 0.

Usage:
    python benchmarks/geant4_timing.py [--out artifacts/benchmarks/geant4_timing.json]

Take the numbers on an otherwise idle machine; the load average is recorded.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from caloforge.data.hdf5 import ShowerFile
from caloforge.simulate import SimulationConfig, simulate

COUNTS = {1e3: 60, 1e4: 20, 1e5: 4}


def per_shower(detector: str, tmp: Path) -> dict[str, float]:
    """Median CPU ms per shower at each energy (first chunk's initialisation excluded)."""
    out = {}
    for energy, n in COUNTS.items():
        cfg = SimulationConfig(detector, particle="e-", energy=energy, n=n, seed=1, chunk_size=n)
        f = ShowerFile(simulate(cfg, tmp / f"{detector}-{int(energy)}.h5"))
        out[f"{energy / 1e3:g} GeV"] = float(np.median(f.read("cpu_time")) * 1e3)
    return out


def throughput(workers: int, tmp: Path, n: int = 80) -> float:
    """Showers/s, wall clock including worker start-up: atlas-pblar, 10 GeV electrons."""
    cfg = SimulationConfig(
        "atlas-pblar", particle="e-", energy="10GeV", n=n, seed=2, workers=workers, chunk_size=20
    )
    start = time.perf_counter()
    simulate(cfg, tmp / f"tp{workers}.h5")
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("artifacts/benchmarks/geant4_timing.json"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        result = {
            "ms_per_shower_cpu": {det: per_shower(det, tmp) for det in ("atlas-pblar", "ild-wsi")},
            "showers_per_s_10GeV_atlas": {str(w): throughput(w, tmp) for w in (1, 2)},
        }
    result["loadavg_before"] = load_before
    result["loadavg_after"] = os.getloadavg()
    result["cpus"] = os.cpu_count()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print("| detector | " + " | ".join(f"{e / 1e3:g} GeV e- (ms)" for e in COUNTS) + " |")
    print("|---|" + "---|" * len(COUNTS))
    for det, row in result["ms_per_shower_cpu"].items():
        print(f"| {det} | " + " | ".join(f"{v:.0f}" for v in row.values()) + " |")
    for w, v in result["showers_per_s_10GeV_atlas"].items():
        print(f"workers={w}: {v:.2f} showers/s (atlas-pblar, 10 GeV e-, start-up included)")
    print(f"load average before/after: {load_before} / {result['loadavg_after']}")


if __name__ == "__main__":
    main()
