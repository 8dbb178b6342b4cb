"""Observables against values computed by hand on tiny synthetic showers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from toy_showers import small_detector

from caloforge.evaluate import observables as ob
from caloforge.geometry import detector_from_dict

SQ3 = math.sqrt(3.0)


def test_cartesian_by_hand() -> None:
    det = small_detector("cartesian")  # cells (ix*2+iy): (-5,-5) (-5,5) (5,-5) (5,5)
    s = np.array([[1.0, 0.0, 0.0, 3.0, 0.0, 2.0, 2.0, 0.0]])
    e_inc = np.array([40.0])
    assert ob.total_energy(s) == pytest.approx([8.0])
    assert ob.energy_ratio(s, e_inc) == pytest.approx([0.2])
    np.testing.assert_allclose(ob.layer_energies(s, det), [[4.0, 4.0]])
    np.testing.assert_allclose(ob.layer_fractions(s, det), [[0.5, 0.5]])
    cx, cy = ob.layer_centroids(s, det)
    np.testing.assert_allclose(cx, [[2.5, 0.0]])
    np.testing.assert_allclose(cy, [[2.5, 0.0]])
    wx, wy = ob.layer_widths(s, det)
    np.testing.assert_allclose(wx, [[math.sqrt(25 - 6.25), 5.0]])
    np.testing.assert_allclose(wy, [[math.sqrt(25 - 6.25), 5.0]])
    # transverse radius from each layer's centroid: 10.607 (1 MeV), 3.536 (3 MeV), 7.071 (4 MeV)
    expected_r = (1 * math.hypot(7.5, 7.5) + 3 * math.hypot(2.5, 2.5) + 4 * math.hypot(5, 5)) / 8
    assert ob.radial_width(s, det) == pytest.approx([expected_r])
    assert ob.shower_depth(s, det) == pytest.approx([0.5])
    assert ob.shower_depth_width(s, det) == pytest.approx([0.5])
    assert ob.shower_depth(s, det, unit="x0") == pytest.approx([det.readout_depth_x0.mean()])
    assert ob.shower_start(s, det) == pytest.approx([0.0])
    assert ob.shower_start(s[:, ::-1].copy() * [1, 1, 1, 1, 0, 0, 0, 0], det) == pytest.approx(
        [0.0]
    )
    assert ob.n_hits(s) == pytest.approx([4.0])
    assert ob.n_hits(s, threshold=1.5) == pytest.approx([3.0])
    np.testing.assert_allclose(ob.n_hits_per_layer(s, det, 1.5), [[1.0, 2.0]])
    assert ob.cell_spectrum(s, 1.5, edges=np.array([0.0, 2.5, 10.0])).tolist() == [2, 1]


def test_shower_start_and_empty_layers() -> None:
    det = small_detector("cartesian")
    s = np.array([[0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0], [0.0] * 8])
    assert ob.shower_start(s, det).tolist() == [1.0, -1.0]
    cx, _ = ob.layer_centroids(s, det)
    np.testing.assert_allclose(cx, [[0.0, -5.0], [0.0, 0.0]])  # empty layers: 0, finite
    feats = ob.high_level_observables(s, np.array([10.0, 10.0]), det)
    assert all(np.isfinite(v).all() for v in feats.values())


def test_cylindrical_by_hand() -> None:
    det = small_detector("cylindrical")  # 4 angular x 2 radial bins (0-10, 10-20 mm)
    s = np.zeros((2, 16))
    s[0, 0 * 2 + 0] = 2.0  # alpha bin 0 (45 deg), inner ring: centre r=5
    s[0, 2 * 2 + 0] = 2.0  # alpha bin 2 (225 deg), inner ring
    s[1, 0 * 2 + 1] = 3.0  # alpha bin 0, outer ring: r=15 at 45 deg
    s[1, 8 + 3 * 2 + 1] = 1.0  # layer 1, alpha bin 3, outer ring
    cx, cy = ob.layer_centroids(s, det)
    np.testing.assert_allclose(cx[:, 0], [0.0, 15 / math.sqrt(2)], atol=1e-12)
    np.testing.assert_allclose(cy[:, 0], [0.0, 15 / math.sqrt(2)], atol=1e-12)
    # cylindrical meshes: the radius is the cell's mid radius around the particle axis
    assert ob.radial_width(s, det) == pytest.approx([5.0, 15.0])
    np.testing.assert_allclose(ob.radial_bins(det), [0.0, 10.0, 20.0])
    np.testing.assert_allclose(ob.radial_profile(s, det), [[4.0, 0.0], [0.0, 4.0]])
    wx, wy = ob.layer_widths(s, det)
    assert wx[0, 0] == pytest.approx(5 / math.sqrt(2))
    assert wy[0, 0] == pytest.approx(5 / math.sqrt(2))
    assert ob.shower_depth(s, det) == pytest.approx([0.0, 0.25])


def test_hexagonal_by_hand() -> None:
    det = small_detector("hexagonal")  # 2 x 2 flat-topped hexagons of side 10 mm
    # centres (col*2+row): (-7.5, -5 sqrt3/2*3)... written out from the definition:
    centres = np.array([[0, 0], [0, 10 * SQ3], [15, 5 * SQ3], [15, 15 * SQ3]]) - [7.5, 7.5 * SQ3]
    s = np.zeros((1, 8))
    s[0, 0] = 1.0
    s[0, 1] = 1.0
    s[0, 6] = 4.0  # layer 1, cell 2
    cx, cy = ob.layer_centroids(s, det)
    np.testing.assert_allclose(cx[0], [-7.5, centres[2, 0]])
    np.testing.assert_allclose(cy[0], [0.5 * (centres[0, 1] + centres[1, 1]), centres[2, 1]])
    wx, wy = ob.layer_widths(s, det)
    np.testing.assert_allclose(wx[0], [0.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(wy[0], [5 * SQ3, 0.0], atol=1e-9)
    assert ob.radial_width(s, det) == pytest.approx([(2 * 5 * SQ3 + 0.0) / 6])


def test_atlas_irregular_layers_by_hand(atlas) -> None:  # type: ignore[no-untyped-def]
    s = np.zeros((1, atlas.n_voxels))
    s[0, 1 * 96 + 48] = 10.0  # layer 0 (3 x 96 cells of 160 x 5 mm): centre (0, 2.5)
    s[0, 288 + 6 * 12 + 6] = 30.0  # layer 1 (12 x 12 of 40 mm): centre (20, 20)
    s[0, 288 + 144 + 6 * 6 + 2] = 5.0  # layer 2 (12 x 6 of 40 x 80 mm): centre (20, -40)
    s[0, 288 + 144 + 5 * 6 + 2] = 5.0  # layer 2: centre (-20, -40)
    cx, cy = ob.layer_centroids(s, atlas)
    np.testing.assert_allclose(cx[0], [0.0, 20.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(cy[0], [2.5, 20.0, -40.0], atol=1e-9)
    wx, _ = ob.layer_widths(s, atlas)
    np.testing.assert_allclose(wx[0], [0.0, 0.0, 20.0], atol=1e-9)
    np.testing.assert_allclose(ob.layer_fractions(s, atlas)[0], [0.2, 0.6, 0.2])
    assert ob.shower_depth(s, atlas) == pytest.approx([1.0])
    assert ob.shower_depth_width(s, atlas) == pytest.approx([math.sqrt(0.4)])
    expected_x0 = (
        0.2 * atlas.readout_depth_x0[0]
        + 0.6 * atlas.readout_depth_x0[1]
        + 0.2 * atlas.readout_depth_x0[2]
    )
    assert ob.shower_depth(s, atlas, unit="x0") == pytest.approx([expected_x0])
    feats = ob.high_level_observables(s, np.array([100.0]), atlas)
    assert feats["e_ratio"] == pytest.approx([0.5])
    assert set(feats) >= {"frac_2", "cx_1", "wy_0", "n_hits_2", "pca_angle", "depth_x0"}


def test_principal_axis_recovers_an_inclined_track() -> None:
    # 6 readout layers 6 mm apart, cells of 2 mm: one cell per layer shifted by 3 cells
    # (6 mm) per layer -> a 45 degree track in the x-z plane.
    det = detector_from_dict(
        {
            "name": "toy-track",
            "size_x": 60.0,
            "size_y": 60.0,
            "layers": [
                {
                    "absorber": "Pb",
                    "absorber_thickness": 2.0,
                    "active": "LAr",
                    "active_thickness": 4.0,
                    "repeat": 6,
                }
            ],
            "readout": [
                {
                    "group": 1,
                    "repeat": 6,
                    "segmentation": "cartesian",
                    "nx": 21,
                    "ny": 1,
                    "cell_x": 2.0,
                    "cell_y": 2.0,
                }
            ],
        }
    )
    s = np.zeros((2, det.n_voxels))
    for layer in range(6):
        s[0, det.layer_offsets[layer] + 3 + 3 * layer] = 1.0 + layer  # 45 degrees
        s[1, det.layer_offsets[layer] + 10] = 1.0  # straight along z
    theta = ob.incidence_angle(s, det)
    assert theta == pytest.approx([math.pi / 4, 0.0], abs=1e-9)
    d = ob.angle_to_direction(s, det, np.array([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]]))
    assert d == pytest.approx([0.0, 0.0], abs=1e-7)


def test_gaussian_core_and_response() -> None:
    rng = np.random.default_rng(3)
    v = rng.normal(0.19, 0.01, 4000)
    m, me, s, se, how = ob.gaussian_core(v)
    assert how == "fit"
    assert abs(m - 0.19) < 3 * me and abs(s - 0.01) < 4 * se
    assert me == pytest.approx(0.01 / math.sqrt(4000), rel=0.5)
    # two discrete energies with resolutions 2 % and 1 %
    e = np.repeat([1e3, 1e4], 3000)
    r = np.concatenate([rng.normal(0.2, 0.004, 3000), rng.normal(0.18, 0.0018, 3000)])
    resp = ob.energy_response(e, r)
    np.testing.assert_allclose(resp.energy, [1e3, 1e4])
    np.testing.assert_allclose(resp.mean, [0.2, 0.18], atol=3e-4)
    np.testing.assert_allclose(resp.resolution, [0.02, 0.01], rtol=0.1)
    assert (resp.resolution_err > 0).all()
    binned = ob.energy_response(
        np.exp(rng.uniform(np.log(1e3), np.log(1e5), 2000)), rng.normal(0.19, 0.01, 2000), 4
    )
    assert len(binned.energy) == 4 and binned.n.sum() == 2000


def test_energy_moments_count_every_shower() -> None:
    """A MIP peak and a shower peak: the moments are the plain mean and std / mean of every
    shower, in the bins of energy_response."""
    e = np.repeat([1e3, 1e4], 4)
    r = np.array([0.01, 0.01, 0.3, 0.3, 0.02, 0.2, 0.2, 0.2])
    m = ob.energy_moments(e, r)
    assert (m["energy_lo"], m["energy_hi"], m["n"]) == ([1e3, 1e4], [1e3, 1e4], [4, 4])
    np.testing.assert_allclose(m["mean"], [0.155, 0.155])
    np.testing.assert_allclose(m["std"], [np.std(r[:4], ddof=1), np.std(r[4:], ddof=1)])
    np.testing.assert_allclose(np.array(m["resolution"]) * m["mean"], m["std"])
    np.testing.assert_allclose(m["mean_err"], np.array(m["std"]) / 2)
    edges = np.array([500.0, 2e3, 5e3, 2e4])  # an empty bin and binned energies
    binned = ob.energy_moments(e, r, edges)
    resp = ob.energy_response(e, r, edges)
    np.testing.assert_allclose(binned["energy_lo"], resp.energy_lo)
    assert binned["n"] == resp.n.tolist() == [4, 0, 4]
    assert np.isnan(binned["mean"][1]) and np.isnan(binned["resolution"][1])
    one = ob.energy_moments(np.array([1e3]), np.array([0.2]))
    assert one["mean"] == [0.2] and np.isnan(one["resolution"][0])


def test_summarise_streams_in_chunks(toy_showers, write_toy, atlas) -> None:  # type: ignore[no-untyped-def]
    from caloforge.data import ShowerFile

    path = write_toy("toy.h5", atlas, 300, 1)
    data = ShowerFile(path)
    whole = ob.summarise(data, chunk_size=10_000)
    chunked = ob.summarise(data, chunk_size=64)
    s, c = toy_showers(atlas, 300, 1)
    in_memory = ob.summarise_arrays(s, c, atlas)
    for other in (chunked, in_memory):
        for k, v in whole.features.items():
            np.testing.assert_allclose(other.features[k], v, rtol=1e-5, atol=1e-6, err_msg=k)
        np.testing.assert_allclose(other.cell_mean, whole.cell_mean, rtol=1e-5)
        np.testing.assert_allclose(other.cell_std, whole.cell_std, rtol=1e-4, atol=1e-6)
        np.testing.assert_array_equal(other.spectrum, whole.spectrum)
    assert ob.summarise(data, max_showers=100).n == 100


def test_wrong_voxel_count_is_refused(atlas) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="504 voxels"):
        ob.layer_energies(np.zeros((2, 10)), atlas)
