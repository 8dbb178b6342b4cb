"""How the cells of one readout layer vary together, reference against candidates.

A per-voxel calibration gives every cell the reference's distribution, so a classifier
that still separates a candidate (``caloforge evaluate --classifier-layers`` says in which
layer) sees how the cells vary together. This script prints, for one readout layer and in
quarters of the reference's log incident energy:

``hits``
    cells with a deposit per shower, mean and standard deviation;
``next to a hit``
    the fraction of hit cells whose nearest cell (by centre distance) is hit too: near 0
    for hits scattered independently, higher for hits that come in clusters;
``core rho``
    the Spearman rank correlation of the layer's hottest cell (the largest mean deposit)
    with each of its two nearest cells, averaged: how tightly the core cells rise and
    fall together from shower to shower.

Optionally (``--outside X0,X1``) the same hit figures for the cells whose centre lies
outside ``X0 <= x < X1`` mm (the outer rows of a strip layer).

    python benchmarks/cell_structure.py REF.h5 CAND.h5 [CAND2.h5 ...] [--layer 0]
        [--outside -80,80] [-n 20000]

Both files are read with their own geometry; the candidates must hold showers of the
reference's detector (``caloforge generate --conditions REF.h5`` makes such a file).
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy.stats import spearmanr

from caloforge.data import ShowerFile, ShowerFileError
from caloforge.evaluate.observables import cell_geometry


def by_distance(x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.int64]:
    """For each cell, the other cells ordered by centre distance (nearest first)."""
    dist = np.hypot(x[:, None] - x[None], y[:, None] - y[None])
    np.fill_diagonal(dist, np.inf)
    return np.argsort(dist, axis=1, kind="stable")


def hit_figures(cells: NDArray[np.float64], nearest: NDArray[np.int64]) -> tuple[float, ...]:
    """(mean, sd of the hits per shower, fraction of hits whose nearest cell is hit)."""
    hit = cells > 0
    n = hit.sum(axis=1)
    paired = (hit & hit[:, nearest]).sum()
    return float(n.mean()), float(n.std()), float(paired / max(int(n.sum()), 1))


def core_rho(cells: NDArray[np.float64], core: int, neighbours: NDArray[np.int64]) -> float:
    """Mean Spearman correlation of cell ``core`` with each of ``neighbours``."""
    return float(np.mean([spearmanr(cells[:, core], cells[:, j])[0] for j in neighbours]))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("reference", type=Path)
    p.add_argument("candidates", type=Path, nargs="+")
    p.add_argument("--layer", type=int, default=0, help="readout layer (default 0)")
    p.add_argument("--outside", help="X0,X1: also the cells whose centre x is outside, mm")
    p.add_argument("-n", type=int, default=None, help="at most N showers of each file")
    a = p.parse_args(argv)
    try:
        ref = ShowerFile(a.reference)
        det = ref.detector
        if not 0 <= a.layer < det.n_layers:
            raise ValueError(
                f"--layer {a.layer}: {det.name} has readout layers 0-{det.n_layers - 1}"
            )
        outside = None
        if a.outside:
            x0, x1 = (float(v) for v in a.outside.split(","))
            outside = (x0, x1)
        files = {"reference": ref} | {c.name: ShowerFile(c, det) for c in a.candidates}
        samples = {}
        for name, f in files.items():
            n = len(f) if a.n is None else min(a.n, len(f))
            samples[name] = (f.showers(0, n).astype(np.float64), f.conditions(0, n).energy)
    except (ShowerFileError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    cols = det.layer_slices[a.layer]
    g = cell_geometry(det)
    x, y = g.x[cols], g.y[cols]
    order = by_distance(x, y)
    nearest = order[:, 0]
    ref_cells = samples["reference"][0][:, cols]
    core = int(np.argmax(ref_cells.mean(axis=0)))
    neighbours = order[core, :2]
    out_cols = None if outside is None else np.flatnonzero((x < outside[0]) | (x >= outside[1]))
    out_nearest = None if out_cols is None else by_distance(x[out_cols], y[out_cols])[:, 0]
    log_e = np.log(samples["reference"][1])
    edges = np.quantile(log_e, [0.0, 0.25, 0.5, 0.75, 1.0])
    print(
        f"{det.name}, readout layer {a.layer} ({len(x)} cells; core cell {core} at "
        f"x = {x[core]:.1f}, y = {y[core]:.1f} mm, its nearest {neighbours.tolist()})"
    )
    head = "| energy (GeV) | sample | hits (mean, sd) | next to a hit | core rho |"
    if out_cols is not None:
        head += f" hits outside {outside[0]:g}-{outside[1]:g} mm (mean, sd) | next to a hit |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for lo, hi in itertools.pairwise(edges):
        for name, (s, e) in samples.items():
            sel = (np.log(e) >= lo) & (np.log(e) <= hi)
            cells = s[sel][:, cols]
            mean, sd, paired = hit_figures(cells, nearest)
            row = (
                f"| {np.exp(lo) / 1e3:.1f}-{np.exp(hi) / 1e3:.1f} | {name} | {mean:.1f}, {sd:.1f} "
                f"| {paired:.3f} | {core_rho(cells, core, neighbours):.3f} |"
            )
            if out_cols is not None:
                m2, sd2, p2 = hit_figures(cells[:, out_cols], out_nearest)
                row += f" {m2:.2f}, {sd2:.2f} | {p2:.3f} |"
            print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
