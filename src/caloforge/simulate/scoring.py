"""The fine scoring grid in the active gaps and its mapping to readout voxels (numpy only).

Geant4 scores the visible energy on one Cartesian grid of ``nx x ny`` cells per active
gap (a replica of cells in every gap, read from the hits map once per event; or, in the
``steps`` mode, the steps' points binned into the same cells by :class:`StepBinner`); the
fine cells are then summed into the detector's readout voxels here. A fine cell is given
to the readout cell that contains its centre, so the fine pitch must be small against the
readout cells (exact for Cartesian readouts aligned with the grid).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from caloforge.geometry import CartesianSegmentation, CylindricalSegmentation, Detector

logger = logging.getLogger(__name__)

MAX_PITCH = 5.0
"""Largest automatic fine pitch, mm."""


@dataclass(frozen=True)
class FineGrid:
    """``nx`` x ``ny`` cells over the detector's transverse size, in every active gap."""

    nx: int
    ny: int
    pitch_x: float
    pitch_y: float
    n_gaps: int

    @property
    def n_cells(self) -> int:
        return self.n_gaps * self.nx * self.ny

    def centres(
        self, flat: NDArray[np.int64]
    ) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
        """(gap, x, y) of fine cells given their flat index ``gap*nx*ny + ix*ny + iy``."""
        gap, rest = np.divmod(flat, self.nx * self.ny)
        ix, iy = np.divmod(rest, self.ny)
        x = (ix + 0.5) * self.pitch_x - self.nx * self.pitch_x / 2
        y = (iy + 0.5) * self.pitch_y - self.ny * self.pitch_y / 2
        return gap, x, y

    def index(
        self, gap: NDArray[np.int64], x: NDArray[np.float64], y: NDArray[np.float64]
    ) -> NDArray[np.int64]:
        """Flat index ``gap*nx*ny + ix*ny + iy`` of the fine cells holding the points
        ``(x, y)`` (mm) of the gaps ``gap``: the cells a replica of the grid puts them in
        (copy ``ix`` of ``nx`` slabs of ``pitch_x`` from ``-nx*pitch_x/2``, then ``iy``
        alike); points beyond an edge go to the edge cell. The inverse of :meth:`centres`."""
        ix = np.clip(np.floor(x / self.pitch_x + self.nx / 2).astype(np.int64), 0, self.nx - 1)
        iy = np.clip(np.floor(y / self.pitch_y + self.ny / 2).astype(np.int64), 0, self.ny - 1)
        return (gap * self.nx + ix) * self.ny + iy


def _aligned(value: float, pitch: float) -> bool:
    q = value / pitch
    return abs(q - round(q)) < 1e-6


def choose_pitch(det: Detector, override: float | None = None) -> float:
    """Fine pitch (mm): ``override``, the detector's setting, or automatic.

    Automatic: for Cartesian readouts, the largest pitch <= 5 mm that divides every cell
    size and aligns with every cell edge; for other segmentations, 1/10 of the smallest
    cell dimension (at most 1 mm).
    """
    if override is not None:
        return float(override)
    if det.physics.scoring_pitch is not None:
        return float(det.physics.scoring_pitch)
    segs = [r.segmentation for r in det.readout]
    if all(isinstance(s, CartesianSegmentation) for s in segs):
        sizes = [v for s in segs for v in (s.cell_x, s.cell_y)]  # type: ignore[union-attr]
        # offsets of the readout grids from the fine grid's origin at -size/2
        half = (det.size_x / 2, det.size_y / 2)
        edges = [h - e for s in segs for h, e in zip(half, s.extent, strict=True)]
        smallest = min(sizes)
        for k in range(1, 201):
            pitch = smallest / k
            if pitch <= MAX_PITCH and all(_aligned(v, pitch) for v in sizes + edges):
                return pitch
        return min(1.0, smallest / 10)
    dims: list[float] = []
    for s in segs:
        if isinstance(s, CylindricalSegmentation):
            dims.append(float(np.min(np.diff(s.r_edges))))
        else:
            dims.append(float(getattr(s, "side", 1.0)))
    return min(1.0, min(dims) / 10)


