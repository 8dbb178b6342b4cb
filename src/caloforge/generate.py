"""Checkpoint + conditions -> showers, written in the same HDF5 layout as full simulation.

Conditions come either from distributions (energy, particle mixture, angles, impact
point: the syntax of ``caloforge simulate``, :mod:`caloforge.data.distributions`; what is
not given is the detector gun's, the particles default to those the model was trained
on) drawn per event from ``(seed, index)``, or from a reference file (``conditions_from``:
its first N rows, so that ``caloforge evaluate REF GEN`` compares like with like).

Conditions are compared with the checkpoint's record of its training conditions
(:func:`caloforge.data.conditions.condition_ranges`): a particle outside the training
set is refused; energies, angles and impact points outside the trained range are
generated with one warning naming the range, or refused with ``strict``. The output file
records the generator (model family, checkpoint, step, conditions), the resolved
configuration and the seed.

Example:
    >>> generate_file("m.pt", "gen.h5", n=1000, energy="50GeV", seed=1)  # doctest: +SKIP
    >>> generate_file("atlas-pblar-gamma", "gen.h5", n=1000, energy="50GeV")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from caloforge.data import Conditions, ShowerFile, ShowerFileError, write_showers
from caloforge.data.conditions import PARTICLE_NAMES, check_ranges, condition_ranges
from caloforge.data.distributions import condition_spec
from caloforge.files import writes_output
from caloforge.geometry import Detector
from caloforge.models import ShowerModel
from caloforge.pretrained.registry import resolve_checkpoint
from caloforge.train.checkpoint import load_checkpoint
from caloforge.train.loading import (
    check_detector,
    drop_postprocessors,
    load_model,
    open_data,
    resolve_device,
)

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
    """``n`` conditions with energies from ``spec`` (``50GeV``, ``loguniform:1GeV,100GeV``,
    ...), the rest from the detector's gun; event ``i`` is drawn from ``(seed, i)``."""
    chosen = condition_spec(detector, energy=spec, particle=particle, check_energy_range=False)
    return chosen.conditions(seed, np.arange(n))


def trained_conditions(ckpt: dict[str, Any], detector: Detector) -> dict[str, Any] | None:
    """The checkpoint's record of its training conditions; for checkpoints written before
    the record existed, the ranges of the training files it names when they are readable."""
    record = ckpt.get("conditions")
    if record is not None:
        return dict(record)
    paths = [Path(p) for p in ckpt.get("info", {}).get("data", [])]
    if not paths or not all(p.is_file() for p in paths):
        return None
    try:
        return condition_ranges(ShowerFile(paths, detector).conditions())
    except ShowerFileError:
        return None


def check_trained_range(
    cond: Conditions, trained: dict[str, Any] | None, *, source: str, strict: bool = False
) -> None:
    """Refuse particles outside the training set; warn once (``strict``: refuse) when
    energies, angles or impact points lie outside the trained range."""
    if trained is None:
        log.info("%s records no training conditions: the trained range is not checked", source)
        return
    result = check_ranges(cond, trained)
    if result.unknown_particles:
        names = ", ".join(PARTICLE_NAMES.get(p, str(p)) for p in result.unknown_particles)
        seen = ", ".join(PARTICLE_NAMES.get(p, str(p)) for p in trained["particles"])
        raise ValueError(
            f"{source} was trained on {seen}, not on {names}: the model cannot simulate them"
        )
    if result.outside:
        message = (
            f"{result.n_outside} of {len(cond)} conditions lie outside the trained range of "
            f"{source}: {result.describe()}"
        )
        if strict:
            raise ValueError(f"{message} (--strict)")
        log.warning("%s; generated anyway (--strict refuses them)", message)


