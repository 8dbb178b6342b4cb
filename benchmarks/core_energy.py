"""Energy near the shower axis in a homogeneous block, scored per step without any grid.

The block of docs/simulation.md, "Readout scoring: physics and cost": 230 mm of PbWO4
(26 X0), 60 x 60 mm, e- at normal incidence at (0.05, 0.03) mm, the detector's physics
(EM option 0, 0.7 mm cut), offline tables, seed 3. For each run ``ENERGY:N`` it reports
the visible fraction of E0 and the fraction within r < 0.1 X0 (0.89 mm) of the axis,
mean ± standard error, in up to five modes, all of the same events (same conditions and
Geant4 seeds):

``gridless``
    The block is one volume of the mass geometry and there is no readout at all: no
    replica, no parallel world, no sensitive detector (nothing ends a step but physics
    and the block's faces). A Python user stepping action records every step with an
    energy deposit; the deposit is put at a uniformly random point of the straight
    segment between the pre- and post-step points, and a point counts for the core when
    the block's cylindrical readout puts it in its first ring (``Detector.voxel_index``
    with the particle's axis). Also reported from the same steps: the deposit at the
    step midpoint, and the random point under the fine grid's rule (the point counts for
    the ring holding the centre of its 0.089 mm fine cell, as ``parallel`` and
    ``replica`` assign their cells). A Python call per step of every volume: a
    measurement; the production mode of this is ``steps``.
``replica-steps``
    The same per-step scorer with the readout cells of ``replica`` in the mass geometry
    (the 0.089 mm cells end the steps; their hits are not read): tells whether a
    difference between ``gridless`` and ``replica`` comes from the steps or from the
    scoring of the hits.
``parallel``, ``replica``, ``steps``
    caloforge's own simulation (:func:`caloforge.simulate.simulate`, one worker) with the
    readout rings [0, 0.1 X0, 30 mm] on the 0.089 mm fine grid, in a parallel world, as
    replicas in the block, or without any readout volume (the block one volume, each
    step's deposit binned into the fine cells by its midpoint: ``gridless`` with the
    midpoint under the fine grid's rule).

``--photon-data sandia`` (the default, as in the documented table) generates the offline
tables without the photon library (Sandia photo-effect, Rayleigh off), hiding the
``photon-data`` extra from this process, into their own cache folder beside the default
one; ``installed``: the tables of the installed extras, in the default cache. Official
Geant4 data in the environment are refused (they would be simulated instead).

Wall clock on a shared 2-core machine (load average 7-9), one process: ``gridless`` 14 s
(1 GeV, 100 e-) and 80 s (5 GeV, 150 e-), ``parallel`` 92 s and ``replica`` 73 s at
1 GeV (about 5 times as long at 5 GeV), ``replica-steps`` 5 minutes at 1 GeV.

Usage:
    python benchmarks/core_energy.py [--runs 1GeV:100,5GeV:150]
        [--modes gridless,replica-steps,parallel,replica,steps]
        [--photon-data sandia|installed]
        [--seed 3] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from array import array
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from caloforge.data.hdf5 import ShowerFile
from caloforge.files import write_text
from caloforge.geometry import (
    SCORING_MODES,
    Detector,
    ScoringMode,
    detector_from_dict,
    get_material,
)
from caloforge.simulate import SimulationConfig, g4data, simulate
from caloforge.simulate.config import event_batch
from caloforge.simulate.scoring import make_grid

X0 = get_material("PbWO4").x0
"""PbWO4 radiation length, mm (8.92: the PDG mixture rule of caloforge.geometry)."""
PITCH = 60.0 / 674
"""The fine grid of the documented measurement, mm (0.01 X0)."""
STEPPED: dict[str, ScoringMode | None] = {"gridless": None, "replica-steps": "replica"}
"""Modes scored per step by a Python stepping action, and where their readout cells are."""
MODES = (*STEPPED, *SCORING_MODES)


def block() -> Detector:
    """230 mm of PbWO4 in one slice, rings [0, 0.1 X0, 30 mm] around the axis."""
    return detector_from_dict(
        {
            "name": "pbwo4-block",
            "size_x": 60.0,
            "size_y": 60.0,
            "layers": [{"active": "PbWO4", "active_thickness": 230.0}],
            "readout": [
                {
                    "group": 1,
                    "segmentation": "cylindrical",
                    "n_alpha": 1,
                    "r_edges": [0.0, 0.1 * X0, 30.0],
                }
            ],
            "gun": {"particle": "e-", "position": [0.0, 0.0, -50.0]},
            "physics": {"scoring_pitch": PITCH},
        }
    )


def config(energy: str, n: int, seed: int, scoring: ScoringMode = "replica") -> SimulationConfig:
    return SimulationConfig(
        block(),
        energy=energy,
        n=n,
        seed=seed,
        impact="0.05,0.03",
        scoring=scoring,
        workers=1,
        chunk_size=n,
    )


def _cores(det: Detector, steps: np.ndarray, axis: np.ndarray, u: np.ndarray) -> list[float]:
    """Energy in ring 0 for the random point, the midpoint and the fine-cell rule."""
    e, a, b = steps[:, 0], steps[:, 1:4], steps[:, 4:7]
    mid = 0.5 * (a + b)
    inside = (np.abs(mid[:, 0]) < det.size_x / 2) & (np.abs(mid[:, 1]) < det.size_y / 2)
    inside &= (mid[:, 2] > 0.0) & (mid[:, 2] < det.depth)  # the block (the world is vacuum)
    e, a, b, mid, u = e[inside], a[inside], b[inside], mid[inside], u[inside]
    point = a + u[:, None] * (b - a)
    grid = make_grid(det, PITCH)
    _, cx, cy = grid.centres(grid.index(np.zeros(len(point), np.int64), point[:, 0], point[:, 1]))
    out = [float(e.sum())]
    for x, y in ((point[:, 0], point[:, 1]), (mid[:, 0], mid[:, 1]), (cx, cy)):
        out.append(float(e[det.voxel_index(0, x, y, axis) == 0].sum()))
    return out


STEP_COLUMNS = ("visible", "core", "core_midpoint", "core_cell_rule")
"""Per-event fractions of E0 from the per-step scorer: all deposits in the block; ring 0
with the random point, with the midpoint, with the random point's fine cell."""


