"""Patches of a detector's readout: the tokens of a geometry-aware network.

Each readout layer is a 2D grid of cells, ``(a, b)`` in its segmentation's order (cell
index ``a * n_b + b``): cartesian ``(nx, ny)``, cylindrical ``(n_alpha, n_r)`` (``a`` is
the angle: periodic), hexagonal ``(n_cols, n_rows)``. A patch ``(pl, pa, pb)`` groups
``pl`` consecutive readout layers (which must share one grid) and ``pa x pb`` cells of
their grid; every layer's grid is cut into ``(n_a / pa) x (n_b / pb)`` patches of its own,
so layers of different cell counts (``atlas-pblar``: 3 x 96, 12 x 12, 12 x 6) give
different numbers of tokens, all of ``pl * pa * pb`` voxels. The patches tile the voxels
exactly: :attr:`PatchLayout.gather` is a permutation of the flattened voxel index.

:func:`patch_layout` checks an explicit patch against the layout (a :class:`PatchError`
names the key, the patch and the detector's grid) or, without one, chooses the smallest
patches that bring the token count to at most ``max_tokens``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from caloforge.geometry import Detector


class PatchError(ValueError):
    """A patch the detector's readout cannot be cut into (one line: key, patch, layout)."""


@dataclass(frozen=True)
class LayerGrid:
    """One readout layer as a grid: ``n_a x n_b`` cells, ``periodic`` along ``a``."""

    n_a: int
    n_b: int
    periodic: bool
    kind: str


def layer_grids(detector: Detector) -> tuple[LayerGrid, ...]:
    """The grid of each readout layer, in order."""
    grids = []
    for r in detector.readout:
        seg = r.segmentation
        if seg.kind == "cartesian":
            grids.append(LayerGrid(seg.nx, seg.ny, False, "cartesian"))
        elif seg.kind == "cylindrical":
            grids.append(LayerGrid(seg.n_alpha, seg.n_r, True, "cylindrical"))
        elif seg.kind == "hexagonal":
            grids.append(LayerGrid(seg.n_cols, seg.n_rows, False, "hexagonal"))
        else:  # pragma: no cover - the loader knows three segmentations
            raise PatchError(f"segmentation {seg.kind!r} has no grid")
    return tuple(grids)


def describe_grids(detector: Detector) -> str:
    """The readout layout in words: ``45 layers of 16 x 9 cylindrical cells``, ..."""
    runs: list[list] = []
    for g in layer_grids(detector):
        if runs and runs[-1][0] == g:
            runs[-1][1] += 1
        else:
            runs.append([g, 1])
    parts = [
        f"{n} layer{'s' if n > 1 else ''} of {g.n_a} x {g.n_b} {g.kind} cells" for g, n in runs
    ]
    return f"{detector.name} ({', '.join(parts)})"


@dataclass(frozen=True)
class PatchLayout:
    """Tokens of a detector for a patch ``(pl, pa, pb)``.

    Attributes:
        patch: the patch (layers, cells along a, cells along b).
        gather: (T, pl * pa * pb) flattened voxel index of each token's voxels.
        group / pos_a / pos_b: (T,) layer group, patch index along a and along b.
        n_groups: layer groups (``n_layers / pl``).
        count_a / count_b: (T,) patches along a / b in the token's layer group.
        periodic: (T,) the token's a axis is an angle.
    """

    patch: tuple[int, int, int]
    gather: NDArray[np.int64]
    group: NDArray[np.int64]
    pos_a: NDArray[np.int64]
    pos_b: NDArray[np.int64]
    count_a: NDArray[np.int64]
    count_b: NDArray[np.int64]
    periodic: NDArray[np.bool_]
    n_groups: int

    @property
    def n_tokens(self) -> int:
        return len(self.gather)

    @property
    def patch_size(self) -> int:
        return math.prod(self.patch)


def _valid_layer_groups(grids: tuple[LayerGrid, ...], pl: int) -> bool:
    if pl < 1 or len(grids) % pl:
        return False
    return all(len(set(grids[i : i + pl])) == 1 for i in range(0, len(grids), pl))


def _divides_all(p: int, sizes: list[int]) -> bool:
    return p >= 1 and all(n % p == 0 for n in sizes)


