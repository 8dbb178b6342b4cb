"""Fast simulation's CPU per event including Geant4's whole event loop, in one process.

The ``cpu_time`` column of a simulation counts an event from its primary generation to
its end-of-event readout (plus its share of the batched model calls). This script builds
one worker's Geant4 application in this process, simulates a chunk of N events and
compares the process CPU time of the whole chunk (Geant4's event creation and deletion
and everything between events included) with the sum of the recorded ``cpu_time``.

    python benchmarks/fastsim_event_loop.py MODEL.onnx [-n 1000] [--batch 256]
        [--detector atlas-pblar] [--particle gamma] [--energy loguniform:1GeV,100GeV]
"""

from __future__ import annotations

import argparse
import time

from caloforge.deploy.fastsim.profile import PARTS, cpu_profile
from caloforge.simulate import SimulationConfig
from caloforge.simulate.config import event_batch
from caloforge.simulate.g4data import resolve_g4data
from caloforge.simulate.scoring import choose_pitch
from caloforge.simulate.worker import Geant4App, WorkerSpec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("-n", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--detector", default="atlas-pblar")
    parser.add_argument("--particle", default="gamma")
    parser.add_argument("--energy", default="loguniform:1GeV,100GeV")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    cfg = SimulationConfig(
        detector=args.detector,
        particle=args.particle,
        energy=args.energy,
        n=args.n,
        seed=args.seed,
        chunk_size=args.n,
        fastsim=args.model,
        fastsim_batch=args.batch,
    )
    setup = resolve_g4data(None)
    app = Geant4App(WorkerSpec(cfg, setup, choose_pitch(cfg.det, cfg.scoring_pitch)))
    batch = event_batch(cfg, cfg.event_indices())
    t0 = time.process_time()
    result = app.run(batch)
    chunk = time.process_time() - t0
    cols = {"cpu_time": result.cpu_time}
    cols.update({f"time_{p}": getattr(result, f"time_{p}") for p in PARTS if p != "transport"})
    prof = cpu_profile(cols)
    fast = int(result.fastsim_fast.sum()) if result.fastsim_fast is not None else 0
    print(f"{args.n} events ({fast} showers by the model), --fastsim-batch {args.batch}")
    print(f"process CPU per event, whole chunk: {1000 * chunk / args.n:.4f} ms")
    print(f"recorded cpu_time per event:        {prof['total']:.4f} ms")
    print("  " + ", ".join(f"{p} {prof[p]:.4f}" for p in PARTS) + " (ms)")
    print(f"  between events (Geant4 event loop): {1000 * chunk / args.n - prof['total']:.4f} ms")


if __name__ == "__main__":
    main()