def run_stepped(
    cfg: SimulationConfig, setup: g4data.G4DataSetup, cells: ScoringMode | None
) -> np.ndarray:
    """The events of ``cfg`` in the block, scored per step, with the readout cells of
    ``cells`` (``None``: no readout at all): (n, 6), the :data:`STEP_COLUMNS`, then steps
    with a deposit and CPU s per event (call in a process of its own: it imports Geant4
    and builds its run manager)."""
    g4data.apply_environment(setup)
    import geant4_pybind as g4

    from caloforge.simulate.geometry_builder import make_detector_construction
    from caloforge.simulate.worker import physics_list, quiet_stdout, shoot

    quiet_stdout()
    det = cfg.det
    batch = event_batch(cfg, cfg.event_indices())
    ui = g4.G4UImanager.GetUIpointer()
    for cmd in ("/control/verbose 0", "/run/verbose 0", "/event/verbose 0"):
        ui.ApplyCommand(cmd)
    run_manager = g4.G4RunManagerFactory.CreateRunManager(g4.G4RunManagerType.Serial)
    construction = make_detector_construction(
        g4, det, make_grid(det, PITCH), cfg.start_distance, scoring=cells
    )
    run_manager.SetUserInitialization(construction)
    run_manager.SetUserInitialization(physics_list(g4, cfg.resolved_physics, cfg.resolved_cut))
    steps = array("d")  # (edep, pre xyz, post xyz) per step with a deposit
    rows: list[list[float]] = []
    clock = [0.0]

    class Primary(g4.G4VUserPrimaryGeneratorAction):
        def __init__(self) -> None:
            super().__init__()
            self.gun = g4.G4ParticleGun(1)

        def GeneratePrimaries(self, event: Any) -> None:
            j = event.GetEventID()
            clock[0] = time.process_time()
            del steps[:]
            definition = g4.G4ParticleTable.GetParticleTable().FindParticle(int(batch.particle[j]))
            shoot(g4, event, self.gun, definition, batch, j)

    class Stepping(g4.G4UserSteppingAction):
        def UserSteppingAction(self, step: Any) -> None:
            e = step.GetTotalEnergyDeposit()
            if e > 0.0:
                a = step.GetPreStepPoint().GetPosition()
                b = step.GetPostStepPoint().GetPosition()
                steps.extend((e, a.x, a.y, a.z, b.x, b.y, b.z))

    class EventAction(g4.G4UserEventAction):
        def EndOfEventAction(self, event: Any) -> None:
            j = event.GetEventID()
            cpu = time.process_time() - clock[0]
            data = np.frombuffer(steps, dtype=np.float64).reshape(-1, 7).copy()
            u = np.random.default_rng(int(batch.g4_seed[j])).random(len(data))
            axis = batch.impact[j, :2]  # normal incidence: the axis is the impact point
            rows.append([*_cores(det, data, axis, u), len(data), cpu])

    class Actions(g4.G4VUserActionInitialization):
        def Build(self) -> None:
            self.SetUserAction(Primary())
            self.SetUserAction(Stepping())
            self.SetUserAction(EventAction())

    actions = Actions()
    run_manager.SetUserInitialization(actions)
    ui.ApplyCommand("/process/em/verbose 0")
    run_manager.Initialize()
    run_manager.BeamOn(len(batch))
    table = np.array(rows)
    table[:, :4] /= batch.energy[:, None]
    return table


