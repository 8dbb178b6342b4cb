"""The simulation configuration and the per-event conditions derived from it.

Every event's conditions and its Geant4 random seed are a function of
``(config.seed, event index)`` only, so that the output does not depend on the number of
workers, the chunk size, sharding or interruptions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from caloforge.data.distributions import ConditionSpec, EnergySpec, condition_spec
from caloforge.deploy.fastsim.hook import DEFAULT_BATCH
from caloforge.geometry import SCORING_MODES, Detector, ScoringMode, detector_to_dict, load_detector

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
        particle: ``"e-"``, ``"e+"``, ``"gamma"``, ``"pi+"``, ``"pi-"`` or a per-event mixture
            (``"gamma,e-,e+"``, ``"gamma:0.5,e-:0.25,e+:0.25"``); ``None``: the detector's gun.
        energy: energy distribution (see :mod:`caloforge.data.distributions`).
        n: number of events.
        seed: run seed; event ``i`` uses seeds derived from ``(seed, i)``.
        workers: worker processes (one Geant4 run manager each).
        theta, phi: incidence angles in degrees, numbers or distribution strings
            (``"uniform:0,20"``); ``theta=None``: the gun's direction.
        impact: impact point on the front face z = 0, mm: ``(x, y)``, ``"x,y"`` or a
            distribution string per axis (``"uniform:-20,20"``, ``"DISTX/DISTY"``);
            ``None``: from the gun.
        impact_spread: full width of the square over which a fixed impact point is
            spread uniformly, mm (0: fixed).
        physics: physics list (see :data:`PHYSICS_LISTS`); ``None``: the detector's,
            upgraded to FTFP_BERT for hadrons.
        production_cut: range cut, mm (``None``: the detector's).
        scoring_pitch: fine scoring grid pitch, mm (``None``: detector's or automatic).
        scoring: where the readout cells are scored: ``"replica"`` (replicas inside every
            active layer of the mass geometry), ``"parallel"`` (a parallel world; the mass
            geometry holds one volume per material block: no readout boundary, about 1.6-1.9x
            the CPU time) or ``"steps"`` (no readout volume anywhere: the mass geometry of
            ``"parallel"``, each step's deposit binned into the same fine cells by its
            midpoint, a Python call per step in the active material); see
            :mod:`caloforge.simulate.geometry_builder`. ``None``: the detector's
            (``physics.scoring``).
        chunk_size: events per chunk (the unit of work, of resumption and of memory).
        g4_data: directory with the official Geant4 data sets (``None``: automatic).
        approximate_hadronic: allow hadrons in offline mode with placeholder data.
        shard: ``(k, N)``: simulate only the events ``i`` with ``i % N == k``.
        measure_leakage: validation: also record ``energy_escaped``, the energy carried
            out of the world by particles (one Python call per track; slower).
        fastsim: an exported ``.onnx`` model (``caloforge export``) that replaces the full
            shower of the particles it was trained for (:mod:`caloforge.deploy.fastsim`).
        fastsim_batch: tracks handed to the model that are collected (over many events)
            before one model call; the output does not depend on it.
    """

    detector: Detector | str | Path
    particle: str | None = None
    energy: str | float = "10GeV"
    n: int = 100
    seed: int = 1
    workers: int = 1
    theta: float | str | None = None
    phi: float | str = 0.0
    impact: tuple[float, float] | str | None = None
    impact_spread: float = 0.0
    physics: str | None = None
    production_cut: float | None = None
    scoring_pitch: float | None = None
    scoring: ScoringMode | None = None
    chunk_size: int = 100
    g4_data: str | Path | None = None
    approximate_hadronic: bool = False
    shard: tuple[int, int] | None = None
    measure_leakage: bool = False
    fastsim: str | Path | None = None
    fastsim_batch: int = DEFAULT_BATCH
    _conditions: ConditionSpec = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.detector, Detector):
            object.__setattr__(self, "detector", load_detector(self.detector))
        spec = condition_spec(
            self.det,
            energy=self.energy,
            particle=self.particle,
            theta=self.theta,
            phi=self.phi,
            impact=self.impact,
            impact_spread=self.impact_spread,
        )
        object.__setattr__(self, "_conditions", spec)
        for name in ("n", "workers", "chunk_size", "fastsim_batch"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r} must be an integer >= 1")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed={self.seed!r} must be a non-negative integer")
        if self.physics is not None and self.physics not in PHYSICS_LISTS:
            raise ValueError(f"physics={self.physics!r} is not one of {', '.join(PHYSICS_LISTS)}")
        if self.production_cut is not None and self.production_cut <= 0:
            raise ValueError(f"production_cut={self.production_cut!r} must be > 0 mm")
        if self.scoring_pitch is not None and self.scoring_pitch <= 0:
            raise ValueError(f"scoring_pitch={self.scoring_pitch!r} must be > 0 mm")
        if self.scoring is not None and self.scoring not in SCORING_MODES:
            raise ValueError(f"scoring={self.scoring!r} is not one of {', '.join(SCORING_MODES)}")
        if self.shard is not None:
            k, m = self.shard
            if not (isinstance(k, int) and isinstance(m, int) and m >= 1 and 0 <= k < m):
                raise ValueError(f"shard={self.shard!r} must be (k, N) with 0 <= k < N")
        if self.fastsim is not None:
            from caloforge.deploy.fastsim import check_model

            check_model(self.fastsim, self.det, spec)
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
    def conditions(self) -> ConditionSpec:
        """The distributions of the events' conditions."""
        return self._conditions

    @property
    def energy_spec(self) -> EnergySpec:
        return self._conditions.energy

    @property
    def particle_name(self) -> str:
        """The particle, or the mixture as written (``"gamma,e-,e+"``)."""
        return self.particle if self.particle is not None else self.det.gun.particle

    @property
    def particle_names(self) -> tuple[str, ...]:
        """Every particle this run shoots."""
        return self._conditions.particles.names

    @property
    def is_hadronic(self) -> bool:
        return any(p in HADRONS for p in self.particle_names)

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
    def resolved_scoring(self) -> ScoringMode:
        """The scoring mode: the one given, else the detector's."""
        return self.scoring if self.scoring is not None else self.det.physics.scoring

    @property
    def start_distance(self) -> float:
        """Distance from the gun to the impact point along the track, mm: the gun starts
        inside the world (upstream of the front face, at most this far off the axis)
        whatever the angle."""
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
        # the run's mode is `scoring` (resolved below), the detector's default left out: a
        # run has one description (and resume key) whether it names its mode or not
        out["detector"] = detector_to_dict(self.det, scoring=False)
        out["particle"] = self.particle_name
        out["physics"] = self.resolved_physics
        out["production_cut"] = self.resolved_cut
        out["energy"] = self.energy_spec.text
        out["g4_data"] = str(self.g4_data) if self.g4_data is not None else None
        if self.fastsim is None:
            del out["fastsim"]  # full simulation: same description (and resume key) as before
            del out["fastsim_batch"]
        out["scoring"] = self.resolved_scoring
        if out["scoring"] == "replica":
            del out["scoring"]  # the former layout: same description (and resume key) as before
        return out


@dataclass(frozen=True)
class EventBatch:
    """Per-event inputs for a chunk of events (all arrays of the same length).

    Arguments:
        index: global event indices.
        energy: kinetic energy, MeV.
        particle: PDG code.
        direction: (n, 3) unit direction.
        impact: (n, 3) impact point on the front face (z = 0), mm.
        position: (n, 3) gun start position, mm.
        g4_seed: Geant4 seed of each event.
    """

    index: NDArray[np.int64]
    energy: NDArray[np.float64]
    particle: NDArray[np.int64]
    direction: NDArray[np.float64]
    impact: NDArray[np.float64]
    position: NDArray[np.float64]
    g4_seed: NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.index)


def event_batch(config: SimulationConfig, indices: NDArray[np.int64]) -> EventBatch:
    """Conditions and seeds of the events ``indices``: a pure function of (seed, index)."""
    cond, seeds = config.conditions.draw(config.seed, indices)
    position = cond.impact - cond.direction * config.start_distance
    return EventBatch(
        np.asarray(indices, dtype=np.int64),
        cond.energy,
        cond.particle,
        cond.direction,
        cond.impact,
        position,
        seeds,
    )
