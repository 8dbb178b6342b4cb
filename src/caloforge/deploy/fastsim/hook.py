"""The Geant4 side of fast simulation: a user stacking action, and showers generated in
batches that span events.

Runs inside a simulation worker process (:mod:`caloforge.simulate.worker`), which calls
:meth:`FastSimHook.begin_event` when it shoots an event, installs
:meth:`FastSimHook.stacking_action` (one Python call per new track, none per step: the
track is killed with ``fKill`` and recorded when :class:`~.selection.Selector` hands it to
the model), calls :meth:`FastSimHook.end_event` at the end of each event (its tracks join
the pending batch) and :meth:`FastSimHook.flush` whenever :meth:`FastSimHook.ready` says
the batch is full and at the end of its chunk of events: the showers of all pending tracks
are generated in one call of :class:`caloforge.deploy.runtime.OnnxGenerator` and each
event's sum is added to that event's scored full-simulation energy.

A track's noise depends only on (run seed, event index, index of the track among the
event's fast tracks) (:func:`caloforge.deploy.runtime.keyed_normal`), and each event's
showers are summed in track order, so the output does not depend on the batch size, the
chunking or the number of workers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from caloforge.data import Conditions
from caloforge.deploy.fastsim.placement import layer_offsets, place_showers
from caloforge.deploy.fastsim.selection import Candidate, selector_for
from caloforge.deploy.runtime import OnnxGenerator
from caloforge.geometry import Detector

DEFAULT_BATCH = 256
"""Tracks per model call (``--fastsim-batch``). Measured with
``benchmarks/fastsim_batch.py``: the model's time per shower falls steeply up to a few
hundred showers per call and is flat beyond, while the pending showers of a batch are
held in memory (``batch x n_voxels`` floats)."""


@dataclass(frozen=True)
class EventShowers:
    """The fast showers of one event, ready to add to its output.

    Arguments:
        row: the event's row in its chunk. energies: the summed readout energies of its
        fast tracks (n_voxels,), MeV. cpu_model: its share of the model's CPU time (by
        tracks), s. cpu_deposit: CPU time spent summing its showers, s.
    """

    row: int
    energies: NDArray[np.float32]
    cpu_model: float
    cpu_deposit: float


class FastSimHook:
    """Fast simulation of one worker process.

    Arguments:
        model: the exported ``.onnx`` model. detector: the simulated detector.
        seed: the run seed (with the event and track index, the key of a shower's noise).
        batch: tracks collected before one model call (they may span many events).
        threads: ONNX Runtime threads (1: in the calling thread, counted in ``cpu_time``).
    """

    def __init__(
        self,
        model: str | Path,
        detector: Detector,
        *,
        seed: int,
        batch: int = DEFAULT_BATCH,
        threads: int = 1,
    ) -> None:
        if not isinstance(batch, int) or batch < 1:
            raise ValueError(f"fastsim batch={batch!r} must be an integer >= 1")
        self.generator = OnnxGenerator(model, threads=threads)
        self.detector = detector
        features = self.generator.metadata.condition_features
        self.selector = selector_for(detector, self.generator.trained_range, features)
        self.seed = seed
        self.batch = batch
        self.event = 0
        self.cpu_stacking = 0.0
        self._pending: list[tuple[int, int, int, Candidate]] = []  # row, event, track index, track

    def begin_event(self, index: int) -> None:
        """Start event ``index`` (its number in the run)."""
        self.selector.begin_event()
        self.event = index
        self.cpu_stacking = 0.0

    def end_event(self, row: int) -> tuple[int, int]:
        """Queue this event's fast tracks for its chunk row ``row``; (tracks fast, full)."""
        sel = self.selector
        self._pending.extend((row, self.event, k, c) for k, c in enumerate(sel.fast))
        return len(sel.fast), sel.n_full

    def ready(self) -> bool:
        """Whether the pending tracks fill a batch."""
        return len(self._pending) >= self.batch

    def flush(self) -> list[EventShowers]:
        """Generate the showers of every pending track in one model call; per event (in
        row order) their sum and the CPU time it cost."""
        pending, self._pending = self._pending, []
        if not pending:
            return []
        t0 = time.process_time()
        cands = [p[3] for p in pending]
        cond = Conditions(
            np.array([c.energy for c in cands], dtype=np.float64),
            np.array([c.pdg for c in cands], dtype=np.int64),
            np.array([c.direction for c in cands], dtype=np.float64).reshape(-1, 3),
            np.array([c.impact for c in cands], dtype=np.float64).reshape(-1, 3),
        )
        gen = self.generator
        keys = np.array([(p[1], p[2]) for p in pending], dtype=np.int64)
        showers = gen.run(gen.features(cond), gen.keyed_noise(self.seed, keys))
        sel = self.selector
        if sel.free_direction or sel.free_impact:  # place them along their tracks
            r = sel.trained
            centre = (0.5 * sum(r.impact_x), 0.5 * sum(r.impact_y)) if sel.free_impact else None
            offsets = layer_offsets(
                self.detector,
                cond.direction,
                cond.impact,
                centre,
                along_direction=sel.free_direction,
            )
            showers = place_showers(showers, self.detector, offsets)
        t1 = time.process_time()
        per_track = (t1 - t0) / len(pending)
        rows = np.array([p[0] for p in pending], dtype=np.int64)
        out = []
        for row in np.unique(rows):  # tracks of a row are in track order
            t = time.process_time()
            mine = showers[rows == row]
            energies = mine.sum(axis=0, dtype=np.float64).astype(np.float32)
            out.append(
                EventShowers(int(row), energies, per_track * len(mine), time.process_time() - t)
            )
        return out

    def stacking_action(self, g4: Any) -> Any:
        """A ``G4UserStackingAction`` deciding every new track with the selector."""
        hook = self
        selector = self.selector
        kill, urgent = g4.G4ClassificationOfNewTrack.fKill, g4.G4ClassificationOfNewTrack.fUrgent
        mm, mev = g4.mm, g4.MeV
        clock = time.process_time

        class Stacking(g4.G4UserStackingAction):
            def ClassifyNewTrack(self, track: Any) -> Any:
                t = clock()
                pos = track.GetPosition()
                z = pos.getZ() / mm
                if z >= selector.z_front:  # born inside or behind the calorimeter: full sim
                    hook.cpu_stacking += clock() - t
                    return urgent
                d = track.GetMomentumDirection()
                taken = selector.consider(
                    track.GetDefinition().GetPDGEncoding(),
                    track.GetKineticEnergy() / mev,
                    (pos.getX() / mm, pos.getY() / mm, z),
                    (d.getX(), d.getY(), d.getZ()),
                    primary_first=track.GetTrackID() == 1,
                )
                hook.cpu_stacking += clock() - t
                return kill if taken else urgent

        return Stacking()


__all__ = ["DEFAULT_BATCH", "EventShowers", "FastSimHook"]
