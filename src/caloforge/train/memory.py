"""Refuse a training run whose estimated peak memory does not fit, before any work.

A family that can estimate its peak memory from the layout, its network sizes and the
batch (:meth:`~caloforge.models.ShowerModel.memory_estimate`) is checked against
``train.max_memory_gb``, or, when that is 0, against the memory the device has available
(CPU: ``MemAvailable`` plus what this process already holds; CUDA: the free memory).
The refusal is one line with the batch size that would fit.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch

from caloforge.models import ShowerModel

log = logging.getLogger(__name__)

GB = 1e9


class MemoryEstimateError(ValueError):
    """The estimated peak memory of a run exceeds what it may use (one line)."""


def _process_rss() -> int:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


def available_memory(device: torch.device) -> int | None:
    """Bytes a run on ``device`` can use now; None when unknown."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024 + _process_rss()
    except (OSError, ValueError):
        return None
    return None


def fitting_batch(model: ShowerModel, limit: int, batch_size: int) -> int:
    """The largest batch size below ``batch_size`` whose estimate fits ``limit`` (0: none)."""
    lo, hi = 0, batch_size
    while hi - lo > 1:
        mid = (lo + hi) // 2
        estimate = model.memory_estimate(mid, training=True)
        if estimate is not None and estimate <= limit:
            lo = mid
        else:
            hi = mid
    return lo


def check_memory(
    model: ShowerModel, batch_size: int, max_memory_gb: float, device: torch.device
) -> None:
    """Refuse training ``model`` at ``batch_size`` when its estimated peak memory exceeds
    ``max_memory_gb`` (0: the device's available memory).

    Raises:
        MemoryEstimateError: naming the estimate, the limit and the batch size that fits.
    """
    estimate = model.memory_estimate(batch_size, training=True)
    if estimate is None:
        return
    if max_memory_gb > 0:
        limit, source = int(max_memory_gb * GB), "train.max_memory_gb"
    else:
        available = available_memory(device)
        if available is None:
            return
        limit, source = available, f"available on {device.type}"
    log.info(
        "estimated peak memory of %s at batch %d: %.2f GB (limit %.2f GB, %s)",
        model.name,
        batch_size,
        estimate / GB,
        limit / GB,
        source,
    )
    if estimate <= limit:
        return
    fits = fitting_batch(model, limit, batch_size)
    advice = (
        f"train.batch_size={fits} fits"
        if fits
        else "no batch size fits: make the networks smaller or the patches coarser"
    )
    raise MemoryEstimateError(
        f"train.batch_size={batch_size}: {model.name} on {model.detector.name} needs about "
        f"{estimate / GB:.1f} GB, more than the {limit / GB:.1f} GB {source}; {advice}"
    )


__all__ = ["MemoryEstimateError", "available_memory", "check_memory", "fitting_batch"]
