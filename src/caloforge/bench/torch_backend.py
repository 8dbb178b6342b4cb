"""Timing a PyTorch checkpoint (``.pt``): batched ``model.sample`` in inference mode."""

from __future__ import annotations

import gc
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from caloforge.bench.conditions import bench_conditions, energy_of, take, training_files
from caloforge.bench.report import BenchRow
from caloforge.bench.timing import make_row, time_calls
from caloforge.data import Conditions
from caloforge.hardware import parse_precisions, resolve_precision

if TYPE_CHECKING:
    from caloforge.models import ShowerModel

log = logging.getLogger(__name__)

DEFAULT_PRECISIONS = "fp32,auto"
"""float32 always, and bfloat16 beside it where the hardware multiplies it natively: a
bfloat16 figure alone would hide the float32 speed of CPUs without native bfloat16."""


def torch_precisions(
    model: ShowerModel, requested: Sequence[str], source: str | Path
) -> tuple[str, ...]:
    """The precisions ``model`` is timed at: each of ``requested`` as
    :meth:`ShowerModel.set_precision` resolves it on the model's device, in order, each once
    (``auto`` resolving to a precision already listed adds nothing).

    Raises:
        ValueError: ``bf16`` for a family without bfloat16 networks (naming ``source``).
    """
    reduced = bool(model.reduced_precision_modules())
    if "bf16" in requested and not reduced:
        raise ValueError(
            f"{source}: model family {model.name!r} generates in fp32 only; "
            "leave bf16 out of the precisions"
        )
    chosen: list[str] = []
    for p in requested:
        if p == "auto":
            p = resolve_precision(p, model.device, reduced_networks=reduced)
        if p not in chosen:
            chosen.append(p)
    return tuple(chosen)


def check_checkpoint(
    checkpoint: str | Path,
    precision: str | Sequence[str],
    without: Sequence[str] = (),
    untrained_detector: str | None = None,
) -> None:
    """Read ``checkpoint`` (on the CPU) and check that it can be timed at ``precision``
    with the post-processors ``without`` left out, before anything is timed; the model is
    freed again.

    Raises:
        ValueError: a precision its family cannot run, or post-processors it cannot leave
            out (:func:`~caloforge.train.loading.drop_postprocessors`), naming the file;
            ``without`` with ``untrained_detector``.
        CheckpointError: an unreadable checkpoint.
    """
    from caloforge.train.loading import load_model

    _refuse_untrained_without(without, untrained_detector)
    model, _ = load_model(checkpoint, "cpu", without=without)
    torch_precisions(model, parse_precisions(precision), checkpoint)


def bench_torch(
    checkpoint: str | Path,
    batches: Sequence[int],
    *,
    energy: str | None = None,
    device: str = "cpu",
    threads: int = 1,
    repeats: int = 5,
    warmup: int = 2,
    min_showers: int = 256,
    seed: int = 0,
    untrained_detector: str | None = None,
    precision: str | Sequence[str] = DEFAULT_PRECISIONS,
    without: Sequence[str] = (),
) -> list[BenchRow]:
    """Time a PyTorch checkpoint (inference mode, batched ``model.sample``).

    Arguments:
        untrained_detector: time an UNTRAINED model of the checkpoint's family and
            configuration on this detector instead (for the voxel-count scaling only).
        precision: ``auto``, ``fp32`` or ``bf16`` (:meth:`ShowerModel.set_precision`), or a
            list of them (default :data:`DEFAULT_PRECISIONS`, ``"fp32,auto"``): the model is
            timed at every precision the list resolves to (:func:`torch_precisions`), each
            once. Rows record the precision chosen, and the backend reads ``torch-bf16`` for
            bfloat16. The precisions are resolved before any timing; the model is loaded
            once per precision (bfloat16 weights do not go back to float32), the previous
            one freed before the next loads.
        without: post-processors left out, the last of the chain
            (:func:`~caloforge.train.loading.drop_postprocessors`): ``("refiner",)`` times
            the calibrated model the refiner was fitted on. The row's note reads
            ``without refiner``.

    Peak memory: each row's growth from its own baseline, the memory in use when its timed
    calls start (resident set on CPU, allocated CUDA memory). Rows after the first, a later
    batch size or a later precision, are measured in the same process after the earlier
    ones: memory freed by those but kept by the allocator is reused and not counted again.

    Returns:
        One row per (precision, batch size), in the order of the list.

    Raises:
        ValueError: ``bf16`` for a family without bfloat16 networks (before any timing).
    """
    import torch

    from caloforge.train.checkpoint import load_checkpoint
    from caloforge.train.loading import resolve_device

    requested = parse_precisions(precision)
    torch.set_num_threads(threads)
    dev = resolve_device(device)
    ckpt = load_checkpoint(checkpoint)
    model, note = _model(ckpt, checkpoint, dev, untrained_detector, seed, without)
    chosen = torch_precisions(model, requested, checkpoint)
    spec = energy or energy_of(
        training_files(Path(checkpoint), ckpt), as_range=untrained_detector is not None
    )
    rows: list[BenchRow] = []
    for i, p in enumerate(chosen):
        if i:  # a fresh model: bfloat16 weights do not go back to float32
            del model
            gc.collect()
            model, note = _model(ckpt, checkpoint, dev, untrained_detector, seed, without)
        model.set_precision(p)
        rows += _time_model(
            model,
            str(checkpoint),
            note,
            ckpt["family"],
            p,
            batches,
            spec,
            dev,
            seed,
            threads=threads,
            repeats=repeats,
            warmup=warmup,
            min_showers=min_showers,
        )
    return rows


