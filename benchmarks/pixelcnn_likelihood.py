"""Exact log-likelihood of held-out showers under a ``pixelcnn`` checkpoint.

Usage: python benchmarks/pixelcnn_likelihood.py CKPT.pt SHOWERS.h5 [--max N]

Prints the mean negative log-likelihood of the discretised showers (nats per shower and
per voxel; classes as in ``caloforge.models.pixelcnn``) with its standard error.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from caloforge.data import read_showers
from caloforge.train import load_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("showers")
    ap.add_argument("--max", type=int, default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    model, ckpt = load_model(args.checkpoint)
    if ckpt["family"] != "pixelcnn":
        raise SystemExit(f"error: {args.checkpoint} is a {ckpt['family']!r} model, not pixelcnn")
    showers, cond, _ = read_showers(args.showers, max_showers=args.max)
    out = []
    with torch.no_grad():
        for start in range(0, len(showers), 500):
            sl = slice(start, start + 500)
            c = cond.select(np.arange(start, min(start + 500, len(showers))))
            x = torch.as_tensor(showers[sl])
            e = torch.as_tensor(c.energy, dtype=torch.float32)
            out.append(model.log_likelihood(x, e, model.cond_scaler(model.condition_tensor(c))))
    ll = torch.cat(out).numpy().astype(np.float64)
    nll, err = -ll.mean(), ll.std() / np.sqrt(len(ll))
    print(
        f"{args.showers}: {len(ll)} showers, NLL {nll:.2f} +- {err:.2f} nats/shower, "
        f"{nll / model.n_voxels:.4f} nats/voxel (discretised, {model.config.bins} classes)"
    )


if __name__ == "__main__":
    main()
