"""The Geant4 side of fast simulation: a user stacking action and the end-of-event deposit.

Runs inside a simulation worker process (:mod:`caloforge.simulate.worker`), which calls
:meth:`FastSimHook.begin_event` when it shoots an event, installs
:meth:`FastSimHook.stacking_action` (one Python call per new track, none per step: the
track is killed with ``fKill`` and recorded when :class:`~.selection.Selector`
hands it to the model), and adds :meth:`FastSimHook.end_event` (the event's fast
showers, generated in one batch by :class:`caloforge.deploy.runtime.OnnxGenerator`) to the
scored full-simulation energy of the event.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from caloforge.deploy.fastsim.selection import event_showers, selector_for
from caloforge.deploy.runtime import OnnxGenerator
from caloforge.geometry import Detector


class FastSimHook:
    """Fast simulation of one worker process.

    Arguments:
        model: the exported ``.onnx`` model. detector: the simulated detector.
        threads: ONNX Runtime threads (1: in the calling thread, counted in ``cpu_time``).
    """

    def __init__(self, model: str | Path, detector: Detector, *, threads: int = 1) -> None:
        self.generator = OnnxGenerator(model, threads=threads)
        self.selector = selector_for(detector, self.generator.trained_range)
        self.rng = np.random.default_rng(0)

    def begin_event(self, seed: int, index: int) -> None:
        """Start an event; its model noise derives from (run seed, event index)."""
        self.selector.begin_event()
        self.rng = np.random.default_rng(np.random.SeedSequence([seed, index, 0xFA57]))

    def end_event(self) -> tuple[NDArray[np.float32], int, int]:
        """(readout energies of the fast showers (n_voxels,), tracks fast, tracks full)."""
        sel = self.selector
        showers = event_showers(self.generator, sel.conditions(), self.rng)
        return showers, len(sel.fast), sel.n_full

    def stacking_action(self, g4: Any) -> Any:
        """A ``G4UserStackingAction`` deciding every new track with the selector."""
        selector = self.selector
        kill, urgent = g4.G4ClassificationOfNewTrack.fKill, g4.G4ClassificationOfNewTrack.fUrgent
        mm, mev = g4.mm, g4.MeV

        class Stacking(g4.G4UserStackingAction):
            def ClassifyNewTrack(self, track: Any) -> Any:
                pos = track.GetPosition()
                z = pos.getZ() / mm
                if z >= selector.z_front:  # born inside or behind the calorimeter: full sim
                    return urgent
                d = track.GetMomentumDirection()
                direction = (d.getX(), d.getY(), d.getZ())
                taken = selector.consider(
                    track.GetDefinition().GetPDGEncoding(),
                    track.GetKineticEnergy() / mev,
                    (pos.getX() / mm, pos.getY() / mm, z),
                    direction,
                    primary_first=track.GetTrackID() == 1,
                )
                return kill if taken else urgent

        return Stacking()


__all__ = ["FastSimHook"]
