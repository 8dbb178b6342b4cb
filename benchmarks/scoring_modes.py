"""Geant4 CPU time per shower and shower observables with the readout scoring modes.

Runs ``parallel`` (readout cells in a parallel world), ``replica`` (cells inside the mass
geometry) and ``steps`` (no readout volume, each step's deposit binned by its midpoint)
in turn, in rounds of the same events (the order reversed every other round), so that
all see the same machine load; reports the mean and median CPU ms per shower (per-event
``cpu_time``, one worker), the visible fraction of each mode and the fraction of the
readout energy in a shower's hottest voxel, and, per mode, the relative difference of
both from ``replica`` with its standard error from the per-event differences (the same
events in both modes) and their ratio.

Usage:
    python benchmarks/scoring_modes.py [--detector atlas-pblar] [--particle gamma]
        [--energy loguniform:1GeV,100GeV] [--n 40] [--rounds 4]
        [--modes parallel,replica,steps] [--seed 100] [--out FILE.json]
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
from caloforge.geometry import SCORING_MODES
from caloforge.simulate import SimulationConfig, simulate


def _paired(values: np.ndarray, replica: np.ndarray) -> dict[str, float]:
    """The relative difference of the means from ``replica``'s, its standard error from the
    per-event differences (the same events in both modes) and their ratio."""
    d = (values - replica) / replica.mean()
    error = float(d.std(ddof=1) / np.sqrt(len(d)))
    return {
        "relative_difference": float(d.mean()),
        "error": error,
        "standard_errors": float(d.mean() / error) if error > 0 else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detector", default="atlas-pblar")
    parser.add_argument("--particle", default="gamma")
    parser.add_argument("--energy", default="loguniform:1GeV,100GeV")
    parser.add_argument("--n", type=int, default=40, help="showers per mode and round")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--modes", default=",".join(SCORING_MODES))
    parser.add_argument("--seed", type=int, default=100, help="round r simulates seed SEED + r")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    modes = args.modes.split(",")
    bad = [m for m in modes if m not in SCORING_MODES]
    if bad:
        parser.error(f"--modes: {bad[0]!r} is not one of {', '.join(SCORING_MODES)}")
    if args.rounds < 1:
        parser.error(f"--rounds={args.rounds}: must be >= 1")
    try:  # every run's configuration, checked before any simulation
        configs = {
            (r, mode): SimulationConfig(
                args.detector,
                particle=args.particle,
                energy=args.energy,
                n=args.n,
                seed=args.seed + r,
                scoring=mode,  # type: ignore[arg-type]  # checked above
                chunk_size=args.n,
            )
            for r in range(args.rounds)
            for mode in modes
        }
    except ValueError as err:
        parser.error(str(err))
    logging.basicConfig(level=logging.WARNING)
    cpu: dict[str, list[np.ndarray]] = {m: [] for m in modes}
    vis: dict[str, list[np.ndarray]] = {m: [] for m in modes}
    hot: dict[str, list[np.ndarray]] = {m: [] for m in modes}
    load = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory() as d:
        for r in range(args.rounds):
            for mode in modes if r % 2 == 0 else modes[::-1]:
                f = ShowerFile(simulate(configs[r, mode], Path(d) / f"{mode}-{r}.h5"))
                cpu[mode].append(f.read("cpu_time"))
                vis[mode].append(f.read("energy_active") / f.read("incident_energies")[:, 0])
                showers = f.showers()
                hot[mode].append(showers.max(axis=1) / showers.sum(axis=1))
            load.append(os.getloadavg()[0])
    result = {
        "detector": args.detector,
        "particle": args.particle,
        "energy": args.energy,
        "showers_per_mode": args.n * args.rounds,
        "seeds": [args.seed, args.seed + args.rounds - 1],
        "load_average_1min": load,
    }
    for mode in modes:
        t = np.concatenate(cpu[mode]) * 1e3
        v = np.concatenate(vis[mode])
        h = np.concatenate(hot[mode])
        result[mode] = {
            "cpu_ms_mean": float(t.mean()),
            "cpu_ms_mean_error": float(t.std() / np.sqrt(len(t))),
            "cpu_ms_median": float(np.median(t)),
            "visible_fraction": float(v.mean()),
            "visible_fraction_error": float(v.std() / np.sqrt(len(v))),
            "hottest_voxel_fraction": float(h.mean()),
            "hottest_voxel_fraction_error": float(h.std() / np.sqrt(len(h))),
        }
        if mode != "replica" and "replica" in modes:
            result[mode]["visible_vs_replica"] = _paired(v, np.concatenate(vis["replica"]))
            result[mode]["hottest_vs_replica"] = _paired(h, np.concatenate(hot["replica"]))
    text = json.dumps(result, indent=2)
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_text(args.out, text + "\n")


if __name__ == "__main__":
    main()
