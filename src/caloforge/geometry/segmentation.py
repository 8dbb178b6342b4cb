"""Readout segmentations of one readout layer: which cell a transverse position falls in.

All positions are in mm in the plane transverse to the detector axis (z). Cartesian and
hexagonal grids are fixed in the detector frame and centred on the axis; cylindrical
meshes are centred on the incident particle's axis (as in the Fast Calorimeter
Simulation Challenge datasets 2 and 3), so :meth:`cell_index` takes the axis position.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

SQRT3 = math.sqrt(3.0)


@dataclass(frozen=True)
class CartesianSegmentation:
    """``nx`` x ``ny`` rectangular cells of ``cell_x`` x ``cell_y`` mm, centred on the axis.

    Cell index ``ix * ny + iy`` (x-major); ``ix`` runs along x from ``-nx*cell_x/2``.
    """

    nx: int
    ny: int
    cell_x: float
    cell_y: float
    kind: Literal["cartesian"] = "cartesian"

    @property
    def n_cells(self) -> int:
        return self.nx * self.ny

    @property
    def extent(self) -> tuple[float, float]:
        """Half-widths (x, y) of the segmented area, mm."""
        return self.nx * self.cell_x / 2, self.ny * self.cell_y / 2

    def cell_index(
        self, x: ArrayLike, y: ArrayLike, axis: ArrayLike = (0.0, 0.0)
    ) -> NDArray[np.int64]:
        """Cell index of each position, -1 outside the grid (``axis`` is ignored)."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        hx, hy = self.extent
        ix = np.floor((x + hx) / self.cell_x).astype(np.int64)
        iy = np.floor((y + hy) / self.cell_y).astype(np.int64)
        inside = (ix >= 0) & (ix < self.nx) & (iy >= 0) & (iy < self.ny)
        return np.where(inside, ix * self.ny + iy, -1)

    def cell_centres(self) -> NDArray[np.float64]:
        """(n_cells, 2) cell centres (x, y), mm, in index order."""
        hx, hy = self.extent
        cx = -hx + (np.arange(self.nx) + 0.5) * self.cell_x
        cy = -hy + (np.arange(self.ny) + 0.5) * self.cell_y
        gx, gy = np.meshgrid(cx, cy, indexing="ij")
        return np.stack([gx.ravel(), gy.ravel()], axis=1)

    def cell_areas(self) -> NDArray[np.float64]:
        return np.full(self.n_cells, self.cell_x * self.cell_y)

    def cell_polygons(self) -> NDArray[np.float64]:
        """(n_cells, 4, 2) corners of each cell, mm (for drawing)."""
        c = self.cell_centres()
        dx, dy = self.cell_x / 2, self.cell_y / 2
        offsets = np.array([[-dx, -dy], [dx, -dy], [dx, dy], [-dx, dy]])
        return c[:, None, :] + offsets[None]


@dataclass(frozen=True)
class CylindricalSegmentation:
    """``n_alpha`` angular x radial bins with edges ``r_edges`` (mm), centred on the axis.

    Cell index ``i_alpha * n_r + i_r`` so that a layer reshapes to ``(n_alpha, n_r)``;
    alpha = atan2(y, x) in [0, 2 pi), bin 0 starting at alpha = 0.
    """

    n_alpha: int
    r_edges: tuple[float, ...]
    kind: Literal["cylindrical"] = "cylindrical"

    @property
    def n_r(self) -> int:
        return len(self.r_edges) - 1

    @property
    def n_cells(self) -> int:
        return self.n_alpha * self.n_r

    @property
    def extent(self) -> tuple[float, float]:
        return self.r_edges[-1], self.r_edges[-1]

    def cell_index(
        self, x: ArrayLike, y: ArrayLike, axis: ArrayLike = (0.0, 0.0)
    ) -> NDArray[np.int64]:
        """Cell index of each position relative to the particle axis ``axis``, -1 outside."""
        ax = np.asarray(axis, dtype=np.float64)
        dx = np.asarray(x, dtype=np.float64) - ax[..., 0]
        dy = np.asarray(y, dtype=np.float64) - ax[..., 1]
        r = np.hypot(dx, dy)
        alpha = np.mod(np.arctan2(dy, dx), 2 * np.pi)
        ir = np.searchsorted(np.asarray(self.r_edges), r, side="right") - 1
        ia = np.minimum((alpha / (2 * np.pi) * self.n_alpha).astype(np.int64), self.n_alpha - 1)
        inside = (ir >= 0) & (ir < self.n_r)
        return np.where(inside, ia * self.n_r + ir, -1)

    def cell_centres(self) -> NDArray[np.float64]:
        """(n_cells, 2) centres (x, y) of each bin, at its mid radius and mid angle."""
        edges = np.asarray(self.r_edges)
        r_mid = 0.5 * (edges[1:] + edges[:-1])
        a_mid = (np.arange(self.n_alpha) + 0.5) * 2 * np.pi / self.n_alpha
        ga, gr = np.meshgrid(a_mid, r_mid, indexing="ij")
        return np.stack([(gr * np.cos(ga)).ravel(), (gr * np.sin(ga)).ravel()], axis=1)

    def cell_radii(self) -> NDArray[np.float64]:
        """Mid radius of each cell, mm."""
        edges = np.asarray(self.r_edges)
        return np.tile(0.5 * (edges[1:] + edges[:-1]), self.n_alpha)

    def cell_areas(self) -> NDArray[np.float64]:
        edges = np.asarray(self.r_edges)
        ring = np.pi * (edges[1:] ** 2 - edges[:-1] ** 2) / self.n_alpha
        return np.tile(ring, self.n_alpha)

    def cell_polygons(self, n_arc: int = 8) -> NDArray[np.float64]:
        """(n_cells, 2 n_arc, 2) outlines of the annular sectors, mm (for drawing)."""
        edges = np.asarray(self.r_edges)
        width = 2 * np.pi / self.n_alpha
        polys = []
        for ia in range(self.n_alpha):
            arc = np.linspace(ia * width, (ia + 1) * width, n_arc)
            for ir in range(self.n_r):
                outer = edges[ir + 1] * np.stack([np.cos(arc), np.sin(arc)], axis=1)
                inner = edges[ir] * np.stack([np.cos(arc[::-1]), np.sin(arc[::-1])], axis=1)
                polys.append(np.concatenate([outer, inner]))
        return np.asarray(polys)


