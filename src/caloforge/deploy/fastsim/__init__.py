"""Fast simulation inside Geant4: an exported model replaces the full shower of the
particles it was trained for.

``caloforge simulate --fastsim m.onnx`` (``SimulationConfig(fastsim="m.onnx")``): in the
Geant4 worker a user stacking action looks at every new track once; a track of the trained
particle type, inside the trained energy, angle and impact range, that enters the
calorimeter front face from the vacuum in front of it is killed and recorded (its impact
point by straight-line extrapolation); at the end of the event the model generates the
showers of all recorded tracks in one batch (:mod:`caloforge.deploy.runtime`, no torch) and
they are added to the energy scored by full simulation. Everything else is simulated in
full. Per event the output records ``fastsim_fast`` and ``fastsim_full`` (tracks entering
the calorimeter that went each way). See docs/deployment.md for the limits.
"""

from __future__ import annotations

from pathlib import Path

from caloforge.data import PDG_CODES
from caloforge.data.distributions import ConditionSpec
from caloforge.deploy.fastsim.selection import Candidate, Selector, event_showers, front_face_impact
from caloforge.deploy.runtime import ExportMetadata, OnnxGenerator, RuntimeModelError
from caloforge.geometry import Detector, same_detector


class FastSimModelError(ValueError):
    """The ``--fastsim`` model cannot be used for this simulation (one line)."""


def check_model(
    path: str | Path, detector: Detector, conditions: ConditionSpec | None = None
) -> ExportMetadata:
    """Check that ``path`` is an exported caloforge ONNX model for ``detector`` (and, when
    given, for the particles and energies a run shoots).

    Raises:
        FastSimModelError: missing file, not ONNX (e.g. a ``.pt`` checkpoint), no caloforge
        metadata, a model of another detector, or one trained on none of the run's
        particles or on energies that do not overlap the run's.
    """
    p = Path(path)
    if p.suffix.lower() != ".onnx":
        hint = (
            " (export it first: caloforge export --checkpoint ... -o m.onnx)"
            if p.suffix == ".pt"
            else ""
        )
        raise FastSimModelError(f"--fastsim {p}: expected an exported .onnx model{hint}")
    try:
        meta = OnnxGenerator(p, threads=1).metadata
    except RuntimeModelError as exc:
        raise FastSimModelError(f"--fastsim {exc}") from None
    mine = meta.detector
    if not same_detector(mine, detector):
        raise FastSimModelError(
            f"--fastsim {p}: the model is for detector {mine.name!r} ({mine.n_voxels} voxels), "
            f"the simulation for {detector.name!r} ({detector.n_voxels} voxels)"
        )
    if conditions is not None:
        r = meta.trained_range
        shot = conditions.particles
        if not set(shot.codes) & set(r.particles):
            raise FastSimModelError(
                f"--fastsim {p}: the model is for particles {_names(r.particles)}, "
                f"the run shoots {', '.join(shot.names)}"
            )
        lo, hi = conditions.energy.bounds
        if hi < r.energy[0] * (1 - 1e-9) or lo > r.energy[1] * (1 + 1e-9):
            raise FastSimModelError(
                f"--fastsim {p}: the model is trained on {r.energy[0]:.4g}-{r.energy[1]:.4g} MeV, "
                f"the run shoots {lo:.4g}-{hi:.4g} MeV"
            )
    return meta


def _names(codes: tuple[int, ...]) -> str:
    by_code = {v: k for k, v in PDG_CODES.items()}
    return ", ".join(by_code.get(c, str(c)) for c in codes)


__all__ = [
    "Candidate",
    "FastSimModelError",
    "Selector",
    "check_model",
    "event_showers",
    "front_face_impact",
]
