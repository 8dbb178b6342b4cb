"""Small synthetic ("toy") showers and tiny detectors for the validation-suite tests.

``toy_showers(det, n, seed, ...)`` draws showers with a smooth longitudinal profile,
Gaussian transverse profiles and per-cell fluctuations, for any detector. They are not
physics: they only need to be cheap and to react to the knobs the tests turn (energy
scale, transverse width, per-cell noise).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from caloforge.data import Conditions
from caloforge.evaluate.observables import cell_geometry
from caloforge.geometry import Detector, detector_from_dict


def make_toy_showers(
    det: Detector,
    n: int,
    seed: int,
    *,
    scale: float = 1.0,
    width: float = 1.0,
    noise: float = 0.0,
    energy: NDArray[np.float64] | None = None,
) -> tuple[NDArray[np.float32], Conditions]:
    """``n`` toy showers of ``det`` (MeV) and their conditions (photons, normal incidence).

    Arguments:
        scale: multiplies every deposit (an energy-scale error).
        width: multiplies the transverse Gaussian widths (broadened showers).
        noise: mean of exponential per-cell noise added to every cell, MeV.
        energy: incident energies (default: log-uniform 1-100 GeV from ``seed``).
    """
    rng = np.random.default_rng(seed)
    e = np.exp(rng.uniform(np.log(1e3), np.log(1e5), n)) if energy is None else np.asarray(energy)
    vis = 0.19 * e * (1 + 0.02 * rng.standard_normal(n))
    t = det.readout_depth_x0 + 0.5
    a = 1.0 + 0.4 * np.log(e / 1e3)[:, None] + 0.2 * rng.standard_normal((n, 1))
    long = t[None] ** a * np.exp(-0.5 * t[None])
    long /= long.sum(axis=1, keepdims=True)
    g = cell_geometry(det)
    layer = det.voxel_layer
    sigma = width * det.moliere_radius * (0.3 + 0.1 * layer / max(det.n_layers - 1, 1))
    sigma = sigma[None] * (1 + 0.05 * rng.standard_normal((n, 1)))
    cx = 2.5 + rng.normal(0.0, 1.0, (n, 1))
    cy = 2.5 + rng.normal(0.0, 1.0, (n, 1))
    ox = np.where(g.cylindrical, 0.0, cx)  # cylindrical meshes are centred on the particle
    oy = np.where(g.cylindrical, 0.0, cy)
    shape = np.exp(-((g.x[None] - ox) ** 2 + (g.y[None] - oy) ** 2) / (2 * sigma**2))
    shape /= np.stack(
        [np.add.reduceat(shape, det.layer_offsets[:-1], axis=1)[:, i] for i in layer], axis=1
    )
    showers = vis[:, None] * long[:, layer] * shape
    showers *= rng.gamma(20.0, 1 / 20.0, showers.shape)
    showers[showers < 1e-6 * e[:, None]] = 0.0
    if noise > 0:
        showers += rng.exponential(noise, showers.shape)
    return (scale * showers).astype(np.float32), Conditions.create(
        e, "gamma", (0.0, 0.0, 1.0), (2.5, 2.5, 0.0)
    )


def small_detector(kind: str) -> Detector:
    """Tiny two-layer detectors of each segmentation, for hand-computed observables."""
    seg = {
        "cartesian": {
            "segmentation": "cartesian",
            "nx": 2,
            "ny": 2,
            "cell_x": 10.0,
            "cell_y": 10.0,
        },
        "cylindrical": {"segmentation": "cylindrical", "n_alpha": 4, "r_edges": [0.0, 10.0, 20.0]},
        "hexagonal": {"segmentation": "hexagonal", "n_cols": 2, "n_rows": 2, "side": 10.0},
    }[kind]
    return detector_from_dict(
        {
            "name": f"toy-{kind}",
            "size_x": 100.0,
            "size_y": 100.0,
            "layers": [
                {
                    "absorber": "Pb",
                    "absorber_thickness": 2.0,
                    "active": "LAr",
                    "active_thickness": 4.0,
                    "repeat": 2,
                }
            ],
            "readout": [{"group": 1, "repeat": 2, **seg}],
        }
    )
