"""Drawings of a detector: the layer stack and each readout layer's cells (matplotlib)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from caloforge._optional import require
from caloforge.geometry.detector import Detector


def draw_layer_cells(
    ax: Any,
    det: Detector,
    layer: int,
    values: NDArray[np.floating] | None = None,
    *,
    log: bool = True,
) -> Any:
    """Draw readout layer ``layer``'s cells on ``ax``, filled with ``values`` if given.

    Works for every segmentation (cells are drawn as polygons). Returns the collection.
    """
    mpl_collections = require("matplotlib.collections")
    colors = require("matplotlib.colors")
    seg = det.readout[layer].segmentation
    polys = seg.cell_polygons()
    if values is None:
        coll = mpl_collections.PolyCollection(
            polys, facecolors="none", edgecolors="0.3", linewidths=0.3
        )
    else:
        v = np.asarray(values, dtype=np.float64)
        positive = v[v > 0]
        norm = (
            colors.LogNorm(vmin=max(positive.min(), positive.max() * 1e-5), vmax=positive.max())
            if log and positive.size
            else None
        )
        coll = mpl_collections.PolyCollection(
            polys,
            array=np.where(v > 0, v, np.nan) if log else v,
            norm=norm,
            cmap="viridis",
            edgecolors="none",
        )
    ax.add_collection(coll)
    hx, hy = seg.extent
    ax.set_xlim(-hx, hx)
    ax.set_ylim(-hy, hy)
    ax.set_aspect("equal")
    ax.set_xlabel("x [mm]")
    ax.set_ylabel("y [mm]")
    return coll


def draw_detector(det: Detector, path: str | Path, *, max_layers: int = 6) -> Path:
    """Save a drawing of the stack (side view, in X0) and of the distinct readout layers."""
    require("matplotlib").use("Agg")
    plt = require("matplotlib.pyplot")
    distinct: list[int] = []
    for i, r in enumerate(det.readout):
        if not distinct or r.segmentation != det.readout[distinct[-1]].segmentation:
            distinct.append(i)
    distinct = distinct[:max_layers]
    fig, axes = plt.subplots(1, 1 + len(distinct), figsize=(4 * (1 + len(distinct)), 4))
    ax = axes[0]
    z = 0.0
    colours: dict[str, str] = {}
    for la in det.layers:
        for mat, t in la.materials():
            c = colours.setdefault(mat.name, f"C{len(colours)}")
            ax.axvspan(z, z + t, color=c, lw=0)
            z += t
    for r in det.readout:
        ax.axvline(det.layer_z[r.first, 0], color="k", lw=0.4)
    ax.set_xlim(0, det.depth)
    ax.set_yticks([])
    ax.set_xlabel("z [mm]")
    ax.set_title(f"{det.name}: {det.depth_x0:.1f} X0, {det.depth_lambda:.2f} λI")
    ax.legend(
        handles=[plt.Rectangle((0, 0), 1, 1, color=c) for c in colours.values()],
        labels=list(colours),
        loc="upper right",
        fontsize=8,
    )
    for ax, i in zip(axes[1:], distinct, strict=True):
        draw_layer_cells(ax, det, i)
        r = det.readout[i]
        ax.set_title(
            f"readout layer {i} (sampling {r.first}-{r.last}): {r.segmentation.n_cells} cells",
            fontsize=9,
        )
    fig.tight_layout()
    return save_to(fig, path)


def save_to(fig: Any, path: str | Path, dpi: int = 110) -> Path:
    """Save ``fig`` atomically to ``path`` (its folder created) in the format of its
    suffix; close it."""
    from caloforge.files import write_figure

    try:
        return write_figure(fig, path, dpi=dpi)
    finally:
        require("matplotlib.pyplot").close(fig)
