"""Geant4 CPU time per shower and shower observables with the readout scoring modes.

Runs ``parallel`` (readout cells in a parallel world), ``replica`` (cells inside the mass
geometry) and ``steps`` (no readout volume, each step's deposit binned by its midpoint)
in turn, in rounds of the same events (the order reversed every other round), so that
all see the same machine load; reports the mean and median CPU ms per shower (per-event
``cpu_time``, one worker) and the visible fraction of each mode.

Usage:
    python benchmarks/scoring_modes.py [--detector atlas-pblar] [--particle gamma]
        [--energy loguniform:1GeV,100GeV] [--n 40] [--rounds 4]
        [--modes parallel,replica,steps] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
from pathlib import Path

import numpy as np

from caloforge.data.hdf5 import ShowerFile
from caloforge.files import write_text
from caloforge.simulate import SimulationConfig, simulate
from caloforge.simulate.scoring import SCORING_MODES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detector", default="atlas-pblar")
    parser.add_argument("--particle", default="gamma")
    parser.add_argument("--energy", default="loguniform:1GeV,100GeV")
    parser.add_argument("--n", type=int, default=40, help="showers per mode and round")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--modes", default=",".join(SCORING_MODES))
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    modes = args.modes.split(",")
    bad = [m for m in modes if m not in SCORING_MODES]
    if bad:
        parser.error(f"--modes: {bad[0]!r} is not one of {', '.join(SCORING_MODES)}")
    logging.basicConfig(level=logging.WARNING)
    cpu: dict[str, list[np.ndarray]] = {m: [] for m in modes}
    vis: dict[str, list[np.ndarray]] = {m: [] for m in modes}
    load = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory() as d:
        for r in range(args.rounds):
            for mode in modes if r % 2 == 0 else modes[::-1]:
                cfg = SimulationConfig(
                    args.detector,
                    particle=args.particle,
                    energy=args.energy,
                    n=args.n,
                    seed=100 + r,
                    scoring=mode,  # type: ignore[arg-type]  # checked above
                    chunk_size=args.n,
                )
                f = ShowerFile(simulate(cfg, Path(d) / f"{mode}-{r}.h5"))
                cpu[mode].append(f.read("cpu_time"))
                vis[mode].append(f.read("energy_active") / f.read("incident_energies")[:, 0])
            load.append(os.getloadavg()[0])
    result = {
        "detector": args.detector,
        "particle": args.particle,
        "energy": args.energy,
        "showers_per_mode": args.n * args.rounds,
        "load_average_1min": load,
    }
    for mode in modes:
        t = np.concatenate(cpu[mode]) * 1e3
        v = np.concatenate(vis[mode])
        result[mode] = {
            "cpu_ms_mean": float(t.mean()),
            "cpu_ms_mean_error": float(t.std() / np.sqrt(len(t))),
            "cpu_ms_median": float(np.median(t)),
            "visible_fraction": float(v.mean()),
            "visible_fraction_error": float(v.std() / np.sqrt(len(v))),
        }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_text(args.out, text + "\n")


if __name__ == "__main__":
    main()
