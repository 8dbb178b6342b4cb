"""Test fixtures: a tiny detector and TOY synthetic showers for the model families, and a
tiny detector for fast Geant4 tests (:func:`tiny_g4_detector`).

The toy showers are NOT a simulation: a few lines of made-up shower shapes (visible
energy proportional to the incident energy with a stochastic spread, a longitudinal
profile moving deeper with log E, a Gaussian transverse spot around the impact point,
gamma-distributed cell fluctuations) so that the model contract tests run in seconds
without Geant4 or external data. Use them only in tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from caloforge.data import Conditions, write_showers
from caloforge.evaluate.observables import cell_geometry
from caloforge.geometry import Detector, detector_from_dict, load_detector


def tiny_g4_detector(**overrides: Any) -> Detector:
    """6 x (2 mm Pb + 4 mm LAr), 100 x 100 mm, two readout layers of 4 x 4 cells of 25 mm:
    a Geant4 detector that simulates a 1 GeV electron in a few milliseconds (tests only).
    ``overrides`` replace top-level fields of the description (``gun``, ``physics``...)."""
    data: dict[str, Any] = {
        "name": "tiny",
        "size_x": 100.0,
        "size_y": 100.0,
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
                "group": 3,
                "repeat": 2,
                "segmentation": "cartesian",
                "nx": 4,
                "ny": 4,
                "cell_x": 25.0,
                "cell_y": 25.0,
            }
        ],
        "gun": {"particle": "e-", "position": [2.5, 2.5, -50.0]},
        "physics": {"scoring_pitch": 5.0},
    }
    data.update(overrides)
    return detector_from_dict(data)


TOY_DETECTOR_TOML = (
    """
name = "toy-3x4x4"
description = "tiny test detector: 3 readout layers of 4 x 4 cells (tests only)"
size_x = 40.0
size_y = 40.0

[[layers]]
absorber = "Pb"
absorber_thickness = 2.0
active = "LAr"
active_thickness = 4.0
repeat = 3
"""
    + "".join(
        f"""
[[readout]]
layers = [{i}, {i}]
segmentation = "cartesian"
nx = 4
ny = 4
cell_x = 10.0
cell_y = 10.0
"""
        for i in range(3)
    )
    + """
[gun]
particle = "gamma"
position = [0.0, 0.0, -100.0]
direction = [0.0, 0.0, 1.0]
"""
)


def toy_detector(folder: str | Path) -> Detector:
    """Write the tiny 3 x (4 x 4) detector description into ``folder`` and load it."""
    path = Path(folder) / "toy-3x4x4.toml"
    path.write_text(TOY_DETECTOR_TOML)
    return load_detector(path)


def toy_showers(
    detector: Detector,
    n: int,
    *,
    seed: int = 0,
    e_min: float = 1e3,
    e_max: float = 1e5,
    impact_spread: float = 0.0,
    theta_max: float = 0.0,
    spot_scale: float = 1.0,
    track_slope: float = 1.0,
) -> tuple[NDArray[np.float32], Conditions]:
    """TOY showers (N, n_voxels) in MeV and their conditions; see the module docstring.

    Arguments:
        detector: a detector with Cartesian readout layers (e.g. :func:`toy_detector`).
        n: number of showers. seed: random seed.
        e_min / e_max: log-uniform incident energy range, MeV.
        impact_spread: half-width (mm) of a uniform spread of the impact point.
        theta_max: polar angles uniform in [0, theta_max] degrees, azimuths uniform in
            [0, 360) (drawn from their own generator: the showers at theta_max = 0 do not
            change); the spot of each readout layer is centred on the track at the layer's
            depth, impact + depth * tan(theta) (cos phi, sin phi).
        spot_scale: factor on the transverse width of the spots.
        track_slope: the spots' centres are ``track_slope`` times the track position (1:
            on the track; below 1, a model that follows the impact point too little).
    """
    rng = np.random.default_rng(seed)
    energy = np.exp(rng.uniform(np.log(e_min), np.log(e_max), n))
    impact = np.zeros((n, 3))
    if impact_spread > 0:
        impact[:, :2] = rng.uniform(-impact_spread, impact_spread, (n, 2))
    direction = np.tile([0.0, 0.0, 1.0], (n, 1))
    if theta_max > 0:
        angles = np.random.default_rng([seed, 1])
        theta = np.radians(angles.uniform(0.0, theta_max, n))
        phi = angles.uniform(0.0, 2 * np.pi, n)
        direction = np.stack(
            [np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)], axis=1
        )
    depths = cell_geometry(detector).z[detector.layer_offsets[:-1]]
    visible = 0.2 * energy * (1 + rng.normal(0, 0.1, n) / np.sqrt(energy / 1e3))
    depth = 0.5 + 0.35 * np.log(energy / 1e3)  # mean readout layer
    layers = np.arange(detector.n_layers)
    prof = np.exp(-0.5 * ((layers[None, :] - depth[:, None]) / 0.9) ** 2)
    prof /= prof.sum(1, keepdims=True)
    out = np.zeros((n, detector.n_voxels))
    for i, r in enumerate(detector.readout):
        centres = r.segmentation.cell_centres()
        track = track_slope * (impact[:, :2] + depths[i] * direction[:, :2] / direction[:, 2:])
        d2 = (centres[None, :, 0] - track[:, None, 0]) ** 2 + (
            centres[None, :, 1] - track[:, None, 1]
        ) ** 2
        spot = np.exp(-0.5 * d2 / (spot_scale * (6.0 + 2.0 * i)) ** 2)
        spot *= rng.gamma(4.0, 0.25, spot.shape)
        spot /= spot.sum(1, keepdims=True)
        cells = spot * (visible * prof[:, i])[:, None]
        cells[cells < 1e-4 * visible[:, None]] = 0.0
        out[:, detector.layer_slices[i]] = cells
    return out.astype(np.float32), Conditions.create(energy, "gamma", direction, impact)


def write_toy_files(
    folder: str | Path,
    n_train: int = 200,
    n_val: int = 100,
    *,
    seeds: tuple[int, int] = (1, 2),
    **options: Any,
) -> tuple[Path, Path]:
    """A training and a validation file of TOY showers of :func:`toy_detector`, written
    in ``folder`` (``toy_train.h5``, ``toy_val.h5``) from the two ``seeds``; ``options``:
    those of :func:`toy_showers`."""
    det = toy_detector(folder)
    files = []
    for name, n, seed in (("toy_train.h5", n_train, seeds[0]), ("toy_val.h5", n_val, seeds[1])):
        files.append(
            write_showers(Path(folder) / name, *toy_showers(det, n, seed=seed, **options), det)
        )
    return files[0], files[1]


__all__ = ["TOY_DETECTOR_TOML", "toy_detector", "toy_showers", "write_toy_files"]