def file_conditions(
    path: str | Path | ShowerFile, n: int | None, detector: Detector | None = None
) -> Conditions:
    """The first ``n`` (all when None) conditions of a reference shower file (opened with
    ``detector``), or of one already open."""
    ref = path if isinstance(path, ShowerFile) else ShowerFile(path, detector)
    if n is not None and n > len(ref):
        name = ", ".join(map(str, ref.paths))
        raise ValueError(f"{name}: holds {len(ref)} showers, fewer than the {n} requested (-n)")
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
    theta: str | float | None = None,
    phi: str | float | None = None,
    impact: str | None = None,
    impact_spread: float = 0.0,
    strict: bool = False,
    batch_size: int = 10_000,
    seed: int = 0,
    device: str = "cpu",
    use_ema: bool = True,
    precision: str = "auto",
    without: Sequence[str] = (),
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Generate showers from a checkpoint or a pretrained model into an HDF5 file (atomic
    write).

    Arguments:
        checkpoint: a caloforge checkpoint (``train`` output), or the name of a
            pretrained model (a ``str``; :func:`caloforge.pretrained_models`).
        out: output shower file; an existing one is kept unless ``overwrite``.
        n: number of showers (with ``conditions_from``: the first n rows; None: all).
        energy: energy distribution; exactly one of ``energy`` / ``conditions_from``.
        conditions_from: reference file whose conditions are reused.
        particle, theta, phi, impact, impact_spread: the other condition distributions
            (:mod:`caloforge.data.distributions`), with ``energy`` only; the particles
            default to those of the training conditions, the rest to the detector gun.
        strict: refuse conditions outside the trained range instead of warning.
        batch_size, seed, device, use_ema: sampling settings.
        precision: ``auto`` (bfloat16 where the hardware has it natively), ``fp32`` or
            ``bf16`` (:meth:`ShowerModel.set_precision`); the file records the one chosen.
        without: post-processors to leave out, the last of the chain (``("refiner",)``:
            the calibrated model the refiner was fitted on); the file records them.
        progress: called with (showers done, showers in all) after each batch.

    Raises:
        ValueError: bad arguments (``without`` too); CheckpointError; PretrainedError: an
        unknown name; DetectorMismatchError;
        FileExistsError: ``out`` exists; OutputError: ``out`` is an input;
        OutputLockedError: another process writes ``out``.
    """
    given = {
        "--particle": particle,
        "--theta": theta,
        "--phi": phi,
        "--impact": impact,
        "--impact-spread": impact_spread or None,
    }
    if (energy is None) == (conditions_from is None):
        raise ValueError("give exactly one of --energy and --conditions")
    if conditions_from is not None and any(v is not None for v in given.values()):
        options = ", ".join(k for k, v in given.items() if v is not None)
        raise ValueError(
            f"--conditions takes every condition from {conditions_from}; drop {options}"
        )
    if batch_size < 1:
        raise ValueError(f"batch size must be >= 1, got {batch_size}")
    out = Path(out)
    ckpt = load_checkpoint(resolve_checkpoint(checkpoint))
    model, _ = load_model(ckpt, resolve_device(device), use_ema=use_ema)
    drop_postprocessors(model, without, str(checkpoint))
    precision = model.set_precision(precision)
    det = model.detector
    trained = trained_conditions(ckpt, det)
    if conditions_from is not None:
        ref = open_data(conditions_from, det)
        check_detector(ckpt, ref.detector, checkpoint=str(checkpoint), data=str(conditions_from))
        cond = file_conditions(ref, n)
        described: Any = str(conditions_from)
    else:
        if n is None or n < 1:
            raise ValueError("-n N (number of showers, >= 1) is needed with --energy")
        assert energy is not None
        if particle is None and trained is not None:  # what the model was trained on
            particle = ",".join(PARTICLE_NAMES.get(p, str(p)) for p in trained["particles"])
        spec = condition_spec(
            det,
            energy=energy,
            particle=particle,
            theta=theta,
            phi=phi if phi is not None else 0.0,
            impact=impact,
            impact_spread=impact_spread,
            check_energy_range=False,
        )
        described = spec.describe()
        cond = spec.conditions(seed, np.arange(n))
    check_trained_range(cond, trained, source=str(checkpoint), strict=strict)
    total = len(cond)
    done = None if progress is None else (lambda k: progress(k, total))
    showers = generate(model, cond, seed=seed, batch_size=batch_size, progress=done)
    generator: dict[str, Any] = {
        "kind": "model",
        "model": ckpt["family"],
        "checkpoint": str(checkpoint),
        "step": int(ckpt["step"]),
        "conditions": described,
        "precision": precision,
        "postprocessors": [post.name for post in model.postprocessors],
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


__all__ = [
    "check_trained_range",
    "energy_conditions",
    "file_conditions",
    "generate",
    "generate_file",
    "gun_conditions",
    "trained_conditions",
]
