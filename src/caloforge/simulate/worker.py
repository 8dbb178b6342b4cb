"""The Geant4 application that runs inside one worker process.

Geant4 allows one run manager per process, so each worker process builds one
application (:func:`init_worker`) and then simulates chunks of events
(:func:`run_chunk`). The process that calls :func:`caloforge.simulate.simulate` never
imports Geant4. Python is called once per event (primary generation and end of event);
the energy is scored by Geant4's own scorers, except in the ``steps`` scoring mode, whose
sensitive detector is a Python call per step in the active material
(:mod:`caloforge.simulate.step_scoring`).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from caloforge.simulate.config import EventBatch, SimulationConfig
from caloforge.simulate.g4data import G4DataSetup, apply_environment
from caloforge.simulate.geometry_builder import (
    ABSORBER_HC,
    ACTIVE_HC,
    READOUT_WORLD,
    make_detector_construction,
)
from caloforge.simulate.scoring import FineGrid, StepBinner, VoxelMapper, make_grid

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker needs to build its Geant4 application (picklable).

    Arguments:
        config: the run configuration.
        setup: the resolved Geant4 data setup.
        pitch: fine scoring pitch, mm.
        quiet: send Geant4's standard output to /dev/null.
    """

    config: SimulationConfig
    setup: G4DataSetup
    pitch: float
    quiet: bool = True


@dataclass
class ChunkResult:
    """Per-event outputs of one chunk (arrays in event order)."""

    index: NDArray[np.int64]
    showers: NDArray[np.float32]
    energy_active: NDArray[np.float64]
    energy_absorber: NDArray[np.float64]
    energy_leaked: NDArray[np.float64]
    cpu_time: NDArray[np.float64]
    energy_escaped: NDArray[np.float64] | None = None
    fastsim_fast: NDArray[np.int64] | None = None
    fastsim_full: NDArray[np.int64] | None = None
    time_primary: NDArray[np.float64] | None = None
    time_stacking: NDArray[np.float64] | None = None
    time_model: NDArray[np.float64] | None = None
    time_deposit: NDArray[np.float64] | None = None


def physics_list(g4: Any, name: str, cut: float) -> Any:
    """The Geant4 physics list ``name`` (:data:`~caloforge.simulate.config.PHYSICS_LISTS`)
    with the production cut ``cut`` (mm); ``g4`` is the ``geant4_pybind`` module."""
    if name.startswith("FTFP_BERT"):
        physics = g4.FTFP_BERT()
        if name == "FTFP_BERT_EMZ":
            physics.ReplacePhysics(g4.G4EmStandardPhysics_option4())
    else:
        physics = g4.G4VModularPhysicsList()
        em = g4.G4EmStandardPhysics_option4() if name == "em_opt4" else g4.G4EmStandardPhysics()
        physics.RegisterPhysics(em)
    physics.SetDefaultCutValue(cut * g4.mm)
    return physics


def shoot(g4: Any, event: Any, gun: Any, definition: Any, batch: EventBatch, j: int) -> None:
    """Seed Geant4 for event ``j`` of ``batch`` and shoot its particle (``definition``)
    from its gun position into ``event`` (everything set per event: a mixture is shot
    within one run)."""
    g4.HepRandom.setTheSeed(int(batch.g4_seed[j]))
    gun.SetParticleDefinition(definition)
    gun.SetParticleEnergy(float(batch.energy[j]) * g4.MeV)
    gun.SetParticleMomentumDirection(g4.G4ThreeVector(*map(float, batch.direction[j])))
    gun.SetParticlePosition(g4.G4ThreeVector(*(float(v) * g4.mm for v in batch.position[j])))
    gun.GeneratePrimaryVertex(event)


