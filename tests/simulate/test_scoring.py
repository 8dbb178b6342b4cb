"""Fine scoring grid and its mapping to readout voxels (no Geant4)."""

from __future__ import annotations

import numpy as np
import pytest

from caloforge.geometry import Detector, detector_from_dict, load_detector
from caloforge.simulate.geometry_builder import Block, active_blocks
from caloforge.simulate.scoring import StepBinner, VoxelMapper, choose_pitch, make_grid


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


def test_a_point_goes_to_the_fine_cell_holding_it(tiny: Detector) -> None:
    """FineGrid.index inverts FineGrid.centres, cell by cell: points anywhere inside a
    cell (up to its lower edges) get its index; points beyond the detector's edge go to
    the edge cell, as the replicas' last copy would hold them."""
    grid = make_grid(tiny, 5.0)
    flat = np.arange(grid.n_cells)
    gap, x, y = grid.centres(flat)
    assert np.array_equal(grid.index(gap, x, y), flat)
    low = 0.5 - 1e-9  # just inside the lower edges, and just below the upper ones
    assert np.array_equal(grid.index(gap, x - low * grid.pitch_x, y - low * grid.pitch_y), flat)
    assert np.array_equal(grid.index(gap, x + low * grid.pitch_x, y + low * grid.pitch_y), flat)
    # x slabs first (ix = 0 at x = -50 mm), then y: the replicas' copy numbers
    assert grid.index(np.array([2]), np.array([-49.0]), np.array([48.0])).tolist() == [
        2 * 400 + 0 * 20 + 19
    ]
    edge = grid.index(np.array([0, 0]), np.array([-50.001, 50.001]), np.array([0.0, 0.0]))
    assert edge.tolist() == [0 * 20 + 10, 19 * 20 + 10]


def test_steps_are_binned_into_the_gap_and_cell_holding_them(tiny: Detector) -> None:
    """A point in layer l's active gap goes to gap l, also a hair outside its faces (step
    points on a boundary); the energies of one cell are summed, cells listed once."""
    grid = make_grid(tiny, 5.0)
    binner = StepBinner(tiny, grid)
    gap_front = tiny.layer_z[:, 1]  # 2, 8, 14, ...: each gap 4 mm behind a 2 mm plate
    z = np.concatenate([gap_front + 2.0, gap_front - 1e-9, gap_front + 4.0 + 1e-9])
    x = np.full(len(z), 12.0)
    y = np.full(len(z), -3.0)
    cells, energy = binner.cells(np.ones(len(z)), np.stack([x, y, z], axis=1))
    one = grid.index(np.zeros(1, np.int64), x[:1], y[:1])[0]  # the cell in gap 0
    assert cells.tolist() == [one + layer * grid.nx * grid.ny for layer in range(6)]
    assert energy.tolist() == [3.0] * 6


def test_steps_in_a_homogeneous_block_follow_its_layers() -> None:
    """One mass volume holding three layers: the layer of a point is where its z lies."""
    det = load_detector("cms-pbwo4")
    grid = make_grid(det, choose_pitch(det))
    binner = StepBinner(det, grid)
    z = np.array([0.5, 22.9, 23.1, 229.9])
    cells, energy = binner.cells(np.arange(1.0, 5.0), np.stack([0 * z, 0 * z, z], axis=1))
    gap, _, _ = grid.centres(cells)
    assert gap.tolist() == [0, 1, len(det.layers) - 1]
    assert energy.tolist() == [3.0, 3.0, 4.0]
