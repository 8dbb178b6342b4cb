"""The shower measurements of the physics validation, with their fixed settings.

Each function simulates showers in ``atlas-pblar`` (or a readout variant of it) with the
validation's event counts, seeds and readouts, one worker and chunks of 50 events, and
returns what it measured; ``tests/simulate/test_physics.py`` holds the requirements and
``benchmarks/physics_tier.py`` prints the figures. Together they take about a minute of
CPU on an idle core. Simulations run in worker processes, in the Geant4 data mode that
:func:`~caloforge.simulate.resolve_g4data` selects.

Example:
    >>> scan = energy_scan(Path("out"))  # doctest: +SKIP
    >>> scan.sampling_fractions()  # doctest: +SKIP
    {1000.0: 0.187..., 10000.0: 0.189..., 100000.0: 0.186...}
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from caloforge.data.hdf5 import ShowerFile
from caloforge.geometry import Detector, detector_from_dict, detector_to_dict, load_detector
from caloforge.simulate.config import SimulationConfig
from caloforge.simulate.engine import simulate

DETECTOR = "atlas-pblar"
"""The detector of the shower measurements."""
SCAN_EVENTS = {1e3: 150, 1e4: 50, 1e5: 10}
"""Electrons per energy (MeV) of :func:`energy_scan`."""
MAXIMUM_EVENTS = {1e3: 100, 1e4: 30, 1e5: 20}
"""Showers per energy (MeV) of :func:`shower_maxima` (the mean profile of 5 at 100 GeV
puts the photon maximum 1.8 X0 early)."""
MAXIMUM_SHIFT = {"e-": -0.5, "gamma": 0.5}
"""Expected depth of the shower maximum: ln(E / E_c) + shift, X0 (Rossi's approximation B)."""

Run = dict[str, NDArray[Any]]
"""A simulated file's datasets by name."""


def run(folder: Path, name: str, **settings: Any) -> Run:
    """Simulate ``folder/name.h5`` with one worker and chunks of 50 events.

    Arguments:
        folder: output folder (existing).
        name: file stem.
        settings: the other :class:`~caloforge.simulate.SimulationConfig` fields.

    Returns:
        Every dataset of the file, read whole.
    """
    cfg = SimulationConfig(workers=1, chunk_size=50, **settings)
    f = ShowerFile(simulate(cfg, folder / f"{name}.h5"))
    return {k: f.read(k) for k in f.keys()}


def with_readout(det: Detector, readout: list[dict[str, Any]], pitch: float) -> Detector:
    """``det`` with another readout (``[[readout]]`` entries) and scoring pitch (mm)."""
    data = detector_to_dict(det)
    data.update(name=f"{det.name}-test", readout=readout, physics={"scoring_pitch": pitch})
    return detector_from_dict(data)


def depth_x0(det: Detector) -> NDArray[np.float64]:
    """Depth of the centre of each active gap, in radiation lengths."""
    t = [(m.x0, th) for la in det.layers for m, th in la.materials()]
    edges = np.concatenate([[0.0], np.cumsum([th / x0 for x0, th in t])])
    n = len(det.layers)
    per_layer = len(t) // n
    return np.array(
        [
            0.5 * (edges[per_layer * i + per_layer - 1] + edges[per_layer * (i + 1)])
            for i in range(n)
        ]
    )


def shower_max(profile: NDArray[Any], depth: NDArray[np.float64]) -> float:
    """Depth of the maximum of a profile: vertex of a parabola through 5 points."""
    i = int(np.clip(np.argmax(profile), 2, len(profile) - 3))
    a, b, _ = np.polyfit(depth[i - 2 : i + 3], profile[i - 2 : i + 3], 2)
    return float(-b / (2 * a))


@dataclass(frozen=True)
class EnergyScan:
    """Electrons at normal incidence, :data:`SCAN_EVENTS` per energy, seed 11.

    Arguments:
        runs: the simulated datasets by incident energy, MeV.
    """

    runs: dict[float, Run]

    def sampling_fractions(self) -> dict[float, float]:
        """Mean visible (active) energy over the incident energy."""
        return {e: float(np.mean(d["energy_active"]) / e) for e, d in self.runs.items()}

    def stochastic_terms(self) -> dict[float, float]:
        """sigma/E * sqrt(E / GeV) of the visible energy (a constant term adds in too)."""
        return {
            e: float(np.std(d["energy_active"]) / np.mean(d["energy_active"]) * math.sqrt(e / 1e3))
            for e, d in self.runs.items()
        }

    def leakage(self) -> dict[float, float]:
        """Mean fraction of the incident energy deposited nowhere in the stack."""
        return {e: float(np.mean(d["energy_leaked"]) / e) for e, d in self.runs.items()}


def energy_scan(folder: Path) -> EnergyScan:
    """Simulate :class:`EnergyScan` into ``folder``."""
    det = load_detector(DETECTOR)
    return EnergyScan(
        {
            e: run(folder, f"e{int(e)}", detector=det, particle="e-", energy=e, n=n, seed=11)
            for e, n in SCAN_EVENTS.items()
        }
    )


@dataclass(frozen=True)
class EnergyBalance:
    """8 electrons of 10 GeV (seed 3) with the escaping energy recorded.

    Arguments:
        total: (active + absorber + escaping) / incident, per event.
        escaped: escaping / incident, per event.
    """

    total: NDArray[np.float64]
    escaped: NDArray[np.float64]


def energy_balance(folder: Path) -> EnergyBalance:
    """Simulate :class:`EnergyBalance` into ``folder`` (``measure_leakage``)."""
    d = run(
        folder,
        "leak",
        detector=load_detector(DETECTOR),
        particle="e-",
        energy="10GeV",
        n=8,
        seed=3,
        measure_leakage=True,
    )
    e0 = d["incident_energies"][:, 0].astype(np.float64)
    deposited = d["energy_active"].astype(np.float64) + d["energy_absorber"]
    escaped = d["energy_escaped"].astype(np.float64)
    return EnergyBalance(total=(deposited + escaped) / e0, escaped=escaped / e0)


@dataclass(frozen=True)
class ShowerMaximum:
    """Depth of the maximum of a mean longitudinal profile.

    Arguments:
        particle: ``"e-"`` or ``"gamma"``.
        energy: incident energy, MeV.
        depth: measured depth, X0 (centres of the active gaps, parabola through 5 layers).
        expected: ln(E / E_c) + :data:`MAXIMUM_SHIFT`, X0 (E_c of the stack).
    """

    particle: str
    energy: float
    depth: float
    expected: float


def shower_maxima(folder: Path, particle: str) -> list[ShowerMaximum]:
    """Shower maxima at 1, 10 and 100 GeV (:data:`MAXIMUM_EVENTS`, seed 5), read out one
    sampling layer per readout layer, one 480 mm cell each."""
    atlas = load_detector(DETECTOR)
    cell = {"nx": 1, "ny": 1, "cell_x": 480.0, "cell_y": 480.0}
    det = with_readout(
        atlas, [{"group": 1, "repeat": 58, "segmentation": "cartesian", **cell}], 480.0
    )
    depth = depth_x0(det)
    found = []
    for e, n in MAXIMUM_EVENTS.items():
        d = run(
            folder,
            f"long-{particle}-{int(e)}",
            detector=det,
            particle=particle,
            energy=e,
            n=n,
            seed=5,
        )
        expected = math.log(e / atlas.critical_energy) + MAXIMUM_SHIFT[particle]
        found.append(ShowerMaximum(particle, e, shower_max(d["showers"].mean(0), depth), expected))
    return found


def moliere_containment(folder: Path) -> tuple[float, float]:
    """Fractions of the visible energy within one and two Moliere radii of the axis:
    10 electrons of 10 GeV (seed 9), a cylindrical readout on a 1 mm grid."""
    atlas = load_detector(DETECTOR)
    rm = atlas.moliere_radius
    edges = [0.0, 0.5 * rm, rm, 2 * rm, 3 * rm, 240.0]
    det = with_readout(
        atlas, [{"group": 58, "segmentation": "cylindrical", "n_alpha": 1, "r_edges": edges}], 1.0
    )
    d = run(folder, "radial", detector=det, particle="e-", energy="10GeV", n=10, seed=9)
    radial = d["showers"].sum(0)
    visible = d["energy_active"].sum()
    return float(radial[:2].sum() / visible), float(radial[:3].sum() / visible)