def _mean(x: np.ndarray) -> list[float]:
    return [float(x.mean()), float(x.std() / np.sqrt(len(x)))]


def _hide_photon_library() -> None:
    """Offline tables as without the ``photon-data`` extra (Sandia, Rayleigh off): this
    process does not see ``xraydb``, in a cache folder of their own."""
    sys.modules["xraydb"] = None  # type: ignore[assignment]  # find_spec answers None
    default = g4data.default_cache_dir()
    os.environ["CALOFORGE_G4DATA_CACHE"] = str(default.with_name(default.name + "-sandia"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="1GeV:100,5GeV:150", help="ENERGY:N,...")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--photon-data", choices=("sandia", "installed"), default="sandia")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    modes = args.modes.split(",")
    bad = [m for m in modes if m not in MODES]
    if bad:
        parser.error(f"--modes: {bad[0]!r} is not one of {', '.join(MODES)}")
    try:
        runs = [(e, int(n)) for e, n in (item.split(":") for item in args.runs.split(","))]
    except ValueError:
        parser.error(f"--runs={args.runs!r}: expected ENERGY:N,... (e.g. 1GeV:100)")
    configs: dict[tuple[str, str], SimulationConfig] = {}
    try:  # every run's configuration, checked before any simulation
        for energy, n in runs:
            for mode in modes:
                scoring = "replica" if mode in STEPPED else mode  # the stepped: their own cells
                configs[energy, mode] = config(energy, n, args.seed, scoring)  # type: ignore[arg-type]
    except ValueError as err:
        parser.error(f"--runs={args.runs!r}: {err}")
    if args.photon_data == "sandia":
        _hide_photon_library()
    try:
        setup = g4data.resolve_offline()
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    result: dict[str, Any] = {
        "photon_data": setup.photon_data,
        "seed": args.seed,
        "core_radius_mm": 0.1 * X0,
        "load_average_1min": [os.getloadavg()[0]],
        "runs": {},
    }
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for energy, n in runs:
            row: dict[str, Any] = {"showers": n}
            for mode in modes:
                t0 = time.perf_counter()
                cfg = configs[energy, mode]
                if mode in STEPPED:
                    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
                        table = pool.submit(run_stepped, cfg, setup, STEPPED[mode]).result()
                    row[mode] = {k: _mean(table[:, i]) for i, k in enumerate(STEP_COLUMNS)}
                    row[mode]["steps_per_event"] = float(table[:, 4].mean())
                    row[mode]["cpu_s_per_event"] = float(table[:, 5].mean())
                else:
                    f = ShowerFile(simulate(cfg, Path(tmp) / f"{mode}-{energy}.h5"))
                    e0 = f.read("incident_energies")[:, 0]
                    row[mode] = {
                        "visible": _mean(f.read("energy_active") / e0),
                        "core": _mean(f.read("showers")[:, 0] / e0),
                        "cpu_s_per_event": float(f.read("cpu_time").mean()),
                    }
                row[mode]["wall_s"] = time.perf_counter() - t0
                print(energy, mode, json.dumps(row[mode]), flush=True)
            result["runs"][energy] = row
            result["load_average_1min"].append(os.getloadavg()[0])
    result["wall_s"] = time.perf_counter() - start
    text = json.dumps(result, indent=2)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_text(args.out, text + "\n")
    print(text)


if __name__ == "__main__":
    main()
