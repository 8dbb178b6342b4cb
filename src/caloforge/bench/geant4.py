"""The Geant4 baseline: CPU time per shower of a small sample simulated in the same run."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from caloforge.bench.report import Geant4Timing
from caloforge.data import ShowerFile
from caloforge.geometry import Detector


def geant4_timing(
    detector: Detector | str,
    energies: NDArray[np.float64],
    *,
    particle: str | None = None,
    seed: int = 1,
    settings: Mapping[str, Any] | None = None,
    workdir: str | Path | None = None,
) -> Geant4Timing:
    """Geant4 CPU time per shower for the given energies (one worker, offline EM physics
    unless official data are configured or ``settings`` say otherwise), in a worker process.

    Arguments:
        detector: a detector or preset name. energies: MeV, one event each (1 GeV-1 TeV).
        settings: further :class:`~caloforge.simulate.SimulationConfig` fields, e.g. those
            of the model's training file (:func:`caloforge.bench.conditions.simulation_settings`).
    """
    from caloforge.simulate import SimulationConfig, simulate

    spec = "list:" + ",".join(f"{e:.6g}MeV" for e in energies)
    cfg = SimulationConfig(
        detector=detector,
        particle=particle,
        energy=spec,
        n=len(energies),
        seed=seed,
        workers=1,
        chunk_size=max(1, len(energies)),
        **dict(settings or {}),
    )
    load = os.getloadavg()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        out = simulate(cfg, Path(tmp) / "geant4_timing.h5")
        f = ShowerFile(out)
        cpu = f.read("cpu_time") * 1000.0
    return Geant4Timing(
        detector=cfg.det.name,
        particle=cfg.particle_name,
        n=len(energies),
        energy=f"{len(energies)} energies from the benchmark conditions",
        ms_median=float(np.median(cpu)),
        ms_mean=float(np.mean(cpu)),
        energy_mean_mev=float(np.mean(energies)),
        load=load,
        wall_s=time.perf_counter() - t0,
        settings=dict(settings or {}),
    )


__all__ = ["geant4_timing"]
