"""Clustered hits for the quantile calibration: the ranks of the cells the model leaves
empty drawn from a Gaussian random field over each readout layer, so that the hits the
calibration adds lie next to each other as Geant4's do.

The calibration (:mod:`~caloforge.postprocess.calibration`) gives a cell the model left
empty a rank inside the model's zero fraction; a rank above the data's zero fraction
makes the cell a hit. With one independent uniform number per cell those added hits are
scattered: in the strip layer of ``atlas-pblar`` they sit next to another hit in 1-11 %
of the cases against 17-28 % in Geant4, where a low-energy particle leaving the shower
deposits in neighbouring strips. Here the rank of cell ``v`` is ``Phi(z_v)`` with

    z_v = (m_l * f_v + c_l * e_v) / sqrt(1 + 2 m_l c_l w_vv),    f_v = sum_k w_vk e_k,
    c_l = sqrt(1 - m_l**2),

``e`` one standard normal number per cell, ``w`` a Gaussian kernel of the distance between
cells inside the layer (between cell centres in mm on Cartesian and hexagonal layers, in
cells and periodic in angle on cylindrical ones; its width the layer's cell pitch, the
median distance of a cell to its nearest neighbour; the ``neighbours`` nearest cells, the
cell itself included; normalised to ``sum_k w_vk**2 = 1``), and ``m_l`` the mixing of
layer ``l``: ``z = K e`` with the mixed kernel ``K`` of :func:`mixed_weights`, a gather
per neighbour (:func:`field_ranks`). Every ``z_v`` is standard normal and independent of the
model's showers, so every cell's rank stays uniform and its hit rate the data's exactly;
only how the added hits lie together changes.

The mixing of each layer is fitted (:func:`fit_mixing`): on the calibration's own fit
samples (the first :func:`fit_showers` of them), the one value of :data:`MIXING_GRID`
whose calibrated showers have the training showers' fraction of hits next to another hit
of the layer (cells within 1.5 pitches).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from caloforge.geometry import Detector
from caloforge.geometry.segmentation import CylindricalSegmentation

NEIGHBOURS = 13
"""Cells of the kernel of each cell, itself included: a strip and six on either side, or
a square cell, its eight neighbours and the four two cells away."""

MIXING_GRID = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
"""The mixings tried per layer."""

FIT_CELLS = 20_000_000
"""The mixing is fitted on at most this many cells of showers (each value of
:data:`MIXING_GRID` calibrates them once): the fraction of hits next to a hit, pooled
over a layer, needs no more."""

_ADJACENT = 1.5
"""Cells closer than this many pitches are neighbours for the hit clustering."""


def neighbour_kernel(
    det: Detector, neighbours: int = NEIGHBOURS
) -> tuple[NDArray[np.int64], NDArray[np.float32], NDArray[np.bool_]]:
    """For every voxel the ``neighbours`` nearest cells of its readout layer (itself first),
    their kernel weights and whether each is adjacent (within 1.5 pitches, itself not).
    A layer of fewer cells fills its rows with the cell itself at weight 0.

    Returns:
        index (V, M), weight (V, M) with ``sum(weight**2) = 1`` per row, adjacent (V, M);
        ``M = min(neighbours, the largest layer's cell count)``.
    """
    from scipy.spatial import cKDTree

    from caloforge.evaluate.observables import cell_geometry

    if neighbours < 1:
        raise ValueError(f"neighbours must be >= 1, got {neighbours}")
    geo = cell_geometry(det)
    offsets = geo.offsets
    m = min(neighbours, int(np.diff(offsets).max()))
    index = np.repeat(np.arange(det.n_voxels, dtype=np.int64)[:, None], m, axis=1)
    weight = np.zeros((det.n_voxels, m), dtype=np.float32)
    adjacent = np.zeros((det.n_voxels, m), dtype=bool)
    for layer, (a, b) in enumerate(itertools.pairwise(offsets)):
        seg = det.readout[layer].segmentation
        if isinstance(seg, CylindricalSegmentation):
            # in cell units, periodic in angle: radial and angular neighbours alike
            i_alpha, i_r = np.divmod(np.arange(b - a), seg.n_r)
            points = np.stack([i_r, i_alpha], axis=1).astype(np.float64)
            tree = cKDTree(points, boxsize=[4.0 * seg.n_r, float(seg.n_alpha)])
        else:
            points = np.stack([geo.x[a:b], geo.y[a:b]], axis=1)
            tree = cKDTree(points)
        k = min(m, b - a)
        near, order = tree.query(points, k=k)
        near, order = near.reshape(b - a, k), order.reshape(b - a, k)
        # the cell itself first: where cells share a centre the tree may give another
        # first; swap the cell's own column to the front (the distances are both 0)
        for row in np.flatnonzero(order[:, 0] != np.arange(b - a)):
            col = np.flatnonzero(order[row] == row)
            if len(col) == 0:  # more than k cells at one place
                raise ValueError(
                    f"{det.name}: more than {k} cells of readout layer {layer} share a centre"
                )
            order[row, [0, col[0]]] = order[row, [col[0], 0]]
        pitch = max(float(np.median(near[:, 1])) if k > 1 else 1.0, 1e-9)
        w = np.exp(-0.5 * (near / pitch) ** 2)
        index[a:b, :k] = order + a
        weight[a:b, :k] = w / np.sqrt((w**2).sum(axis=1, keepdims=True))
        adjacent[a:b, :k] = (near <= _ADJACENT * pitch) & (np.arange(k) > 0)
    return index, weight, adjacent


def mixed_weights(weight: NDArray[np.floating], mixing: NDArray[np.floating]) -> NDArray:
    """The kernel of the ranks, ``(m w + c delta) / sqrt(1 + 2 m c w_self)``, from the
    neighbour kernel ``weight`` (V, M; column 0 the cell itself, ``sum w**2 = 1`` per row)
    and the mixing ``m`` of every voxel (V,), ``c = sqrt(1 - m**2)``: each row keeps
    ``sum w**2 = 1``, so that every rank stays uniform."""
    m = np.asarray(mixing, dtype=np.float64)[:, None]
    c = np.sqrt(1.0 - m**2)
    out = m * np.asarray(weight, dtype=np.float64)
    out[:, :1] += c
    return (out / np.sqrt(1.0 + 2.0 * m * c * weight[:, :1])).astype(np.float32)


def field_ranks(normal: Tensor, index: Tensor, weight: Tensor) -> Tensor:
    """(B, V) uniform ranks ``Phi(z)``, ``z_v = sum_k weight_kv normal_{index_kv}``, from
    (B, V) standard normal numbers and the mixed kernel stored one row per neighbour
    (``index``, ``weight``: (M, V), the transpose of :func:`neighbour_kernel`'s, weights of
    :func:`mixed_weights`); traceable. Summed neighbour by neighbour: a (B, V) gather each,
    never a (B, V, M) array."""
    z = torch.index_select(normal, 1, index[0]) * weight[0]
    for k in range(1, index.shape[0]):
        z = torch.addcmul(z, torch.index_select(normal, 1, index[k]), weight[k])
    return normal_cdf(z)


def normal_cdf(normal: Tensor) -> Tensor:
    """``Phi``: standard normal numbers -> uniform ones (traceable)."""
    return 0.5 * (1.0 + torch.erf(normal / math.sqrt(2.0)))


def hit_adjacency(
    showers: NDArray[np.floating],
    index: NDArray[np.int64],
    adjacent: NDArray[np.bool_],
    layer_of_voxel: NDArray[np.integer],
    chunk: int = 1024,
) -> NDArray[np.float64]:
    """Per readout layer, the fraction of hits (cells above zero) with a hit among their
    adjacent cells (NaN for a layer without hits)."""
    n_layers = int(layer_of_voxel.max()) + 1
    hits = np.zeros(n_layers)
    paired = np.zeros(n_layers)
    for start in range(0, len(showers), chunk):
        h = np.asarray(showers[start : start + chunk]) > 0
        near = (h[:, index] & adjacent).any(-1) & h
        hits += np.bincount(layer_of_voxel, h.sum(0), minlength=n_layers)
        paired += np.bincount(layer_of_voxel, near.sum(0), minlength=n_layers)
    with np.errstate(invalid="ignore", divide="ignore"):
        return paired / hits


def fit_showers(n_voxels: int) -> int:
    """Showers the mixing is fitted on, at most: :data:`FIT_CELLS` cells, and never fewer
    than 500 showers (20,000 of a 504-voxel detector, 3,086 of a 6,480-voxel one, 500 of
    a 40,500-voxel one)."""
    return max(500, FIT_CELLS // max(n_voxels, 1))


def fit_mixing(
    calibrated: Callable[[float], NDArray[np.floating]],
    data_showers: NDArray[np.floating],
    index: NDArray[np.int64],
    adjacent: NDArray[np.bool_],
    layer_of_voxel: NDArray[np.integer],
    grid: Sequence[float] = MIXING_GRID,
) -> tuple[NDArray[np.float64], dict[str, list[float]]]:
    """The mixing of every layer: of ``grid`` (its first value 0, the independent ranks,
    also taken for a layer without hits), the value whose calibrated showers
    (``calibrated(m)``: the fit samples calibrated with mixing ``m`` in every layer) come
    nearest the data's hit adjacency in that layer.

    Returns:
        (L,) mixings, and the record: the data's adjacency and the calibrated showers' at
        the mixing chosen, per layer.
    """
    if not grid or grid[0] != 0.0 or not all(0.0 <= m < 1.0 for m in grid):
        raise ValueError(f"the mixing grid must start at 0 and stay in [0, 1), got {grid}")
    target = hit_adjacency(data_showers, index, adjacent, layer_of_voxel)
    tried = np.stack([hit_adjacency(calibrated(m), index, adjacent, layer_of_voxel) for m in grid])
    miss = np.abs(tried - target[None, :])
    best = np.argmin(np.where(np.isfinite(miss), miss, np.inf), axis=0)
    best = np.where(np.isfinite(miss).any(0), best, 0)  # a layer without hits: no field
    layers = np.arange(len(target))
    record = {
        "mixing": [float(grid[i]) for i in best],
        "adjacency_data": [round(float(v), 4) for v in target],
        "adjacency_calibrated": [round(float(v), 4) for v in tried[best, layers]],
        "adjacency_independent": [round(float(v), 4) for v in tried[0]],
    }
    return np.asarray([grid[i] for i in best], dtype=np.float64), record


__all__ = [
    "FIT_CELLS",
    "MIXING_GRID",
    "NEIGHBOURS",
    "field_ranks",
    "fit_mixing",
    "fit_showers",
    "hit_adjacency",
    "mixed_weights",
    "neighbour_kernel",
    "normal_cdf",
]