def _tokens(grids: tuple[LayerGrid, ...], patch: tuple[int, int, int]) -> int:
    pl, pa, pb = patch
    return sum((g.n_a // pa) * (g.n_b // pb) for g in grids[::pl])


def check_patch(detector: Detector, patch: tuple[int, int, int], key: str = "patch") -> None:
    """Refuse a patch the detector's readout cannot be cut into.

    Raises:
        PatchError: naming ``key``, the patch, what it must divide and the layout.
    """
    grids = layer_grids(detector)
    if len(patch) != 3:
        raise PatchError(
            f"{key}={','.join(map(str, patch))}: three sizes expected (layers, cells along "
            f"a, cells along b) for {describe_grids(detector)}"
        )
    pl, pa, pb = patch
    problems = []
    if not _valid_layer_groups(grids, pl):
        problems.append(f"{pl} must divide the {len(grids)} readout layers into groups of one grid")
    bad_a = sorted({g.n_a for g in grids if pa < 1 or g.n_a % pa})
    if bad_a:
        problems.append(f"{pa} must divide every layer's a size (not {bad_a})")
    bad_b = sorted({g.n_b for g in grids if pb < 1 or g.n_b % pb})
    if bad_b:
        problems.append(f"{pb} must divide every layer's b size (not {bad_b})")
    if problems:
        raise PatchError(
            f"{key}={pl},{pa},{pb} does not fit {describe_grids(detector)}: " + "; ".join(problems)
        )


def auto_patch(detector: Detector, max_tokens: int) -> tuple[int, int, int]:
    """The patch chosen when none is given: from ``(1, 1, 1)``, the axis with the most
    patches is coarsened to its next valid size until at most ``max_tokens`` tokens remain
    (or no axis can be coarsened)."""
    grids = layer_grids(detector)
    sizes_a, sizes_b = [g.n_a for g in grids], [g.n_b for g in grids]
    patch = [1, 1, 1]

    def next_size(axis: int) -> int | None:
        limit = (len(grids), max(sizes_a), max(sizes_b))[axis]
        for p in range(patch[axis] + 1, limit + 1):
            if axis == 0 and _valid_layer_groups(grids, p):
                return p
            if axis == 1 and _divides_all(p, sizes_a):
                return p
            if axis == 2 and _divides_all(p, sizes_b):
                return p
        return None

    while _tokens(grids, (patch[0], patch[1], patch[2])) > max_tokens:
        counts = (
            len(grids) // patch[0],
            max(sizes_a) // patch[1],
            max(sizes_b) // patch[2],
        )
        moves = [(counts[axis], axis, p) for axis in range(3) if (p := next_size(axis))]
        if not moves:
            break
        _, axis, p = max(moves)
        patch[axis] = p
    return (patch[0], patch[1], patch[2])


def patch_layout(
    detector: Detector, patch: tuple[int, ...] = (), *, max_tokens: int = 256
) -> PatchLayout:
    """The tokens of ``detector`` for ``patch`` (empty: :func:`auto_patch`).

    Raises:
        PatchError: a patch that does not divide the layout (:func:`check_patch`).
    """
    if patch:
        check_patch(detector, tuple(patch))  # type: ignore[arg-type]
        chosen = (int(patch[0]), int(patch[1]), int(patch[2]))
    else:
        chosen = auto_patch(detector, max_tokens)
    pl, pa, pb = chosen
    grids = layer_grids(detector)
    offsets = np.asarray(detector.layer_offsets)
    gather, group, pos_a, pos_b, count_a, count_b, periodic = [], [], [], [], [], [], []
    for gi, first in enumerate(range(0, len(grids), pl)):
        g = grids[first]
        na, nb = g.n_a // pa, g.n_b // pb
        for ia in range(na):
            for ib in range(nb):
                a = ia * pa + np.arange(pa)
                b = ib * pb + np.arange(pb)
                cells = (a[:, None] * g.n_b + b[None, :]).ravel()
                layers = offsets[first : first + pl]
                gather.append((layers[:, None] + cells[None, :]).ravel())
                group.append(gi)
                pos_a.append(ia)
                pos_b.append(ib)
                count_a.append(na)
                count_b.append(nb)
                periodic.append(g.periodic)
    return PatchLayout(
        patch=chosen,
        gather=np.asarray(gather, dtype=np.int64),
        group=np.asarray(group, dtype=np.int64),
        pos_a=np.asarray(pos_a, dtype=np.int64),
        pos_b=np.asarray(pos_b, dtype=np.int64),
        count_a=np.asarray(count_a, dtype=np.int64),
        count_b=np.asarray(count_b, dtype=np.int64),
        periodic=np.asarray(periodic, dtype=bool),
        n_groups=len(grids) // pl,
    )


def position_features(layout: PatchLayout, n_freq: int) -> NDArray[np.float32]:
    """(T, 6 n_freq) sine/cosine features of each token's (layer group, a, b) position.

    A periodic a axis (the angle of a cylindrical readout) uses whole turns
    (``2 pi k i / n``), so the first and last angular patches are neighbours; the other
    axes use half turns over their extent (``pi k (i + 1/2) / n``).
    """
    k = np.arange(1, n_freq + 1, dtype=np.float64)[None, :]

    def sincos(phase: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.concatenate([np.sin(phase), np.cos(phase)], axis=1)

    depth = np.pi * k * ((layout.group + 0.5) / layout.n_groups)[:, None]
    ring = 2 * np.pi * k * (layout.pos_a / layout.count_a)[:, None]
    line = np.pi * k * ((layout.pos_a + 0.5) / layout.count_a)[:, None]
    across_a = np.where(layout.periodic[:, None], ring, line)
    across_b = np.pi * k * ((layout.pos_b + 0.5) / layout.count_b)[:, None]
    feats = np.concatenate([sincos(depth), sincos(across_a), sincos(across_b)], axis=1)
    return feats.astype(np.float32)


__all__ = [
    "LayerGrid",
    "PatchError",
    "PatchLayout",
    "auto_patch",
    "check_patch",
    "describe_grids",
    "layer_grids",
    "patch_layout",
    "position_features",
]
