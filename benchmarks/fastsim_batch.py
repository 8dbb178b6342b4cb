"""Model CPU time per shower against the batch size of fast simulation (``--fastsim-batch``).

Runs an exported model in ONNX Runtime (1 thread, as in a simulation worker) on its
trained range, with the keyed noise fast simulation uses, and prints per batch size the
CPU time per shower (model call only, and with the noise and features).

    python benchmarks/fastsim_batch.py MODEL.onnx [--showers 4096] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from caloforge.data import Conditions
from caloforge.deploy.runtime import OnnxGenerator

BATCHES = (1, 4, 16, 64, 128, 256, 512, 1024, 4096)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--showers", type=int, default=4096)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    gen = OnnxGenerator(args.model, threads=1)
    r = gen.trained_range
    rng = np.random.default_rng(0)
    n = args.showers
    energy = np.exp(rng.uniform(*np.log(np.maximum(r.energy, 1e-3)), n))
    impact = np.zeros((n, 3))
    impact[:, 0] = rng.uniform(*r.impact_x, n)
    impact[:, 1] = rng.uniform(*r.impact_y, n)
    cond = Conditions(energy, np.full(n, r.particles[0]), np.tile([0.0, 0.0, 1.0], (n, 1)), impact)
    columns = (cond.energy, cond.particle, cond.direction, cond.impact)
    keys = np.c_[np.arange(n), np.zeros(n, dtype=np.int64)]
    print(f"{args.model}: {gen.n_voxels} voxels, {n} showers, best of {args.repeat}")
    print("batch  model ms/shower  +noise+features ms/shower")
    for batch in BATCHES:
        if batch > n:
            break
        best_model = best_all = float("inf")
        for _ in range(args.repeat):
            t_model = t_all = 0.0
            for s in range(0, n - batch + 1, batch):
                t0 = time.process_time()
                part = Conditions(*(a[s : s + batch] for a in columns))
                feats = gen.features(part)
                noise = gen.keyed_noise(1, keys[s : s + batch])
                t1 = time.process_time()
                gen.run(feats, noise)
                t2 = time.process_time()
                t_model += t2 - t1
                t_all += t2 - t0
            m = (n // batch) * batch
            best_model, best_all = min(best_model, t_model / m), min(best_all, t_all / m)
        print(f"{batch:5d}  {1000 * best_model:15.4f}  {1000 * best_all:25.4f}")


if __name__ == "__main__":
    main()
