"""Plots of shower samples (matplotlib, imported lazily)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from caloforge._optional import require
from caloforge.geometry import Detector
from caloforge.geometry.draw import draw_layer_cells


def plot_average_shower(
    showers: NDArray[np.floating], det: Detector, path: str | Path, *, title: str = ""
) -> Path:
    """Save the average shower of a sample, one panel per readout layer (up to 12 layers)."""
    require("matplotlib").use("Agg")
    plt = require("matplotlib.pyplot")
    mean = np.asarray(showers, dtype=np.float64).mean(axis=0)
    layers = np.unique(np.linspace(0, det.n_layers - 1, min(det.n_layers, 12)).round().astype(int))
    ncol = min(4, len(layers))
    nrow = -(-len(layers) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.6 * ncol, 3.3 * nrow), squeeze=False)
    for ax, i in zip(axes.ravel(), layers, strict=False):
        coll = draw_layer_cells(ax, det, int(i), mean[det.layer_slices[i]])
        fig.colorbar(coll, ax=ax, label="mean energy [MeV]", fraction=0.046)
        ax.set_title(f"layer {i}: {mean[det.layer_slices[i]].sum():.1f} MeV", fontsize=9)
    for ax in axes.ravel()[len(layers) :]:
        ax.axis("off")
    fig.suptitle(title or f"{det.name}: average of {len(showers)} showers")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
