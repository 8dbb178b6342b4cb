"""The ``steps`` scoring mode's sensitive detector: each step's deposit at its midpoint.

Imported only in worker processes (it needs ``geant4_pybind``, passed in as ``g4``). The
mass geometry holds one volume per material block and no readout volume; this detector is
attached to the active blocks, so Geant4 calls it for the steps that start in them (never
for an absorber's or the world's). A step without a deposit returns at once; a step with
one appends seven floats to one array: the deposit, the post-step point (the track's
position, which Geant4 updates before it calls the detector: one binding call fewer than
the step point's) and the step's displacement. At the end of the event
:meth:`StepRecord.take` turns them into midpoints (post-step point minus half the
displacement) in numpy, and :class:`~caloforge.simulate.scoring.StepBinner` bins those
into the fine cells of the ``replica`` geometry.
"""

from __future__ import annotations

from array import array
from typing import Any

import numpy as np
from numpy.typing import NDArray

STEPS_SD = "caloforge_steps"
"""Name of the sensitive detector of the active blocks."""

STEP_POINT = "midpoint"
"""Where a step's deposit is put (recorded in the files' ``generator`` and the resume key)."""

_FLOATS = 7  # deposit, post-step point (3), displacement (3)


class StepRecord:
    """The deposits of the current event, seven floats per step."""

    def __init__(self) -> None:
        self.data = array("d")

    def clear(self) -> None:
        del self.data[:]

    def take(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(deposits (n,) in MeV, midpoints (n, 3) in mm) of the event; empties the record."""
        steps = np.array(self.data, dtype=np.float64).reshape(-1, _FLOATS)
        self.clear()
        return steps[:, 0], steps[:, 1:4] - 0.5 * steps[:, 4:7]


def make_step_detector(g4: Any, record: StepRecord) -> Any:
    """A ``G4VSensitiveDetector`` named :data:`STEPS_SD` appending its steps to ``record``."""
    extend = record.data.extend

    class StepDetector(g4.G4VSensitiveDetector):
        def ProcessHits(self, step: Any, history: Any) -> bool:
            e = step.GetTotalEnergyDeposit()
            if e == 0.0:
                return False
            b = step.GetTrack().GetPosition()
            d = step.GetDeltaPosition()
            extend((e, b.x, b.y, b.z, d.x, d.y, d.z))  # a tuple from the free list
            return True

    return StepDetector(STEPS_SD)
