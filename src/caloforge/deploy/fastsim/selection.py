"""Which new tracks the model simulates, and the per-event buffer of their showers (no Geant4).

A new track is *handed to the model* (fast simulation) when it

* starts upstream of the calorimeter front face (``z < z_front``; the region in front is
  vacuum, so its straight line is its path) and moves towards it (``direction_z > 0``);
* hits the front face inside the detector's transverse size when extrapolated along a
  straight line (the impact point);
* is of a particle type, energy, polar angle and impact point inside the range the model
  was trained on (:class:`caloforge.deploy.runtime.TrainedRange`, stored at export); the
  angle only when the model is conditioned on the direction, the impact point only when
  it is conditioned on it: otherwise any angle below 90 degrees and any point of the front
  face are taken, and the shower is placed along the track
  (:mod:`caloforge.deploy.fastsim.placement`).

Tracks that start upstream and head into the calorimeter but fail the last test fall
back to full simulation and are counted as such. On detectors whose readout mesh is
centred on the particle (cylindrical), only one particle per event is supported: the
event's first primary (track 1); everything else is left to full simulation.

All of it is plain python/numpy, called once per new track (no per-step call).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from caloforge.data import Conditions
from caloforge.deploy.runtime import OnnxGenerator, TrainedRange
from caloforge.geometry import Detector


@dataclass(frozen=True)
class Candidate:
    """A track handed to the model: PDG code, kinetic energy (MeV), unit direction and
    impact point on the front face (mm)."""

    pdg: int
    energy: float
    direction: tuple[float, float, float]
    impact: tuple[float, float, float]


def front_face_impact(
    position: tuple[float, float, float],
    direction: tuple[float, float, float],
    z_front: float = 0.0,
) -> tuple[float, float, float] | None:
    """Straight-line extrapolation of a track to the plane ``z = z_front``; ``None`` when
    it starts downstream of it or does not move towards it."""
    x, y, z = position
    dx, dy, dz = direction
    if z >= z_front or dz <= 0.0:
        return None
    t = (z_front - z) / dz
    return (x + t * dx, y + t * dy, z_front)


@dataclass
class Selector:
    """The decision of :mod:`caloforge.deploy.fastsim.selection` (see there), with counters.

    Arguments:
        trained: the model's trained range. half_x / half_y: half transverse size of the
        front face, mm. particle_centred: readout mesh centred on the particle (one fast
        particle per event: the first primary). z_front: front face position, mm.
        free_direction / free_impact: the model is not conditioned on the direction / the
        impact point: any is taken (the shower is placed along the track).
    """

    trained: TrainedRange
    half_x: float
    half_y: float
    particle_centred: bool = False
    z_front: float = 0.0
    free_direction: bool = False
    free_impact: bool = False
    fast: list[Candidate] = field(default_factory=list)
    n_full: int = 0
    _pdgs: frozenset[int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._pdgs = frozenset(self.trained.particles)

    def begin_event(self) -> None:
        self.fast = []
        self.n_full = 0

    def consider(
        self,
        pdg: int,
        energy: float,
        position: tuple[float, float, float],
        direction: tuple[float, float, float],
        *,
        primary_first: bool = True,
    ) -> bool:
        """Decide one new track; True: the model takes it (the caller kills the track).

        Arguments:
            primary_first: the track is the event's first primary (track ID 1).
        """
        impact = front_face_impact(position, direction, self.z_front)
        if impact is None or abs(impact[0]) > self.half_x or abs(impact[1]) > self.half_y:
            return False  # not entering the calorimeter from the front: not our business
        ok = pdg in self._pdgs and (primary_first or not self.particle_centred)
        if ok:
            r = self.trained
            theta = math.acos(max(-1.0, min(1.0, direction[2])))
            ok = (
                r.energy[0] * (1 - 1e-9) <= energy <= r.energy[1] * (1 + 1e-9)
                and (self.free_direction or r.theta[0] - 1e-6 <= theta <= r.theta[1] + 1e-6)
                and (
                    self.free_impact
                    or (
                        r.impact_x[0] - 1e-3 <= impact[0] <= r.impact_x[1] + 1e-3
                        and r.impact_y[0] - 1e-3 <= impact[1] <= r.impact_y[1] + 1e-3
                    )
                )
            )
        if self.particle_centred and self.fast:
            ok = False  # one particle per event on particle-centred meshes
        if ok:
            self.fast.append(Candidate(pdg, energy, direction, impact))
        else:
            self.n_full += 1
        return ok

    def conditions(self) -> Conditions:
        """The conditions of this event's fast-simulated tracks."""
        c = self.fast
        return Conditions(
            np.array([t.energy for t in c], dtype=np.float64),
            np.array([t.pdg for t in c], dtype=np.int64),
            np.array([t.direction for t in c], dtype=np.float64).reshape(-1, 3),
            np.array([t.impact for t in c], dtype=np.float64).reshape(-1, 3),
        )


def event_showers(
    generator: OnnxGenerator, conditions: Conditions, rng: np.random.Generator
) -> NDArray[np.float32]:
    """The summed readout energies (n_voxels,) of one event's fast-simulated tracks,
    generated in one batch (zeros when there are none)."""
    if len(conditions) == 0:
        return np.zeros(generator.n_voxels, dtype=np.float32)
    return generator.sample(conditions, rng).sum(axis=0, dtype=np.float64).astype(np.float32)


def selector_for(
    detector: Detector, trained: TrainedRange, features: tuple[str, ...] | None = None
) -> Selector:
    """The selector of a detector (its front face, z = 0, and transverse size) for a model
    with condition ``features`` (None: conditioned on everything, ranges checked)."""
    from caloforge.deploy.fastsim.placement import DIRECTION_FEATURES, IMPACT_FEATURES
    from caloforge.geometry import CylindricalSegmentation

    centred = any(isinstance(r.segmentation, CylindricalSegmentation) for r in detector.readout)
    names = set(features) if features is not None else DIRECTION_FEATURES | IMPACT_FEATURES
    return Selector(
        trained,
        detector.size_x / 2,
        detector.size_y / 2,
        particle_centred=centred,
        free_direction=not names & DIRECTION_FEATURES,
        free_impact=not names & IMPACT_FEATURES,
    )


__all__ = ["Candidate", "Selector", "event_showers", "front_face_impact", "selector_for"]
