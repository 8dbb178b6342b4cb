"""Checkpoint + conditions -> showers, written in the same HDF5 layout as full simulation.

Conditions come either from an energy specification (``50GeV``,
``loguniform:1GeV,100GeV``, ``list:...``; parsed by :mod:`caloforge.data.distributions`,
the rest of the conditions from the detector's default gun) or from a reference file
(``conditions_from``: its first N rows, so that ``caloforge evaluate REF GEN`` compares
like with like). The output file records the generator (model family, checkpoint, step),
the resolved configuration and the seed.

Example:
    >>> generate_file("m.pt", "gen.h5", n=1000, energy="50GeV", seed=1)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from caloforge.data import Conditions, ShowerFile, write_showers
from caloforge.files import writes_output
from caloforge.geometry import Detector
from caloforge.models import ShowerModel
from caloforge.train.checkpoint import check_detector, load_checkpoint
from caloforge.train.trainer import load_model, open_data, resolve_device

log = logging.getLogger(__name__)


def gun_conditions(
    energy: NDArray[np.float64], detector: Detector, particle: str | int | None = None
) -> Conditions:
    """Conditions for the given energies (MeV) with the detector's default gun."""
    gun = detector.gun
    pos, d = np.asarray(gun.position, dtype=np.float64), np.asarray(gun.direction, dtype=np.float64)
    impact = pos - d * pos[2] / d[2]
    return Conditions.create(energy, particle if particle is not None else gun.particle, d, impact)


def energy_conditions(
    spec: str, n: int, detector: Detector, *, seed: int = 0, particle: str | int | None = None
) -> Conditions:
    """``n`` conditions with energies from ``spec`` (``50GeV``, ``loguniform:1GeV,100GeV``, ...)."""
    from caloforge.data.distributions import parse_energy

    parsed = parse_energy(spec, check_range=False)
    rng = np.random.default_rng(seed)
    energies = np.array([parsed.sample(rng, i) for i in range(n)], dtype=np.float64)
    return gun_conditions(energies, detector, particle)


def file_conditions(path: str | Path, n: int | None, detector: Detector) -> Conditions:
    """The first ``n`` (all when None) conditions of a reference shower file of ``detector``."""
    ref = ShowerFile(path, detector)
    if n is not None and n > len(ref):
        raise ValueError(f"{path}: holds {len(ref)} showers, fewer than the {n} requested (-n)")
    return ref.conditions(0, n)


def generate(
    model: ShowerModel,
    conditions: Conditions,
    *,
    seed: int = 0,
    batch_size: int = 10_000,
    progress: Callable[[int], None] | None = None,
) -> NDArray[np.float32]:
    """Showers (N, n_voxels) in MeV from a model, reproducible for a fixed seed
    (``progress`` is called with the number of showers done after each batch)."""
    g = torch.Generator(device=model.device)
    g.manual_seed(seed)
    return model.sample(conditions, g, batch_size=batch_size, progress=progress)


@writes_output("out", inputs=("checkpoint", "conditions_from"))
def generate_file(
    checkpoint: str | Path,
    out: str | Path,
    *,
    n: int | None = None,
    energy: str | None = None,
    conditions_from: str | Path | None = None,
    particle: str | None = None,
    batch_size: int = 10_000,
    seed: int = 0,
    device: str = "cpu",
    use_ema: bool = True,
    precision: str = "auto",
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Generate showers from a checkpoint into an HDF5 file (atomic write).

    Arguments:
        checkpoint: a caloforge checkpoint (``train`` output).
        out: output shower file; an existing one is kept unless ``overwrite``.
        n: number of showers (with ``conditions_from``: the first n rows; None: all).
        energy: energy specification; exactly one of ``energy`` / ``conditions_from``.
        conditions_from: reference file whose conditions are reused.
        particle: particle for ``energy`` conditions (default: the detector's gun).
        batch_size, seed, device, use_ema: sampling settings.
        precision: ``auto`` (bfloat16 where the hardware has it natively), ``fp32`` or
            ``bf16`` (:meth:`ShowerModel.set_precision`); the file records the one chosen.
        progress: called with (showers done, showers in all) after each batch.

    Raises:
        ValueError: bad arguments; CheckpointError; DetectorMismatchError;
        FileExistsError: ``out`` exists; OutputError: ``out`` is an input;
        OutputLockedError: another process writes ``out``.
    """
    if (energy is None) == (conditions_from is None):
        raise ValueError("give exactly one of --energy and --conditions-from")
    if batch_size < 1:
        raise ValueError(f"batch size must be >= 1, got {batch_size}")
    out = Path(out)
    ckpt = load_checkpoint(checkpoint)
    model, _ = load_model(ckpt, resolve_device(device), use_ema=use_ema)
    precision = model.set_precision(precision)
    det = model.detector
    if conditions_from is not None:
        ref = open_data(conditions_from, det)
        check_detector(ckpt, ref.detector, checkpoint=str(checkpoint), data=str(conditions_from))
        cond = file_conditions(conditions_from, n, ref.detector)
    else:
        if n is None or n < 1:
            raise ValueError("-n N (number of showers, >= 1) is needed with --energy")
        assert energy is not None
        cond = energy_conditions(energy, n, det, seed=seed, particle=particle)
    total = len(cond)
    done = None if progress is None else (lambda k: progress(k, total))
    showers = generate(model, cond, seed=seed, batch_size=batch_size, progress=done)
    generator: dict[str, Any] = {
        "kind": "model",
        "model": ckpt["family"],
        "checkpoint": str(checkpoint),
        "step": int(ckpt["step"]),
        "conditions": str(conditions_from) if conditions_from is not None else energy,
        "precision": precision,
    }
    path = write_showers(
        out,
        showers,
        cond,
        det,
        attrs={
            "generator": json.dumps(generator),
            "config": json.dumps(ckpt["config"]),
            "seed": seed,
        },
        overwrite=overwrite,
    )
    log.info("wrote %d showers of %s to %s", len(showers), ckpt["family"], path)
    return path


__all__ = ["energy_conditions", "file_conditions", "generate", "generate_file", "gun_conditions"]
