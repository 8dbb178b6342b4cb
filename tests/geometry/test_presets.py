"""Every preset loads, and its shower constants match values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from caloforge.geometry import (
    detector_from_dict,
    detector_to_dict,
    load_detector,
    preset_names,
    same_detector,
)
from caloforge.geometry.loader import detector_from_json, detector_to_json

# PDG constants used for the hand computations below
X0 = {"Pb": 6.37 / 11.35, "W": 6.76 / 19.30, "LAr": 19.55 / 1.396, "Si": 21.82 / 2.33}  # cm
EC = {"Pb": 7.43, "W": 7.97, "LAr": 32.84, "Si": 40.19}  # MeV
RHO = {"Pb": 11.35, "W": 19.30, "LAr": 1.396, "Si": 2.33}
ES = 21.2052

EXPECTED_VOXELS = {
    "atlas-pblar": 3 * 96 + 12 * 12 + 12 * 6,
    "cms-pbwo4": 11 * 11 * 10,
    "lhcb-pbsci": 15 * 15 * 6,
    "ild-wsi": 30 * 30 * 30,
    "lcd-cube": 25**3,
    "hgcal-hex": 12 * 15 * 7,
    "calochallenge-ds2": 45 * 16 * 9,
    "calochallenge-ds3": 45 * 50 * 18,
}


def test_presets_with_expected_voxel_counts() -> None:
    assert set(preset_names()) == set(EXPECTED_VOXELS)
    for name, n in EXPECTED_VOXELS.items():
        assert load_detector(name).n_voxels == n, name


@pytest.mark.parametrize("name", sorted(EXPECTED_VOXELS))
def test_json_round_trip(name: str) -> None:
    det = load_detector(name)
    assert detector_from_json(detector_to_json(det)) == det


STEPS_PRESETS = {"calochallenge-ds2", "calochallenge-ds3", "hgcal-hex", "lhcb-pbsci"}
"""The presets scored per step by default (docs/simulation.md, "Which presets score per
step"); every other one scores replicas."""


def test_presets_name_their_scoring_mode() -> None:
    modes = {name: load_detector(name).physics.scoring for name in preset_names()}
    assert {name for name, mode in modes.items() if mode == "steps"} == STEPS_PRESETS
    assert set(modes.values()) == {"replica", "steps"}


@pytest.mark.parametrize("name", sorted(EXPECTED_VOXELS))
def test_scoring_mode_in_the_description(name: str) -> None:
    """A replica preset's description is the one written before presets named a mode;
    a preset's mode does not make it another detector."""
    det = load_detector(name)
    physics = detector_to_dict(det)["physics"]
    assert physics.get("scoring", "replica") == det.physics.scoring
    assert ("scoring" in physics) == (name in STEPS_PRESETS)
    assert "scoring" not in detector_to_dict(det, scoring=False)["physics"]
    data = detector_to_dict(det)
    for mode in ("parallel", "replica", "steps"):
        data["physics"]["scoring"] = mode
        other = detector_from_dict(data)
        assert other.physics.scoring == mode
        assert same_detector(other, det) and same_detector(det, other)
    data["physics"]["scoring_pitch"] = 0.25
    assert not same_detector(detector_from_dict(data), det)


def _two_material(a: str, ta: float, b: str, tb: float) -> tuple[float, float]:
    """Stack X0 and Moliere radius (mm) of a periodic a/b stack, by hand."""
    x0 = (ta + tb) / (ta / (10 * X0[a]) + tb / (10 * X0[b]))
    ma, mb = RHO[a] * ta, RHO[b] * tb
    wa, wb = ma / (ma + mb), mb / (ma + mb)
    inv_rm = (wa * EC[a] / (X0[a] * RHO[a]) + wb * EC[b] / (X0[b] * RHO[b])) / ES  # cm^2/g
    rho = (ma + mb) / (ta + tb)
    return x0, 10 / (inv_rm * rho)


def test_atlas_pblar_constants() -> None:
    det = load_detector("atlas-pblar")
    x0, rm = _two_material("Pb", 2.0, "LAr", 4.0)
    assert det.x0 == pytest.approx(x0, rel=1e-9)
    assert det.moliere_radius == pytest.approx(rm, rel=1e-9)
    # 58 x (2 mm / 5.612 mm + 4 mm / 140.04 mm) = 22.33 X0
    assert det.depth_x0 == pytest.approx(58 * (2 / 5.6123 + 4 / 140.04), rel=1e-3)
    assert det.depth == 348.0
    assert det.layer_sizes == (288, 144, 72)
    assert 15.0 < det.x0 < 16.5 and 34.0 < det.moliere_radius < 37.0


def test_ild_wsi_constants() -> None:
    det = load_detector("ild-wsi")
    depth_x0 = 20 * (2.1 / 3.5026 + 0.5 / 93.648) + 10 * (4.2 / 3.5026 + 0.5 / 93.648)
    assert det.depth_x0 == pytest.approx(depth_x0, rel=1e-3)
    assert det.depth == pytest.approx(20 * 2.6 + 10 * 4.7)


def test_pbwo4_matches_pdg() -> None:
    det = load_detector("cms-pbwo4")
    # PDG: PbWO4 X0 = 0.8903 cm, Moliere radius 1.959 cm
    assert det.x0 == pytest.approx(8.903, rel=0.01)
    assert det.moliere_radius == pytest.approx(19.59, rel=0.03)
    assert det.depth_x0 == pytest.approx(230 / 8.903, rel=0.01)


def test_lcd_cube_is_a_cube_and_ds2_reshapes() -> None:
    cube = load_detector("lcd-cube")
    assert cube.n_layers == 25 and set(cube.layer_sizes) == {625}
    ds2 = load_detector("calochallenge-ds2")
    assert ds2.n_layers == 45
    assert all(r.n_sampling == 2 for r in ds2.readout)
    seg = ds2.readout[0].segmentation
    assert seg.n_alpha == 16 and seg.n_r == 9 and seg.r_edges[-1] == pytest.approx(9 * 4.65)


def test_interaction_lengths() -> None:
    det = load_detector("atlas-pblar")
    lam_pb = 199.6 / 11.35 * 10
    lam_ar = 119.7 / 1.396 * 10
    assert det.depth_lambda == pytest.approx(58 * (2 / lam_pb + 4 / lam_ar), rel=1e-9)


def test_readout_depth_is_monotonic_and_within_stack() -> None:
    for name in preset_names():
        det = load_detector(name)
        z = det.readout_depth_x0
        assert np.all(np.diff(z) > 0)
        assert 0 < z[0] and z[-1] < det.depth_x0
        assert math.isclose(det.critical_energy, ES * det.x0 / det.moliere_radius)