@dataclass(frozen=True)
class HexagonalSegmentation:
    """Flat-topped hexagons of side ``side`` mm on an ``n_cols`` x ``n_rows`` offset grid.

    Columns are ``1.5 side`` apart along x, rows ``sqrt(3) side`` apart along y, odd columns
    shifted by half a row; the grid is centred on the axis. Cell index ``col * n_rows + row``.
    """

    n_cols: int
    n_rows: int
    side: float
    kind: Literal["hexagonal"] = "hexagonal"

    @property
    def n_cells(self) -> int:
        return self.n_cols * self.n_rows

    @property
    def extent(self) -> tuple[float, float]:
        hx = (1.5 * (self.n_cols - 1) + 2.0) * self.side / 2
        hy = SQRT3 * self.side * (self.n_rows + (0.5 if self.n_cols > 1 else 0.0)) / 2
        return hx, hy

    def _raw_centres(self) -> NDArray[np.float64]:
        col = np.repeat(np.arange(self.n_cols), self.n_rows)
        row = np.tile(np.arange(self.n_rows), self.n_cols)
        x = 1.5 * self.side * col
        y = SQRT3 * self.side * (row + 0.5 * (col % 2))
        return np.stack([x, y], axis=1)

    def cell_centres(self) -> NDArray[np.float64]:
        raw = self._raw_centres()
        lo, hi = raw.min(axis=0), raw.max(axis=0)
        return raw - 0.5 * (lo + hi)

    def cell_index(
        self, x: ArrayLike, y: ArrayLike, axis: ArrayLike = (0.0, 0.0)
    ) -> NDArray[np.int64]:
        """Cell index of each position, -1 outside every hexagon (``axis`` is ignored)."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        centres = self.cell_centres()
        shape = np.broadcast(x, y).shape
        px = np.broadcast_to(x, shape).ravel()
        py = np.broadcast_to(y, shape).ravel()
        out = np.empty(px.shape, dtype=np.int64)
        for start in range(0, px.size, 65536):  # bounded memory: (chunk, n_cells) distances
            sx, sy = px[start : start + 65536], py[start : start + 65536]
            d2 = (sx[:, None] - centres[None, :, 0]) ** 2 + (sy[:, None] - centres[None, :, 1]) ** 2
            best = np.argmin(d2, axis=1)
            dx = np.abs(sx - centres[best, 0])
            dy = np.abs(sy - centres[best, 1])
            inside = (dy <= SQRT3 / 2 * self.side + 1e-9) & (
                SQRT3 * dx + dy <= SQRT3 * self.side + 1e-9
            )
            out[start : start + 65536] = np.where(inside, best, -1)
        return out.reshape(shape)

    def cell_areas(self) -> NDArray[np.float64]:
        return np.full(self.n_cells, 1.5 * SQRT3 * self.side**2)

    def cell_polygons(self) -> NDArray[np.float64]:
        """(n_cells, 6, 2) corners of each hexagon, mm (for drawing)."""
        angles = np.arange(6) * np.pi / 3
        corners = self.side * np.stack([np.cos(angles), np.sin(angles)], axis=1)
        return self.cell_centres()[:, None, :] + corners[None]


Segmentation = CartesianSegmentation | CylindricalSegmentation | HexagonalSegmentation
