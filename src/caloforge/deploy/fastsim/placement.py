"""Placing a fast shower along its track on readouts fixed in the detector frame (no Geant4).

A model that is not conditioned on the direction (no ``theta``/``phi`` feature) or on the
impact point (no ``impact_x``/``impact_y``) generates its shower as at its training
conditions: along z, entering at the centre of its trained impact range. The shower of a
track entering elsewhere or at an angle is then moved, readout layer by readout layer, to
where the track crosses that layer: by ``impact - trained centre`` (when the impact is not
a feature) plus ``depth x (dx/dz, dy/dz)`` (when the direction is not), ``depth`` being
the depth of the layer's centre behind the front face. Each cell's energy goes to the
cell that holds its shifted centre (energy leaving the readout is lost, as in full
simulation). Particle-centred (cylindrical) meshes follow the track already and are left
as they are.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from caloforge.geometry import CylindricalSegmentation, Detector

DIRECTION_FEATURES = frozenset({"theta", "phi"})
IMPACT_FEATURES = frozenset({"impact_x", "impact_y"})


def layer_depths(detector: Detector) -> NDArray[np.float64]:
    """Depth (mm) of the centre of each readout layer behind the front face."""
    start = np.concatenate([[0.0], np.cumsum([la.thickness for la in detector.layers])])
    return np.array([0.5 * (start[r.first] + start[r.last + 1]) for r in detector.readout])


def layer_offsets(
    detector: Detector,
    direction: NDArray[np.float64],
    impact: NDArray[np.float64],
    reference: tuple[float, float] | None,
    *,
    along_direction: bool,
) -> NDArray[np.float64]:
    """(N, n_layers, 2) transverse shift (mm) of each track's shower in each readout layer.

    Arguments:
        direction: (N, 3) unit directions. impact: (N, 2 or 3) front-face impact points.
        reference: the impact point the model's showers enter at (None: the model is
            conditioned on the impact, no shift for it).
        along_direction: shift along the direction (the model does not know it).
    """
    d = np.asarray(direction, dtype=np.float64).reshape(-1, 3)
    out = np.zeros((len(d), detector.n_layers, 2))
    if reference is not None:
        xy = np.asarray(impact, dtype=np.float64).reshape(len(d), -1)[:, :2]
        out += (xy - np.asarray(reference))[:, None, :]
    if along_direction:
        slope = d[:, :2] / d[:, 2:3]
        out += slope[:, None, :] * layer_depths(detector)[None, :, None]
    return out


def place_showers(
    showers: NDArray[np.float32], detector: Detector, offsets: NDArray[np.float64]
) -> NDArray[np.float32]:
    """Showers (N, n_voxels) with readout layer ``l`` of shower ``i`` moved by
    ``offsets[i, l]`` (mm); unchanged on particle-centred meshes."""
    if not offsets.any():
        return showers
    out = np.zeros_like(showers)
    sl = detector.layer_slices
    for layer, ro in enumerate(detector.readout):
        seg = ro.segmentation
        if isinstance(seg, CylindricalSegmentation):
            out[:, sl[layer]] = showers[:, sl[layer]]
            continue
        centres = seg.cell_centres()  # (n_cells, 2)
        pos = centres[None, :, :] + offsets[:, layer, None, :]  # (N, n_cells, 2)
        target = seg.cell_index(pos[..., 0], pos[..., 1])  # (N, n_cells), -1 outside
        block = showers[:, sl[layer]]
        rows = np.broadcast_to(np.arange(len(showers))[:, None], target.shape)
        keep = target >= 0
        dest = out[:, sl[layer]]
        np.add.at(dest, (rows[keep], target[keep]), block[keep])
        out[:, sl[layer]] = dest
    return out


__all__ = ["layer_depths", "layer_offsets", "place_showers"]
