"""Merge shower files (the shards of a distributed simulation) into one file, streaming.

The N shard outputs of a run (``caloforge simulate --shard k/N``) hold the events
``i % N == k``. When the inputs are exactly the shards ``0..N-1`` of one run (same
configuration apart from the shard, the number of workers and the chunk size), the merged
file holds the events in their original order ``0..n-1``, identical to the single-process
run; any other set of files is concatenated in the order given. Memory is bounded by
one block of rows per input; the output is written atomically, under its lock, and may
not be one of the inputs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from caloforge.data import Conditions, ShowerFile, ShowerWriter
from caloforge.files import claim_output
from caloforge.geometry import Detector, same_detector

log = logging.getLogger(__name__)

STANDARD = ("incident_energies", "showers", "particle", "incident_direction", "impact_point")
WRITER_ATTRS = ("caloforge_schema", "caloforge_version", "detector", "units")
EVENT_NEUTRAL = ("shard", "workers", "chunk_size")
"""Configuration keys that do not change the events of a run."""


class MergeError(ValueError):
    """Shower files that cannot be merged (other detector, other columns); one line."""


@dataclass(frozen=True)
class MergeResult:
    """What :func:`merge_showers` wrote.

    Attributes:
        path: the merged file.
        showers: number of showers.
        event_order: True when the shards of one run were interleaved back into event
            order, False when the files were concatenated.
    """

    path: Path
    showers: int
    event_order: bool


def _json_attr(attrs: dict[str, Any], key: str) -> dict[str, Any] | None:
    value = attrs.get(key)
    if not isinstance(value, str):
        return None
    try:
        out = json.loads(value)
    except ValueError:
        return None
    return out if isinstance(out, dict) else None


def shard_layout(files: Sequence[ShowerFile]) -> list[int] | None:
    """Shard number of each file when they are the complete shard set ``0..N-1`` of one
    run, else None."""
    keys: list[tuple[int, int]] = []
    base: str | None = None
    for f in files:
        gen, cfg = _json_attr(f.attrs, "generator"), _json_attr(f.attrs, "config")
        shard = (gen or {}).get("shard") or (cfg or {}).get("shard")
        if cfg is None or not isinstance(shard, list) or len(shard) != 2:
            return None
        neutral = {k: v for k, v in cfg.items() if k not in EVENT_NEUTRAL}
        text = json.dumps(neutral, sort_keys=True, default=str) + str(f.attrs.get("seed"))
        if base is not None and text != base:
            return None
        base = text
        keys.append((int(shard[0]), int(shard[1])))
    n_shards = {m for _, m in keys}
    if len(n_shards) != 1 or sorted(k for k, _ in keys) != list(range(n_shards.pop())):
        return None
    total = sum(len(f) for f in files)
    for (k, m), f in zip(keys, files, strict=True):
        if len(f) != len(range(k, total, m)):
            return None
    return [k for k, _ in keys]


def _extras(f: ShowerFile) -> list[str]:
    return sorted(k for k in f.keys() if k not in STANDARD)


def merge_showers(
    output: str | Path,
    inputs: Sequence[str | Path],
    *,
    overwrite: bool = False,
    detector: Detector | str | Path | None = None,
    order: Literal["auto", "concat"] = "auto",
    block: int = 10_000,
) -> MergeResult:
    """Stream shower files into one file.

    Arguments:
        output: the merged HDF5 file (written atomically).
        inputs: shower files (shards) of one detector, with the same per-shower columns.
        overwrite: replace an existing output.
        detector: geometry for files that do not carry it.
        order: ``auto``: event order when the inputs are the complete shard set of one
            run, else concatenation in the given order; ``concat``: always concatenate.
        block: rows read per step (memory bound).

    Returns:
        :class:`MergeResult`.

    Raises:
        MergeError: no input, other detectors or columns. OutputError: the output is one
        of the inputs (same path or same inode), or a folder. ShowerFileError: an
        unreadable input. FileExistsError: the output exists. OutputLockedError: another
        process writes the output.
    """
    out = Path(output)
    if not inputs:
        raise MergeError("no input file to merge")
    if order not in ("auto", "concat"):
        raise MergeError(f"order {order!r} is not 'auto' or 'concat'")
    paths = [Path(p) for p in inputs]
    with claim_output(out, overwrite=overwrite, inputs=paths):
        return _merge(out, paths, overwrite=overwrite, detector=detector, order=order, block=block)


def _merge(
    out: Path,
    paths: list[Path],
    *,
    overwrite: bool,
    detector: Detector | str | Path | None,
    order: Literal["auto", "concat"],
    block: int,
) -> MergeResult:
    """:func:`merge_showers` holding the output's lock."""
    files = [ShowerFile(p, detector) for p in paths]
    det = files[0].detector
    ref_cols = _extras(files[0])
    for p, f in zip(paths, files, strict=True):
        if not same_detector(f.detector, det):
            raise MergeError(
                f"{p}: is for detector {f.detector.name!r}, not {det.name!r} like {paths[0]}"
            )
        if _extras(f) != ref_cols:
            raise MergeError(
                f"{p}: has columns {_extras(f)}, {paths[0]} has {ref_cols}; cannot merge"
            )
    layout = shard_layout(files) if order == "auto" else None
    attrs = {
        k: v.item() if isinstance(v, np.generic) else v
        for k, v in files[0].attrs.items()
        if k not in WRITER_ATTRS
    }
    if layout is not None:
        for key in ("config", "generator"):
            value = _json_attr(attrs, key)
            if value is not None:
                value["shard"] = None
                attrs[key] = value
    attrs["merged_from"] = [str(p) for p in paths]
    total = sum(len(f) for f in files)
    with ShowerWriter(out, det, attrs=attrs, overwrite=overwrite, chunk_rows=1000) as w:
        if layout is None:
            for f in files:
                for start in range(0, len(f), block):
                    _append(w, f, start, start + block, ref_cols)
        else:
            by_shard = dict(zip(layout, files, strict=True))
            n_shards = len(files)
            rows = max(1, block // n_shards)
            for r0 in range(0, -(-total // n_shards), rows):
                _append_interleaved(w, by_shard, n_shards, total, r0, r0 + rows, ref_cols)
    log.info("merged %d files (%d showers) into %s", len(files), total, out)
    return MergeResult(out, total, layout is not None)


def _append(w: ShowerWriter, f: ShowerFile, start: int, stop: int, cols: list[str]) -> None:
    extras = {k: f.read(k, start, stop) for k in cols}
    w.append(f.showers(start, stop), f.conditions(start, stop), extras=extras or None)


def _append_interleaved(
    w: ShowerWriter,
    shards: dict[int, ShowerFile],
    n_shards: int,
    total: int,
    r0: int,
    r1: int,
    cols: list[str],
) -> None:
    """Events ``r0*N .. min(r1*N, total)``: event i is row ``i // N`` of shard ``i % N``."""
    first, last = r0 * n_shards, min(r1 * n_shards, total)
    n = last - first
    showers = np.empty((n, w.detector.n_voxels), dtype=np.float32)
    energy, particle = np.empty(n), np.empty(n, dtype=np.int64)
    direction, impact = np.empty((n, 3)), np.empty((n, 3))
    extras: dict[str, NDArray[np.floating]] = {k: np.empty(n) for k in cols}
    for k, f in shards.items():
        stop = min(r1, len(f))
        if stop <= r0:
            continue
        at = np.arange(r0, stop) * n_shards + k - first
        cond = f.conditions(r0, stop)
        showers[at] = f.showers(r0, stop)
        energy[at], particle[at] = cond.energy, cond.particle
        direction[at], impact[at] = cond.direction, cond.impact
        for key in cols:
            extras[key][at] = f.read(key, r0, stop)
    w.append(showers, Conditions(energy, particle, direction, impact), extras=extras or None)


__all__ = ["MergeError", "MergeResult", "merge_showers", "shard_layout"]
