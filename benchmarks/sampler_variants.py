"""Generate from one checkpoint with several sampler settings, timing each.

Usage:
    python benchmarks/sampler_variants.py CKPT REF.h5 OUTDIR NAME:key=value,key=value ...

Each ``NAME:overrides`` variant replaces fields of the model config (e.g.
``ode10:sample_steps=10``, ``student:sampler=student``, ``base:`` for none), generates
one shower per condition of ``REF.h5`` (seed 1) into ``OUTDIR/NAME.h5`` and prints the
time per shower (batch ``--batch``, torch threads ``--threads``; warm-up on 1024
showers excluded) as a Markdown table row. Compare files with ``caloforge evaluate``.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
import typing
from pathlib import Path

import numpy as np
import torch

from caloforge.data import read_showers, write_showers
from caloforge.generate import generate
from caloforge.train import load_model


def _cast(config: object, key: str, value: str) -> object:
    hints = typing.get_type_hints(type(config))
    kind = hints[key]
    if kind is bool:
        return value.lower() in ("1", "true", "yes")
    if kind in (int, float):
        return kind(value)
    return value


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("reference")
    ap.add_argument("outdir")
    ap.add_argument("variants", nargs="+")
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--max", type=int, default=None, help="first N conditions only")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.outdir)
    out.mkdir(parents=True, exist_ok=True)
    _, cond, det = read_showers(args.reference, max_showers=args.max)
    model, ckpt = load_model(args.checkpoint)
    base = model.config
    print(f"| {ckpt['family']} variant | ms/shower (batch {args.batch}, {args.threads} thread) |")
    print("|---|---|")
    for spec in args.variants:
        name, _, rest = spec.partition(":")
        kw = {}
        for item in filter(None, rest.split(",")):
            key, _, value = item.partition("=")
            kw[key] = _cast(base, key, value)
        model.config = dataclasses.replace(base, **kw)
        generate(model, cond.select(np.arange(min(1024, len(cond)))), seed=0, batch_size=args.batch)
        t0 = time.perf_counter()
        showers = generate(model, cond, seed=1, batch_size=args.batch)
        ms = 1e3 * (time.perf_counter() - t0) / len(cond)
        write_showers(out / f"{name}.h5", showers, cond, det, overwrite=True)
        print(f"| {name} ({rest or 'default'}) | {ms:.3f} |", flush=True)


if __name__ == "__main__":
    main()
