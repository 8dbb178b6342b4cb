"""Geant4 data production on a Dask cluster: one task per shard of the run.

A run of ``n`` events is cut into ``N`` shards (event ``i`` belongs to shard ``i % N``,
as with ``caloforge simulate --shard k/N``). Each shard is one Dask task that simulates it
with :func:`caloforge.simulate.simulate` (one worker, chunked and resumable) in a fresh
Python process started by the Dask worker: Geant4 allows one run manager per process, and
Dask worker processes are daemonic (they cannot start ``multiprocessing`` children), so
the task runs ``python -m caloforge.simulate.shard_worker`` as a subprocess. Dask
provides the scheduling, retries when a worker dies and the cluster (a
:class:`distributed.LocalCluster` of one-thread worker processes by default; any
scheduler address, e.g. of a ``dask-jobqueue`` Slurm/HTCondor cluster).

The events (conditions and Geant4 seeds) depend only on ``(seed, index)``: the shards
merged in event order equal the single-process run. A rerun of the same command skips
finished shards and resumes unfinished ones from their chunks. The shard files must be on
a file system that the workers and the client share.
"""

from __future__ import annotations

import json
import logging
import pickle
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from caloforge._optional import require
from caloforge.simulate.config import SimulationConfig
from caloforge.simulate.merge import merge_showers

log = logging.getLogger(__name__)

ShardProgress = Callable[[int, int], None]
"""``progress(done, total)``: events of finished shards (reused ones included), total."""


@dataclass(frozen=True)
class DaskRunResult:
    """What :func:`simulate_dask` produced.

    Attributes:
        output: the merged file (None with ``merge=False``).
        shards: the shard files (deleted after a merge unless ``keep_shards``).
        events: number of events.
        reused: shards found finished from an earlier run.
        seconds: wall time.
    """

    output: Path | None
    shards: list[Path]
    events: int
    reused: int
    seconds: float


def shard_paths(output: str | Path, n_shards: int) -> list[Path]:
    """``OUT.shard-00003-of-00008.h5``-style paths beside ``output``."""
    out = Path(output)
    return [
        out.with_name(f"{out.stem}.shard-{k:05d}-of-{n_shards:05d}{out.suffix or '.h5'}")
        for k in range(n_shards)
    ]


def _comparable(config_dict: dict[str, Any]) -> str:
    d = {k: v for k, v in config_dict.items() if k not in ("workers", "chunk_size")}
    return json.dumps(d, sort_keys=True, default=str)


def _finished(path: Path, config: SimulationConfig) -> bool:
    """True when ``path`` is a finished shard of exactly this configuration."""
    if not path.exists():
        return False
    import h5py

    try:
        with h5py.File(path, "r") as f:
            stored = f.attrs.get("config")
        stored_dict = json.loads(stored) if isinstance(stored, str | bytes) else None
    except (OSError, ValueError):
        return False
    return stored_dict is not None and _comparable(stored_dict) == _comparable(config.to_dict())


def run_shard(
    config: SimulationConfig, path: str, overwrite: bool = False
) -> tuple[str, int, float]:
    """Simulate one shard in a fresh Python process (the Dask task).

    Returns:
        (path, number of events, seconds).

    Raises:
        RuntimeError: the simulation process failed; the message holds its last stderr lines.
    """
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "caloforge.simulate.shard_worker"],
        input=pickle.dumps((config, path, overwrite)),
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-5:]
        raise RuntimeError(
            f"shard {config.shard} -> {path} failed (exit {proc.returncode}): " + " | ".join(tail)
        )
    return path, len(config.event_indices()), time.perf_counter() - start


def simulate_dask(
    config: SimulationConfig,
    output: str | Path,
    *,
    scheduler: str | None = None,
    shards: int | None = None,
    overwrite: bool = False,
    merge: bool = True,
    keep_shards: bool = False,
    progress: ShardProgress | None = None,
    retries: int = 2,
) -> DaskRunResult:
    """Simulate ``config`` as ``shards`` Dask tasks, then (optionally) merge them.

    Arguments:
        config: the run (its ``shard`` must be None; ``workers`` = local Dask workers
            when no scheduler is given).
        output: the merged file; the shards are written beside it
            (:func:`shard_paths`).
        scheduler: a Dask scheduler address (``tcp://host:8786``) or scheduler file;
            None: a ``LocalCluster`` of ``config.workers`` processes with one thread each.
        shards: number of shards (default: the number of worker threads of the cluster).
        overwrite: replace an existing output and shards of another configuration.
        merge: stream the shards into ``output`` in event order.
        keep_shards: keep the shard files after merging.
        progress: ``progress(done, total)`` after every finished shard.
        retries: Dask retries of a shard whose worker died (it resumes from its chunks).

    Returns:
        :class:`DaskRunResult`.

    Raises:
        FileExistsError: the output exists, or a shard file of another configuration.
        ValueError: a sharded config or a bad shard count. RuntimeError: a shard failed.
    """
    require("distributed")
    from distributed import Client, LocalCluster, as_completed

    start = time.perf_counter()
    out = Path(output)
    if config.shard is not None:
        raise ValueError("the Dask executor makes the shards itself; do not pass --shard")
    if merge and out.exists() and not overwrite:
        raise FileExistsError(f"{out}: exists; pass overwrite=True (--overwrite) to replace it")
    if shards is not None and shards < 1:
        raise ValueError(f"--shards {shards}: must be >= 1")
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(
            n_workers=config.workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # a free port: several users may share a machine
            silence_logs=logging.WARNING,
        )
        client = Client(cluster)
    elif Path(scheduler).is_file():
        client = Client(scheduler_file=scheduler)
    else:
        client = Client(scheduler)
    try:
        n_shards = shards or max(1, sum(client.nthreads().values()))
        n_shards = max(1, min(n_shards, max(config.n, 1)))
        paths = shard_paths(out, n_shards)
        configs = [replace(config, shard=(k, n_shards), workers=1) for k in range(n_shards)]
        total = config.n
        done, reused, todo = 0, 0, []
        for cfg, path in zip(configs, paths, strict=True):
            if _finished(path, cfg):
                done += len(cfg.event_indices())
                reused += 1
            elif path.exists() and not overwrite:
                raise FileExistsError(
                    f"{path}: a shard of another run configuration; pass overwrite=True "
                    "(--overwrite) to replace it"
                )
            else:
                todo.append((cfg, path))
        if reused:
            log.info("reusing %d finished shards of %d", reused, n_shards)
        if progress is not None:
            progress(done, total)
        futures = [
            client.submit(
                run_shard,
                cfg,
                str(path),
                overwrite,
                key=f"caloforge-shard-{cfg.shard[0]}-of-{n_shards}-{path.name}",
                pure=False,
                retries=retries,
            )
            for cfg, path in todo
            if cfg.shard is not None
        ]
        for fut in as_completed(futures):
            path_done, n_events, seconds = fut.result()
            done += n_events
            log.info("shard %s: %d events in %.1f s", path_done, n_events, seconds)
            if progress is not None:
                progress(done, total)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    merged = None
    if merge:
        merged = merge_showers(out, paths, overwrite=overwrite).path
        if not keep_shards:
            for p in paths:
                p.unlink(missing_ok=True)
    return DaskRunResult(merged, paths, total, reused, time.perf_counter() - start)


__all__ = ["DaskRunResult", "run_shard", "shard_paths", "simulate_dask"]