class Geant4App:
    """One serial Geant4 run manager with the detector, physics and per-event readout."""

    def __init__(self, spec: WorkerSpec) -> None:
        apply_environment(spec.setup)  # must precede the import (it prompts otherwise)
        import geant4_pybind as g4

        self.g4: Any = g4
        cfg = spec.config
        det = cfg.det
        self.det = det
        self.grid: FineGrid = make_grid(det, spec.pitch)
        self.mapper = VoxelMapper(det, self.grid)
        self.binner = StepBinner(det, self.grid) if cfg.resolved_scoring == "steps" else None
        self.batch: EventBatch | None = None
        self.rows: list[list[Any]] = []  # voxels, e_active, e_absorber, cpu, escaped
        self._t0 = 0.0
        self.measure_leakage = cfg.measure_leakage
        self._escaped = 0.0
        self.seed = cfg.seed
        self.fastsim: Any = None
        self._definitions: dict[int, Any] = {}
        self.fast_counts: list[tuple[int, int]] = []
        self.fast_times: list[list[float]] = []  # primary, stacking, model, deposit
        self._t_primary = 0.0
        if cfg.fastsim is not None:
            from caloforge.deploy.fastsim.hook import FastSimHook

            self.fastsim = FastSimHook(cfg.fastsim, det, seed=cfg.seed, batch=cfg.fastsim_batch)

        ui = g4.G4UImanager.GetUIpointer()
        for cmd in (
            "/control/verbose 0",
            "/run/verbose 0",
            "/event/verbose 0",
            "/tracking/verbose 0",
        ):
            ui.ApplyCommand(cmd)
        self.run_manager = g4.G4RunManagerFactory.CreateRunManager(g4.G4RunManagerType.Serial)
        self.detector_construction = make_detector_construction(
            g4, det, self.grid, cfg.start_distance, cfg.resolved_scoring
        )
        self.run_manager.SetUserInitialization(self.detector_construction)
        self.physics = physics_list(g4, cfg.resolved_physics, cfg.resolved_cut)
        if cfg.resolved_scoring == "parallel":  # the readout cells' world (its walls end steps)
            self.physics.RegisterPhysics(g4.G4ParallelWorldPhysics(READOUT_WORLD, False))
        self.run_manager.SetUserInitialization(self.physics)
        self.actions = self._actions()
        self.run_manager.SetUserInitialization(self.actions)
        for cmd in ("/process/em/verbose 0", "/process/had/verbose 0"):
            ui.ApplyCommand(cmd)
        self.run_manager.Initialize()
        sdm = g4.G4SDManager.GetSDMpointer()
        self.active_id = sdm.GetCollectionID(ACTIVE_HC) if self.binner is None else -1
        self.absorber_id = (
            sdm.GetCollectionID(ABSORBER_HC)
            if any(la.absorber_thickness > 0 for la in det.layers)
            else -1
        )

    # ---- construction ---------------------------------------------------------------------
    def _actions(self) -> Any:
        g4: Any = self.g4
        app = self

        class Primary(g4.G4VUserPrimaryGeneratorAction):
            def __init__(self) -> None:
                super().__init__()
                self.gun = g4.G4ParticleGun(1)

            def GeneratePrimaries(self, event: Any) -> None:
                app.begin_event(event, self.gun)

        class EventAction(g4.G4UserEventAction):
            def EndOfEventAction(self, event: Any) -> None:
                app.end_event(event)

        positron_mass2 = 2 * g4.electron_mass_c2

        class Tracking(g4.G4UserTrackingAction):
            def PostUserTrackingAction(self, track: Any) -> None:
                if track.GetNextVolume() is None:  # left the world
                    extra = positron_mass2 if track.GetDefinition().GetPDGEncoding() == -11 else 0.0
                    app._escaped += track.GetKineticEnergy() + extra

        class Actions(g4.G4VUserActionInitialization):
            def Build(self) -> None:
                self.SetUserAction(Primary())
                self.SetUserAction(EventAction())
                if app.measure_leakage:
                    self.SetUserAction(Tracking())
                if app.fastsim is not None:
                    self.SetUserAction(app.fastsim.stacking_action(g4))

        return Actions()

    # ---- per event ------------------------------------------------------------------------
    def begin_event(self, event: Any, gun: Any) -> None:
        """Seed Geant4 for this event and shoot its particle (set per event: a mixture
        is shot within one run)."""
        assert self.batch is not None
        j = event.GetEventID()
        self._t0 = time.process_time()
        self._escaped = 0.0
        self.detector_construction.step_record.clear()
        if self.fastsim is not None:
            self.fastsim.begin_event(int(self.batch.index[j]))
        definition = self._definition(int(self.batch.particle[j]))
        shoot(self.g4, event, gun, definition, self.batch, j)
        self._t_primary = time.process_time() - self._t0

    def _definition(self, pdg: int) -> Any:
        if pdg not in self._definitions:
            found = self.g4.G4ParticleTable.GetParticleTable().FindParticle(pdg)
            if found is None:
                raise RuntimeError(f"Geant4 has no particle with PDG code {pdg}")
            self._definitions[pdg] = found
        return self._definitions[pdg]

    def _active_cells(self, hce: Any) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """(fine cells, energy per cell) of the event: its hits map, or its steps binned."""
        if self.binner is not None:
            return self.binner.cells(*self.detector_construction.step_record.take())
        pairs = list(hce.GetHC(self.active_id))
        if not pairs:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        cells = np.fromiter((k for k, _ in pairs), dtype=np.int64, count=len(pairs))
        edep = np.fromiter((v for _, v in pairs), dtype=np.float64, count=len(pairs))
        return cells, edep

    def end_event(self, event: Any) -> None:
        """Read the hits maps (or the recorded steps) once and sum the fine cells into
        readout voxels."""
        assert self.batch is not None
        j = event.GetEventID()
        t_read = time.process_time()
        hce = event.GetHCofThisEvent()
        cells, edep = self._active_cells(hce)
        e_abs = 0.0
        if self.absorber_id >= 0:
            e_abs = float(sum(v for _, v in hce.GetHC(self.absorber_id)))
        voxels = self.mapper.voxels(cells, edep, self.batch.impact[j], self.batch.direction[j])
        e_act = float(edep.sum())
        t_end = time.process_time()
        self.rows.append([voxels, e_act, e_abs, t_end - self._t0, self._escaped])
        if self.fastsim is not None:  # the model's showers: queued, added when generated
            self.fast_counts.append(self.fastsim.end_event(len(self.rows) - 1))
            stacking = self.fastsim.cpu_stacking
            self.fast_times.append([self._t_primary, stacking, 0.0, t_end - t_read])
            if self.fastsim.ready():
                self._add_fast_showers()

    def _add_fast_showers(self) -> None:
        """Generate the pending fast showers (one model call) and complete their events."""
        for ev in self.fastsim.flush():
            row, times = self.rows[ev.row], self.fast_times[ev.row]
            row[0] = row[0] + ev.energies
            row[3] += ev.cpu_model + ev.cpu_deposit
            times[2] += ev.cpu_model
            times[3] += ev.cpu_deposit

    # ---- per chunk ------------------------------------------------------------------------
    def run(self, batch: EventBatch) -> ChunkResult:
        """Simulate the events of ``batch`` (one Geant4 run)."""
        self.batch = batch
        self.rows = []
        self.fast_counts = []
        self.fast_times = []
        self.run_manager.BeamOn(len(batch))
        if self.fastsim is not None:
            self._add_fast_showers()  # the chunk's last, partial batch
        if len(self.rows) != len(batch):
            raise RuntimeError(f"Geant4 simulated {len(self.rows)} of {len(batch)} events")
        showers = (
            np.stack([r[0] for r in self.rows])
            if self.rows
            else np.zeros((0, self.det.n_voxels), np.float32)
        )
        e_act = np.array([r[1] for r in self.rows])
        counts = (
            np.array(self.fast_counts, dtype=np.int64).reshape(-1, 2)
            if self.fastsim is not None
            else None
        )
        e_abs = np.array([r[2] for r in self.rows])
        times = (
            np.array(self.fast_times, dtype=np.float64).reshape(-1, 4)
            if self.fastsim is not None
            else None
        )
        return ChunkResult(
            index=batch.index,
            showers=showers.astype(np.float32),
            energy_active=e_act,
            energy_absorber=e_abs,
            energy_leaked=batch.energy - e_act - e_abs,
            cpu_time=np.array([r[3] for r in self.rows]),
            energy_escaped=np.array([r[4] for r in self.rows]) if self.measure_leakage else None,
            fastsim_fast=counts[:, 0] if counts is not None else None,
            fastsim_full=counts[:, 1] if counts is not None else None,
            time_primary=times[:, 0] if times is not None else None,
            time_stacking=times[:, 1] if times is not None else None,
            time_model=times[:, 2] if times is not None else None,
            time_deposit=times[:, 3] if times is not None else None,
        )


def quiet_stdout() -> None:
    """Send this process's fd 1 to /dev/null: Geant4 prints its banner and tables there
    (its errors go to fd 2, which is kept)."""
    sys.stdout.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)


_APP: Geant4App | None = None


def _exit_with_parent(interval: float = 1.0) -> None:
    """Leave when the parent process dies (a killed run must not leave Geant4 orphans)."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(interval)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="caloforge-parent-watch", daemon=True).start()


def init_worker(spec: WorkerSpec) -> None:
    """Process-pool initializer: build this process's Geant4 application."""
    global _APP
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it stops the pool
    _exit_with_parent()
    if spec.quiet:
        quiet_stdout()
    _APP = Geant4App(spec)


def run_chunk(batch: EventBatch) -> ChunkResult:
    """Simulate one chunk in this worker process (after :func:`init_worker`)."""
    if _APP is None:
        raise RuntimeError("run_chunk called in a process without a Geant4 application")
    return _APP.run(batch)
