"""Data-parallel training helpers: process group from the ``torchrun`` environment,
gradient averaging, rank-aware batch slices.

The trainer runs unchanged on one process; under ``torchrun --nproc-per-node K`` every
rank holds the whole model and the whole (in-memory) training set, draws the *same*
global permutation, and trains on its contiguous slice of each global batch. After every
``loss.backward()`` the gradients of the optimiser being stepped are averaged over the
ranks (one flattened ``all_reduce`` per optimiser step, weighted by the local batch
sizes), so that the update equals the single-process update on the global batch up to
floating-point noise. This is what :class:`torch.nn.parallel.DistributedDataParallel`
does for models with one ``forward``; the explicit reduction also covers families whose
``training_step`` calls several sub-networks and optimisers (GAN critic and generator).

Backends: ``gloo`` on CPU, ``nccl`` on CUDA (each rank on ``cuda:LOCAL_RANK``).

References:
    Li et al., "PyTorch Distributed: Experiences on Accelerating Data Parallel Training",
    arXiv:2006.15704.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

import numpy as np
import torch
from torch import nn

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class DistContext:
    """Where this process stands in a data-parallel run.

    Arguments:
        rank: global rank (0 writes checkpoints and logs).
        world_size: number of processes (1: plain single-process training).
        local_rank: rank on this node (selects ``cuda:LOCAL_RANK``).
        backend: ``gloo`` or ``nccl`` (empty when single-process).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str = ""

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


SINGLE = DistContext()


def env_world_size() -> int:
    """``WORLD_SIZE`` set by ``torchrun`` (1 when not launched by it)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        raise ValueError(f"WORLD_SIZE={os.environ['WORLD_SIZE']!r} is not an integer") from None


def writes_files() -> bool:
    """Whether this process writes the run's files: rank 0 of a data-parallel run (from
    the process group, else ``RANK`` set by ``torchrun``), or a single process."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return bool(torch.distributed.get_rank() == 0)
    return os.environ.get("RANK", "0").strip() in ("", "0")


def local_device(device: torch.device, ctx: DistContext) -> torch.device:
    """The device of this rank: ``cuda`` becomes ``cuda:LOCAL_RANK`` in a multi-GPU run."""
    if ctx.enabled and device.type == "cuda" and device.index is None:
        return torch.device("cuda", ctx.local_rank)
    return device


def join(device: torch.device) -> DistContext:
    """Join the ``torchrun`` process group (creating it if needed) and say where we stand.

    Single process (no ``WORLD_SIZE`` > 1 in the environment and no group): returns
    :data:`SINGLE`. Otherwise initialises the default group (``nccl`` for CUDA devices,
    ``gloo`` for CPU) unless the caller already did; a function decorated with
    :func:`leaves_group` (:func:`caloforge.train.train`) destroys a group it created when
    it returns.
    """
    dist = torch.distributed
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if dist.is_available() and dist.is_initialized():
        return DistContext(
            dist.get_rank(), dist.get_world_size(), local_rank, str(dist.get_backend())
        )
    if env_world_size() <= 1:
        return SINGLE
    if not dist.is_available():
        raise RuntimeError("torch.distributed is not available in this torch build")
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend=backend)
    ctx = DistContext(dist.get_rank(), dist.get_world_size(), local_rank, backend)
    log.info("rank %d of %d (%s)", ctx.rank, ctx.world_size, backend)
    return ctx


