"""Cell lookup of the three segmentation types against hand-placed points."""

from __future__ import annotations

import numpy as np
import pytest

from caloforge.geometry import (
    CartesianSegmentation,
    CylindricalSegmentation,
    HexagonalSegmentation,
    load_detector,
)


def test_cartesian_index_is_x_major_and_centred() -> None:
    seg = CartesianSegmentation(3, 96, 160.0, 5.0)
    # x in [-240, -80) -> ix 0; y in [0, 5) -> iy 48
    assert seg.cell_index(-100.0, 2.5) == 0 * 96 + 48
    assert seg.cell_index(100.0, -240.0 + 0.1) == 2 * 96 + 0
    assert seg.cell_index(250.0, 0.0) == -1
    centres = seg.cell_centres()
    assert centres.shape == (288, 2)
    assert np.array_equal(seg.cell_index(centres[:, 0], centres[:, 1]), np.arange(288))


def test_cylindrical_is_centred_on_axis() -> None:
    seg = CylindricalSegmentation(16, tuple(4.65 * i for i in range(10)))
    # a point 1 mm from the axis at angle ~0 -> alpha bin 0, r bin 0
    assert seg.cell_index(11.0, 10.001, axis=(10.0, 10.0)) == 0
    # 10 mm along +y from the axis: alpha = 90 deg -> bin 4; r bin 2 (9.3..13.95)
    assert seg.cell_index(0.0, 10.0) == 4 * 9 + 2
    assert seg.cell_index(0.0, 50.0) == -1
    centres = seg.cell_centres()
    assert np.array_equal(seg.cell_index(centres[:, 0], centres[:, 1]), np.arange(144))
    assert seg.cell_areas().sum() == pytest.approx(np.pi * (9 * 4.65) ** 2)


def test_hexagonal_cells_tile_without_gaps() -> None:
    seg = HexagonalSegmentation(12, 15, 6.5)
    centres = seg.cell_centres()
    assert np.array_equal(seg.cell_index(centres[:, 0], centres[:, 1]), np.arange(180))
    # neighbouring centres are sqrt(3) * side apart
    d = np.linalg.norm(centres[:, None] - centres[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    assert d.min() == pytest.approx(np.sqrt(3) * 6.5)
    # a dense grid of points well inside the tiled area all falls in some cell,
    # and the fraction of the area covered matches 180 hexagons
    hx, hy = seg.extent
    rng = np.random.default_rng(0)
    pts = rng.uniform([-hx, -hy], [hx, hy], size=(20000, 2))
    idx = seg.cell_index(pts[:, 0], pts[:, 1])
    covered = (idx >= 0).mean() * (2 * hx) * (2 * hy)
    assert covered == pytest.approx(seg.cell_areas().sum(), rel=0.03)
    # a point at the corner of the bounding box is outside every hexagon
    assert seg.cell_index(-hx + 0.1, -hy + 0.1) == -1


def test_detector_voxel_index_uses_layer_offsets() -> None:
    det = load_detector("atlas-pblar")
    assert det.voxel_index(0, -100.0, 2.5) == 48
    assert det.voxel_index(11, -230.0, -230.0) == 288
    assert det.voxel_index(57, 230.0, 230.0) == 503
    assert det.voxel_index(57, 300.0, 0.0) == -1
    assert det.readout_of_sampling[10] == 0 and det.readout_of_sampling[11] == 1
