"""The simulation configuration and the per-event conditions derived from it.

Every event's conditions and its Geant4 random seed are a function of
``(config.seed, event index)`` only, so that the output does not depend on the number of
workers, the chunk size, sharding or interruptions.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from caloforge.data.conditions import PDG_CODES
from caloforge.geometry import Detector, detector_to_dict, load_detector
from caloforge.simulate.energy import EnergySpec, parse_energy

PARTICLES = ("e-", "e+", "gamma", "pi+", "pi-")
"""Particles the Geant4 backend can shoot."""
HADRONS = ("pi+", "pi-")
PHYSICS_LISTS = ("em_opt0", "em_opt4", "FTFP_BERT", "FTFP_BERT_EMZ")
"""``em_opt*``: G4EmStandardPhysics(_option4) alone; ``FTFP_BERT(_EMZ)``: hadronic list
with EM option 0 (4)."""


@dataclass(frozen=True)
class SimulationConfig:
    """Everything that defines a full-simulation run.

    Arguments:
        detector: a :class:`~caloforge.geometry.Detector`, a preset name or a file.
        particle: ``"e-"``, ``"e+"``, ``"gamma"``, ``"pi+"``, ``"pi-"``; ``None``: the
            detector's gun.
        energy: energy specification (see :mod:`caloforge.simulate.energy`).
        n: number of events.
        seed: run seed; event ``i`` uses seeds derived from ``(seed, i)``.
        workers: worker processes (one Geant4 run manager each).
        theta, phi: incidence angles in degrees (``None``: the gun's direction).
        impact: (x, y) impact point on the front face z = 0, mm (``None``: from the gun).
        impact_spread: full width of the square over which the impact point is spread
            uniformly, mm (0: fixed).
        physics: physics list (see :data:`PHYSICS_LISTS`); ``None``: the detector's,
            upgraded to FTFP_BERT for hadrons.
        production_cut: range cut, mm (``None``: the detector's).
        scoring_pitch: fine scoring grid pitch, mm (``None``: detector's or automatic).
        chunk_size: events per chunk (the unit of work, of resumption and of memory).
        g4_data: directory with the official Geant4 data sets (``None``: automatic).
        approximate_hadronic: allow hadrons in offline mode with placeholder data.
        shard: ``(k, N)``: simulate only the events ``i`` with ``i % N == k``.
        measure_leakage: validation: also record ``energy_escaped``, the energy carried
            out of the world by particles (one Python call per track; slower).
        fastsim: an exported ``.onnx`` model (``caloforge export``) that replaces the full
            shower of the particles it was trained for (:mod:`caloforge.fastsim`).
    """

    detector: Detector | str | Path
    particle: str | None = None
    energy: str | float = "10GeV"
    n: int = 100
    seed: int = 1
    workers: int = 1
    theta: float | None = None
    phi: float = 0.0
    impact: tuple[float, float] | None = None
    impact_spread: float = 0.0
    physics: str | None = None
    production_cut: float | None = None
    scoring_pitch: float | None = None
    chunk_size: int = 100
    g4_data: str | Path | None = None
    approximate_hadronic: bool = False
    shard: tuple[int, int] | None = None
    measure_leakage: bool = False
    fastsim: str | Path | None = None
    _spec: EnergySpec = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.detector, Detector):
            object.__setattr__(self, "detector", load_detector(self.detector))
        object.__setattr__(self, "_spec", parse_energy(self.energy))
        if self.particle is not None and self.particle not in PARTICLES:
            raise ValueError(
                f"particle {self.particle!r} is not supported; use one of {', '.join(PARTICLES)}"
            )
        if self.particle_name not in PARTICLES:
            raise ValueError(
                f"gun particle {self.particle_name!r} is not supported; "
                f"use one of {', '.join(PARTICLES)}"
            )
        for name in ("n", "workers", "chunk_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < (0 if name == "n" else 1):
                raise ValueError(
                    f"{name}={value!r} must be an integer >= {0 if name == 'n' else 1}"
                )
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed={self.seed!r} must be a non-negative integer")
        if self.theta is not None and not 0.0 <= self.theta < 90.0:
            raise ValueError(f"theta={self.theta!r} must be in [0, 90) degrees")
        if self.impact_spread < 0:
            raise ValueError(f"impact_spread={self.impact_spread!r} must be >= 0 mm")
        if self.physics is not None and self.physics not in PHYSICS_LISTS:
            raise ValueError(f"physics={self.physics!r} is not one of {', '.join(PHYSICS_LISTS)}")
        if self.production_cut is not None and self.production_cut <= 0:
            raise ValueError(f"production_cut={self.production_cut!r} must be > 0 mm")
        if self.scoring_pitch is not None and self.scoring_pitch <= 0:
            raise ValueError(f"scoring_pitch={self.scoring_pitch!r} must be > 0 mm")
        if self.shard is not None:
            k, m = self.shard
            if not (isinstance(k, int) and isinstance(m, int) and m >= 1 and 0 <= k < m):
                raise ValueError(f"shard={self.shard!r} must be (k, N) with 0 <= k < N")
        if self.fastsim is not None:
            from caloforge.fastsim import check_model

            check_model(self.fastsim, self.det)
            object.__setattr__(self, "fastsim", str(self.fastsim))
        if self.is_hadronic and self.resolved_physics.startswith("em_"):
            raise ValueError(
                f"particle {self.particle_name!r} needs a hadronic physics list, "
                f"not {self.physics!r}"
            )

    # ---- resolved values ------------------------------------------------------------------
    @property
    def det(self) -> Detector:
        assert isinstance(self.detector, Detector)
        return self.detector

    @property
    def energy_spec(self) -> EnergySpec:
        return self._spec

    @property
    def particle_name(self) -> str:
        return self.particle if self.particle is not None else self.det.gun.particle

    @property
    def is_hadronic(self) -> bool:
        return self.particle_name in HADRONS

    @property
    def resolved_physics(self) -> str:
        if self.physics is not None:
            return self.physics
        physics = self.det.physics.physics_list
        if self.is_hadronic and physics.startswith("em_"):
            return "FTFP_BERT_EMZ" if physics == "em_opt4" else "FTFP_BERT"
        return physics

    @property
    def resolved_cut(self) -> float:
        return (
            self.production_cut
            if self.production_cut is not None
            else self.det.physics.production_cut
        )

    @property
    def direction(self) -> NDArray[np.float64]:
        """Unit incidence direction."""
        if self.theta is None:
            d = np.asarray(self.det.gun.direction, dtype=np.float64)
            return d / np.linalg.norm(d)
        t, p = math.radians(self.theta), math.radians(self.phi)
        return np.array([math.sin(t) * math.cos(p), math.sin(t) * math.sin(p), math.cos(t)])

    @property
    def impact_centre(self) -> NDArray[np.float64]:
        """Centre of the impact point on the front face (x, y), mm."""
        if self.impact is not None:
            return np.asarray(self.impact, dtype=np.float64)
        pos = np.asarray(self.det.gun.position, dtype=np.float64)
        d = np.asarray(self.det.gun.direction, dtype=np.float64)
        if pos[2] >= 0 or d[2] <= 0:
            raise ValueError(
                f"detector {self.det.name!r}: the gun must start upstream (z < 0) and point to +z"
            )
        return pos[:2] + d[:2] * (-pos[2] / d[2])

    @property
    def start_distance(self) -> float:
        """Distance along z from the gun start plane to the front face, mm."""
        z0 = float(self.det.gun.position[2])
        return -z0 if z0 < 0 else 100.0

    def event_indices(self) -> NDArray[np.int64]:
        """Indices of the events of this run (of this shard)."""
        idx = np.arange(self.n, dtype=np.int64)
        if self.shard is not None:
            idx = idx[idx % self.shard[1] == self.shard[0]]
        return idx

    def to_dict(self) -> dict[str, Any]:
        """The resolved configuration (JSON-friendly), written into output files."""
        out = {k: v for k, v in asdict(self).items() if not k.startswith("_") and k != "detector"}
        out["detector"] = detector_to_dict(self.det)
        out["particle"] = self.particle_name
        out["physics"] = self.resolved_physics
        out["production_cut"] = self.resolved_cut
        out["energy"] = self.energy_spec.text
        out["g4_data"] = str(self.g4_data) if self.g4_data is not None else None
        if self.fastsim is None:
            del out["fastsim"]  # full simulation: same description (and resume key) as before
        return out


@dataclass(frozen=True)
class EventBatch:
    """Per-event inputs for a chunk of events (all arrays of the same length).

    Arguments:
        index: global event indices.
        energy: kinetic energy, MeV.
        direction: (n, 3) unit direction.
        impact: (n, 3) impact point on the front face (z = 0), mm.
        position: (n, 3) gun start position, mm.
        g4_seed: Geant4 seed of each event.
    """

    index: NDArray[np.int64]
    energy: NDArray[np.float64]
    direction: NDArray[np.float64]
    impact: NDArray[np.float64]
    position: NDArray[np.float64]
    g4_seed: NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.index)


def event_batch(config: SimulationConfig, indices: NDArray[np.int64]) -> EventBatch:
    """Conditions and seeds of the events ``indices``: a pure function of (seed, index)."""
    n = len(indices)
    energy = np.empty(n)
    impact = np.zeros((n, 3))
    seeds = np.empty(n, dtype=np.int64)
    centre = config.impact_centre
    d = config.direction
    for j, i in enumerate(indices):
        ss = np.random.SeedSequence([config.seed, int(i)])
        g4s, np_seed = ss.generate_state(2, dtype=np.uint32)
        seeds[j] = int(g4s) & 0x7FFFFFFF or 1
        rng = np.random.default_rng(int(np_seed))
        energy[j] = config.energy_spec.sample(rng, int(i))
        shift = rng.uniform(-0.5, 0.5, size=2) * config.impact_spread
        impact[j, :2] = centre + (shift if config.impact_spread > 0 else 0.0)
    direction = np.broadcast_to(d, (n, 3)).copy()
    position = impact - direction * (config.start_distance / d[2])
    return EventBatch(
        np.asarray(indices, dtype=np.int64), energy, direction, impact, position, seeds
    )


def particle_pdg(name: str) -> int:
    """PDG code of a supported particle name."""
    return PDG_CODES[name]