def leaves_group(func: Callable[P, R]) -> Callable[P, R]:
    """Decorate a function that may create the process group (through :func:`join`): a
    group that did not exist when it was called is destroyed when it returns or raises,
    every rank leaving together; a group the caller created is left as it is."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        dist = torch.distributed
        owned = not (dist.is_available() and dist.is_initialized())
        try:
            return func(*args, **kwargs)
        finally:
            if owned and dist.is_available() and dist.is_initialized():
                # every rank leaves together: a rank tearing gloo down while another still
                # talks to it aborted one run in a few ("terminate called without an active
                # exception")
                with contextlib.suppress(RuntimeError):
                    dist.barrier()
                dist.destroy_process_group()

    return wrapper


def local_slice(n: int, ctx: DistContext) -> slice:
    """Contiguous part of a global batch of ``n`` that rank ``ctx.rank`` trains on (the
    first ``n % world`` ranks get one more row)."""
    base, extra = divmod(n, ctx.world_size)
    start = ctx.rank * base + min(ctx.rank, extra)
    return slice(start, start + base + (1 if ctx.rank < extra else 0))


@torch.no_grad()
def average_gradients(
    params: Iterable[nn.Parameter], local_n: int, global_n: int, ctx: DistContext
) -> None:
    """Replace each gradient by the batch-weighted mean over the ranks.

    Every rank's gradient is of the mean loss over its ``local_n`` rows; the sum over ranks
    of ``grad * local_n / global_n`` is the gradient of the mean over the global batch.
    A parameter whose gradient is ``None`` on every rank keeps ``None`` (so Adam skips it,
    as in a single process). One flattened ``all_reduce`` per call.
    """
    if not ctx.enabled:
        return
    plist = [p for p in params if p.requires_grad]
    if not plist:
        return
    device = plist[0].device
    has = torch.tensor([p.grad is not None for p in plist], dtype=torch.float32, device=device)
    flat = torch.cat(
        [(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1).float() for p in plist]
    )
    flat.mul_(local_n / global_n)
    torch.distributed.all_reduce(flat)
    torch.distributed.all_reduce(has)
    offset = 0
    for p, seen in zip(plist, has.tolist(), strict=True):
        size = p.numel()
        if seen > 0:
            g = flat[offset : offset + size].view_as(p).to(p.dtype)
            if p.grad is None:
                p.grad = g.clone()
            else:
                p.grad.copy_(g)
        offset += size


@torch.no_grad()
def broadcast_module(module: nn.Module, ctx: DistContext) -> None:
    """Copy rank 0's parameters and buffers to every rank (they should already agree: a
    safety net against rank-dependent initialisation)."""
    if not ctx.enabled:
        return
    for t in [*module.parameters(), *module.buffers()]:
        torch.distributed.broadcast(t.data, src=0)


def mean_over_ranks(
    values: dict[str, float], ctx: DistContext, device: torch.device
) -> dict[str, float]:
    """Mean of per-rank scalars (same keys on every rank), e.g. logged losses."""
    if not ctx.enabled or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=device)
    torch.distributed.all_reduce(t)
    t /= ctx.world_size
    return dict(zip(keys, t.tolist(), strict=True))


def any_rank(flag: bool, ctx: DistContext, device: torch.device) -> bool:
    """True on every rank when ``flag`` is true on at least one (a collective)."""
    if not ctx.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
    return bool(t.item() > 0)


def broadcast_value(value: Any, ctx: DistContext) -> Any:
    """Rank 0's ``value`` on every rank (a picklable object)."""
    if not ctx.enabled:
        return value
    box = [value]
    torch.distributed.broadcast_object_list(box, src=0)
    return box[0]


def gather_values(value: Any, ctx: DistContext) -> list[Any]:
    """Every rank's ``value``, in rank order, on every rank (a picklable object)."""
    if not ctx.enabled:
        return [value]
    out: list[Any] = [None] * ctx.world_size
    torch.distributed.all_gather_object(out, value)
    return out


def rank_seed(seed: int, rank: int) -> int:
    """Seed of rank ``rank``'s noise generator: ``seed`` on rank 0 (so a one-process run is
    unchanged), a distinct derived seed on the others."""
    if rank == 0:
        return seed
    state = np.random.SeedSequence([seed, rank]).generate_state(2, dtype=np.uint32)
    return int(state[0]) << 31 | int(state[1]) >> 1


__all__ = [
    "SINGLE",
    "DistContext",
    "any_rank",
    "average_gradients",
    "broadcast_module",
    "broadcast_value",
    "env_world_size",
    "gather_values",
    "join",
    "leaves_group",
    "local_device",
    "local_slice",
    "mean_over_ranks",
    "rank_seed",
]
