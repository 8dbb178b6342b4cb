"""How the cells of one readout layer vary together, reference against candidates.

A per-voxel calibration gives every cell the reference's distribution, so a classifier
that still separates a candidate (``caloforge evaluate --classifier-layers`` says in which
layer) sees how the cells vary together. This script prints, for one readout layer and in
quarters of the reference's log incident energy:

``hits``
    cells with a deposit per shower, mean and standard deviation;
``next to a hit``
    the fraction of hit cells whose nearest cell (by centre distance; of equally near
    cells the first in voxel order) is hit too: about that cell's own hit rate for hits
    placed independently, higher for hits that come in clusters;
``core rho``
    the Spearman rank correlation of the layer's hottest cell (the largest mean deposit)
    with each of its two nearest cells (ties as above), averaged: how tightly the core
    cells rise and fall together from shower to shower.

Optionally (``--outside=X0,X1``, with ``=`` for a negative X0) the same hit figures for
the cells whose centre lies outside ``X0 <= x < X1`` mm (the outer rows of a strip layer).

    python benchmarks/cell_structure.py REF.h5 CAND.h5 [CAND2.h5 ...] [--layer 0]
        [--outside=-80,80] [-n 20000]

Every file is read with the reference's detector and must hold showers at the
reference's incident energies, row by row (``caloforge generate --conditions REF.h5``
makes such a file). Bad input: one ``error:`` line, exit 2.
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
        if a.n is not None and a.n < 1:
            raise ValueError(f"-n {a.n}: must be at least 1")
        cols = det.layer_slices[a.layer]
        g = cell_geometry(det)
        x, y = g.x[cols], g.y[cols]
        if len(x) < 3:
            raise ValueError(f"--layer {a.layer}: {len(x)} cells, fewer than the 3 needed")
        out_cols = None
        if a.outside:
            parts = a.outside.split(",")
            if len(parts) != 2:
                raise ValueError(f"--outside {a.outside!r}: expected X0,X1 in mm")
            x0, x1 = float(parts[0]), float(parts[1])
            if not x0 < x1:
                raise ValueError(f"--outside {a.outside!r}: X0 must be below X1")
            out_cols = np.flatnonzero((x < x0) | (x >= x1))
            if len(out_cols) < 2:
                raise ValueError(f"--outside {a.outside!r}: {len(out_cols)} cells lie outside")
        paths = [a.reference, *a.candidates]
        names = ["reference"] + [
            f"{c.name} ({i})" if [d.name for d in a.candidates].count(c.name) > 1 else c.name
            for i, c in enumerate(a.candidates, 1)
        ]
        files = [ref] + [ShowerFile(c, det) for c in a.candidates]
        n = min(len(f) for f in files) if a.n is None else min(a.n, *(len(f) for f in files))
        ref_e = ref.conditions(0, n).energy
        samples = {}
        for name, path, f in zip(names, paths, files, strict=True):
            e = f.conditions(0, n).energy
            if not np.allclose(e, ref_e, rtol=1e-5):
                raise ValueError(
                    f"{path}: its incident energies are not the reference's, row by row"
                )
            samples[name] = (f.showers(0, n)[:, cols].astype(np.float64), e)
    except (ShowerFileError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    order = by_distance(x, y)
    nearest = order[:, 0]
    core = int(np.argmax(samples["reference"][0].mean(axis=0)))
    neighbours = order[core, :2]
    out_nearest = None if out_cols is None else by_distance(x[out_cols], y[out_cols])[:, 0]
    log_e = np.log(samples["reference"][1])
    edges = np.quantile(log_e, [0.0, 0.25, 0.5, 0.75, 1.0])
    print(
        f"{det.name}, readout layer {a.layer} ({len(x)} cells; core cell {core} at "
        f"x = {x[core]:.1f}, y = {y[core]:.1f} mm, its nearest {neighbours.tolist()})"
    )
    head = "| energy (GeV) | sample | hits (mean, sd) | next to a hit | core rho |"
    if out_cols is not None:
        head += f" hits outside {a.outside} mm (mean, sd) | next to a hit |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for k, (lo, hi) in enumerate(itertools.pairwise(edges)):
        for name, (s, e) in samples.items():
            sel = np.searchsorted(edges[1:-1], np.log(e), side="right") == k
            cells = s[sel]
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
