"""Fine scoring grid and its mapping to readout voxels (no Geant4)."""

from __future__ import annotations

import numpy as np
import pytest

from caloforge.geometry import Detector, detector_from_dict, load_detector
from caloforge.simulate.geometry_builder import Block, active_blocks
from caloforge.simulate.scoring import VoxelMapper, choose_pitch, make_grid


@pytest.mark.parametrize(
    ("preset", "pitch"),
    [
        ("atlas-pblar", 5.0),
        ("ild-wsi", 5.0),
        ("cms-pbwo4", 22 / 5),
        ("lhcb-pbsci", 40.4 / 9),
        ("calochallenge-ds2", 0.5),
    ],
)
def test_pitch(preset: str, pitch: float) -> None:
    assert choose_pitch(load_detector(preset)) == pytest.approx(pitch)


def test_fixed_map_conserves_energy_inside_the_readout(tiny: Detector) -> None:
    grid = make_grid(tiny, 5.0)
    assert (grid.nx, grid.ny, grid.n_gaps) == (20, 20, 6)
    mapper = VoxelMapper(tiny, grid)
    cells = np.arange(grid.n_cells)
    vox = mapper.voxels(cells, np.ones(grid.n_cells), np.zeros(3), np.array([0, 0, 1.0]))
    assert vox.sum() == pytest.approx(grid.n_cells)  # every fine cell inside a readout cell
    assert vox == pytest.approx(np.full(32, 25 * 3))  # 5x5 fine cells x 3 gaps per voxel


def test_atlas_first_layer_strips() -> None:
    det = load_detector("atlas-pblar")
    grid = make_grid(det, 5.0)
    mapper = VoxelMapper(det, grid)
    # fine cell at x = 2.5, y = 2.5 of gap 0 -> strip ix = 1 (x in [-80, 80)), iy = 48
    ix, iy = 48, 48
    vox = mapper.voxels(
        np.array([ix * grid.ny + iy]), np.array([1.0]), np.zeros(3), np.array([0, 0, 1.0])
    )
    assert np.flatnonzero(vox).tolist() == [1 * 96 + 48]


def test_cylindrical_follows_the_axis() -> None:
    det = load_detector("calochallenge-ds2")
    grid = make_grid(det, 2.0)
    mapper = VoxelMapper(det, grid)
    assert not mapper.fixed
    _, x, y = grid.centres(np.arange(grid.nx * grid.ny))
    near = np.flatnonzero(np.hypot(x - 11.0, y - 0.0) < 1.5)  # fine cells around (11, 0)
    vox = mapper.voxels(near, np.ones(len(near)), np.array([10.0, 0.0, 0.0]), np.array([0, 0, 1.0]))
    # all within the first radial bins of layer 0 around an axis at x = 10
    assert vox.sum() == pytest.approx(len(near))
    assert np.all(np.flatnonzero(vox) < det.layer_sizes[0])


def test_a_homogeneous_block_is_one_mass_volume() -> None:
    """cms-pbwo4 is read out in 10 slices of 23 mm: one PbWO4 volume of 230 mm."""
    assert active_blocks(load_detector("cms-pbwo4")) == [Block("PbWO4", 0.0, 230.0)]


def test_sampling_layers_and_material_changes_stay_separate() -> None:
    det = load_detector("atlas-pblar")
    blocks = active_blocks(det)
    assert len(blocks) == len(det.layers)  # an absorber between every two gaps
    assert [b.z_front for b in blocks] == pytest.approx(det.layer_z[:, 1])
    two = detector_from_dict(
        {
            "name": "two-crystals",
            "size_x": 20.0,
            "size_y": 20.0,
            "layers": [
                {"active": "PbWO4", "active_thickness": 10.0, "repeat": 3},
                {"active": "LAr", "active_thickness": 5.0, "repeat": 2},
            ],
            "readout": [
                {
                    "group": 5,
                    "segmentation": "cartesian",
                    "nx": 1,
                    "ny": 1,
                    "cell_x": 20.0,
                    "cell_y": 20.0,
                }
            ],
        }
    )
    assert active_blocks(two) == [Block("PbWO4", 0.0, 30.0), Block("LAr", 30.0, 10.0)]