def make_grid(det: Detector, pitch: float) -> FineGrid:
    """The fine grid covering ``det.size_x x det.size_y`` with (about) ``pitch``."""
    nx = max(1, round(det.size_x / pitch))
    ny = max(1, round(det.size_y / pitch))
    px, py = det.size_x / nx, det.size_y / ny
    if not (math.isclose(px, pitch, rel_tol=1e-6) and math.isclose(py, pitch, rel_tol=1e-6)):
        logger.warning("fine pitch adjusted to %.4g x %.4g mm to tile the detector", px, py)
    if nx * ny * len(det.layers) >= 2**31:
        raise ValueError(
            f"scoring_pitch={pitch!r} mm gives too many fine cells; use a larger pitch"
        )
    return FineGrid(nx, ny, px, py, len(det.layers))


class StepBinner:
    """Bins energy deposits at points into the fine cells (the ``steps`` scoring mode).

    A point belongs to the active gap of the sampling layer whose extent, from the middle
    of its absorber (its front face without one) to the middle of the next layer's
    absorber, holds its z; within the gap, to the cell :meth:`FineGrid.index` gives. A
    point inside a gap thus lands in the cell that holds it in the ``replica`` geometry,
    also where rounding puts it a hair beyond the gap's faces.
    """

    def __init__(self, det: Detector, grid: FineGrid) -> None:
        self.grid = grid
        self.bounds = det.layer_z.mean(axis=1)[1:]  # between layer l-1 and layer l

    def cells(
        self, energy: NDArray[np.float64], points: NDArray[np.float64]
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """(fine cells, energy per cell) of the deposits ``energy`` (n,) at ``points``
        (n, 3), mm: each cell once, in increasing order, as a hits map gives them."""
        gap = np.searchsorted(self.bounds, points[:, 2], side="right").astype(np.int64)
        flat = self.grid.index(gap, points[:, 0], points[:, 1])
        cells, inverse = np.unique(flat, return_inverse=True)
        summed = np.bincount(inverse, weights=energy, minlength=len(cells))
        return cells, summed.astype(np.float64, copy=False)  # (float64 already: for the stubs)


class VoxelMapper:
    """Sums fine-cell energies into readout voxels.

    Readouts fixed in the detector frame (Cartesian, hexagonal) use a map computed once;
    meshes centred on the particle (cylindrical) are mapped per event with the particle's
    axis in each gap (straight line from the impact point along the direction).
    """

    def __init__(self, det: Detector, grid: FineGrid) -> None:
        self.det = det
        self.grid = grid
        self.fixed = not any(
            isinstance(r.segmentation, CylindricalSegmentation) for r in det.readout
        )
        self.gap_z = det.layer_z[:, 1] + np.array([la.active_thickness for la in det.layers]) / 2
        self._map: NDArray[np.int32] | None = None
        if self.fixed:
            self._map = self._fixed_map()

    def _fixed_map(self) -> NDArray[np.int32]:
        g = self.grid
        per_gap = np.arange(g.nx * g.ny, dtype=np.int64)
        _, x, y = g.centres(per_gap)
        out = np.full(g.n_cells, -1, dtype=np.int32)
        for r in self.det.readout:
            local = self.det.voxel_index(r.first, x, y)
            for layer in range(r.first, r.last + 1):
                out[layer * g.nx * g.ny : (layer + 1) * g.nx * g.ny] = local
        return out

    def voxels(
        self,
        cells: NDArray[np.int64],
        energy: NDArray[np.float64],
        impact: NDArray[np.float64],
        direction: NDArray[np.float64],
    ) -> NDArray[np.float32]:
        """Readout-voxel energies (n_voxels,) of one event from its fine-cell hits."""
        n_vox = self.det.n_voxels
        if len(cells) == 0:
            return np.zeros(n_vox, dtype=np.float32)
        if self._map is not None:
            vox = self._map[cells].astype(np.int64)
        else:
            gap, x, y = self.grid.centres(cells)
            vox = np.full(len(cells), -1, dtype=np.int64)
            slope = direction[:2] / direction[2]
            for layer in np.unique(gap):
                sel = gap == layer
                axis = impact[:2] + slope * self.gap_z[layer]
                vox[sel] = self.det.voxel_index(int(layer), x[sel], y[sel], axis)
        keep = vox >= 0
        return np.bincount(vox[keep], weights=energy[keep], minlength=n_vox).astype(np.float32)