def _model(
    ckpt: dict[str, Any],
    checkpoint: str | Path,
    dev: Any,
    untrained_detector: str | None,
    seed: int,
    without: Sequence[str] = (),
) -> tuple[ShowerModel, str]:
    """(model, row note) of a loaded checkpoint, less the post-processors ``without``; an
    untrained one on another detector."""
    from caloforge.train.loading import drop_postprocessors, load_model

    _refuse_untrained_without(without, untrained_detector)
    model, _ = load_model(ckpt, dev)
    if untrained_detector is None:
        drop_postprocessors(model, without, str(checkpoint))  # (the error names the file)
        return model, f"without {', '.join(without)}" if without else ""
    from caloforge.geometry import load_detector
    from caloforge.train.loading import build_model

    det = load_detector(untrained_detector)
    model = build_model(ckpt["family"], model.config, det, seed=seed).to(dev).eval()
    return model, f"untrained, {det.name}"


def _refuse_untrained_without(without: Sequence[str], untrained_detector: str | None) -> None:
    """An untrained model is built without the checkpoint's post-processors: nothing to
    leave out."""
    if without and untrained_detector is not None:
        raise ValueError("--without applies to trained models, not to --untrained-detector")


def _time_model(
    model: ShowerModel,
    path: str,
    note: str,
    family: str,
    precision: str,
    batches: Sequence[int],
    spec: str,
    dev: Any,
    seed: int,
    *,
    threads: int,
    repeats: int,
    warmup: int,
    min_showers: int,
) -> list[BenchRow]:
    """One row per batch size of a model already set to ``precision``."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    backend = "torch" if precision == "fp32" else f"torch-{precision}"
    det = model.detector
    cond_all = bench_conditions(det, max(batches), spec, seed=seed)
    flops: float | None = None
    with torch.inference_mode():
        n_f = min(64, max(batches))
        counter = FlopCounterMode(display=False)
        with counter:
            model.sample(take(cond_all, n_f), _gen(torch, dev, seed))
        flops = counter.get_total_flops() / n_f
    rows = []
    for b in batches:
        cond = take(cond_all, b)
        gen = _gen(torch, dev, seed)

        def call(cond: Conditions = cond, gen: Any = gen, b: int = b) -> None:
            with torch.inference_mode():
                model.sample(cond, gen, batch_size=b)
            if dev.type == "cuda":
                torch.cuda.synchronize()

        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
        times, mem = time_calls(call, b, repeats, warmup, min_showers)
        if dev.type == "cuda":
            mem = (torch.cuda.max_memory_allocated() - base) / 2**20
        rows.append(
            make_row(
                path, backend, family, det, str(dev), threads, b, times, mem, flops, precision, note
            )
        )
        log.info(
            "torch %s %s batch %d: %.4g ms/shower",
            rows[-1].label,
            precision,
            b,
            rows[-1].ms_per_shower,
        )
    return rows


def _gen(torch: Any, dev: Any, seed: int) -> Any:
    g = torch.Generator(device=dev)
    g.manual_seed(seed)
    return g


__all__ = ["DEFAULT_PRECISIONS", "bench_torch", "check_checkpoint", "torch_precisions"]
