"""Stage-1 sampling cost, autoregressive against coupling, and what it does to the fit.

Usage:
    python benchmarks/stage1_speed.py [--detectors calochallenge-ds2,calochallenge-ds3]
        [--passes none,2] [--batch 1024] [--repeats 5] [--threads 1] [--model]
        [--fit-steps 3000]

For each detector and each ``layer_passes`` setting (``none``: fully autoregressive, one
network pass per readout layer; ``2``: coupling):

* the stage-1 flow (the default ``LayerFlowConfig`` but for its passes, untrained: the
  time does not depend on the weights) samples ``--batch`` layer-energy vectors;
* with ``--model``, an untrained ``patch-transformer`` with its one-pass student
  (``sampler=student``, the family's other defaults) samples ``--batch`` showers of
  10 GeV with ``ShowerModel.sample``: stage 1 and the rest of the model together;
* with ``--fit-steps N``, the flow is fitted for N Adam steps (batch 256, lr 5e-4: the
  ``layer_lr`` default of the one-stage families; ``patch-transformer``'s stage 1 trains at
  its ``train.lr``, 3e-4 by default) to TOY layer energies (a gamma-function longitudinal
  profile with a fluctuating depth and per-layer fluctuations over 1-100 GeV, not
  physics) and its negative log-likelihood on 4,000 held-out TOY showers is printed (nats
  per shower, in the flow's standardised coordinates; lower is better).

Times are CPU time of this process (``time.process_time``), median of ``--repeats``
calls after a warm-up call on 32 showers, in ms per shower, with ``--threads`` torch
threads; the load average of the machine is printed before and after. Markdown tables on
stdout.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch

from caloforge.data import Conditions
from caloforge.geometry import load_detector
from caloforge.models.layer_stage import LayerEnergyFlow, LayerFlowConfig
from caloforge.train.loading import build_model

ENERGY_MEV = 1e4
FIT_BATCH = 256
FIT_LR = 5e-4
HELD_OUT = 4000
WARMUP = 32


def _passes(text: str) -> int | None:
    return None if text.lower() in ("none", "null", "") else int(text)


def _label(passes: int | None) -> str:
    return "autoregressive" if passes is None else f"passes={passes}"


def _cpu_ms(call, batch: int, repeats: int) -> float:
    """Median CPU milliseconds per shower of ``call(batch)`` (one warm-up call of
    ``WARMUP`` showers first)."""
    call(WARMUP)
    times = []
    for _ in range(repeats):
        start = time.process_time()
        call(batch)
        times.append(time.process_time() - start)
    return 1e3 * statistics.median(times) / batch


def stage1_ms(n_layers: int, passes: int | None, batch: int, repeats: int) -> float:
    """CPU ms per shower of the stage-1 flow's sampler (one condition column)."""
    gen = torch.Generator().manual_seed(0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        flow = LayerEnergyFlow(n_layers, 1, LayerFlowConfig(passes=passes)).eval()
    cond = torch.randn(batch, 1, generator=gen)
    noise = torch.randn(batch, n_layers, generator=gen)
    with torch.inference_mode():
        return _cpu_ms(lambda n: flow.sample_from_noise(cond[:n], noise[:n]), batch, repeats)


def model_ms(detector: str, passes: int | None, batch: int, repeats: int) -> float:
    """CPU ms per shower of an untrained patch-transformer student's ``sample``."""
    from caloforge.models import get_family

    det = load_detector(detector)
    family = "patch-transformer"
    config = get_family(family).config_class(  # type: ignore[call-arg]
        sampler="student", distill_start=1, layer_passes=passes
    )
    model = build_model(family, config, det, seed=0).eval()
    gen = torch.Generator()

    def call(n: int) -> None:
        cond = Conditions.create(np.full(n, ENERGY_MEV), "e-")
        model.sample(cond, gen.manual_seed(1), batch_size=n)

    return _cpu_ms(call, batch, repeats)


def toy_layers(n_layers: int, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """TOY (n, n_layers) layer energies and (n,) incident energies, MeV (not physics)."""
    rng = np.random.default_rng(seed)
    energy = np.exp(rng.uniform(np.log(1e3), np.log(1e5), n))
    # depth of the maximum grows with log E and fluctuates shower by shower
    t_max = 0.25 * n_layers * (0.6 + 0.15 * np.log(energy / 1e3)) * rng.lognormal(0, 0.12, n)
    a = 4.0 * rng.lognormal(0, 0.1, n)
    b = (a - 1) / t_max
    t = np.arange(n_layers) + 0.5
    prof = t[None, :] ** (a[:, None] - 1) * np.exp(-b[:, None] * t[None, :])
    prof *= rng.gamma(20.0, 1 / 20.0, prof.shape)  # per-layer fluctuations
    prof /= prof.sum(1, keepdims=True)
    visible = 0.02 * energy * (1 + rng.normal(0, 0.1, n) / np.sqrt(energy / 1e3))
    layers = prof * visible[:, None]
    as_t = lambda x: torch.as_tensor(x, dtype=torch.float32)  # noqa: E731
    return as_t(layers), as_t(energy)


def fit_nll(n_layers: int, passes: int | None, steps: int, seed: int = 0) -> float:
    """Held-out NLL (nats per shower) of the stage-1 flow after ``steps`` Adam steps on
    TOY layer energies."""
    layers, energy = toy_layers(n_layers, 20_000 + HELD_OUT, seed)
    cond = ((torch.log(energy / 1e3) - np.log(10.0)) / 1.33).unsqueeze(1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        flow = LayerEnergyFlow(n_layers, 1, LayerFlowConfig(passes=passes))
    flow.fit(layers[:-HELD_OUT], energy[:-HELD_OUT])
    z = flow.encode(layers, energy)
    z_train, c_train = z[:-HELD_OUT], cond[:-HELD_OUT]
    opt = torch.optim.Adam(flow.parameters(), lr=FIT_LR)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(len(z_train), (FIT_BATCH,), generator=gen)
        loss = -flow.log_prob(z_train[idx], c_train[idx]).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return float(-flow.log_prob(z[-HELD_OUT:], cond[-HELD_OUT:]).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--detectors", default="calochallenge-ds2,calochallenge-ds3")
    ap.add_argument("--passes", default="none,2")
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--model", action="store_true", help="also time the whole student")
    ap.add_argument("--fit-steps", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    settings = [_passes(p) for p in args.passes.split(",")]
    print(f"load average before: {os.getloadavg()[0]:.2f}; torch threads: {args.threads}")
    cols = ["detector (layers)", "stage 1", "ms/shower (CPU)"]
    if args.model:
        cols.append("student sample ms/shower (CPU)")
    if args.fit_steps:
        cols.append(f"held-out NLL after {args.fit_steps} steps (TOY)")
    print(f"\nbatch {args.batch}, median of {args.repeats}\n")
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    # the stage-1 flow, its time and its fit depend on the layer count only
    times: dict[tuple[int, int | None], float] = {}
    fits: dict[tuple[int, int | None], float] = {}
    for name in args.detectors.split(","):
        n_layers = load_detector(name).n_layers
        for passes in settings:
            row = [f"{name} ({n_layers})", _label(passes)]
            key = (n_layers, passes)
            if key not in times:
                times[key] = stage1_ms(n_layers, passes, args.batch, args.repeats)
            row.append(f"{times[key]:.3f}")
            if args.model:
                row.append(f"{model_ms(name, passes, args.batch, args.repeats):.2f}")
            if args.fit_steps:
                if key not in fits:
                    fits[key] = fit_nll(n_layers, passes, args.fit_steps)
                row.append(f"{fits[key]:.2f}")
            print("| " + " | ".join(row) + " |", flush=True)
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
