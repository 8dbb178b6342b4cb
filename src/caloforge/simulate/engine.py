"""Full simulation with Geant4: parallel over processes, chunked, resumable, shardable.

The events of a run are numbered ``0..n-1``; event ``i``'s conditions and Geant4 seed
depend only on ``(seed, i)``. Events are simulated in chunks of ``chunk_size`` by worker
processes (spawned, one serial Geant4 run manager each). Each finished chunk is written
atomically into a parts folder next to the output (``.NAME.parts``); a restarted run
reuses the finished chunks (a chunk that cannot be read back is simulated again, with a
warning), so an interruption loses at most the chunks in flight. At the end the chunks are
streamed, in event order, into the HDF5 output (atomic rename) and the parts folder is
removed. The run holds the output's lock (:mod:`caloforge.files`) from start to end: a
second run on the same output refuses at once. ``shard=(k, N)`` keeps the events
``i % N == k``: the N shard outputs together hold exactly the events of the single run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing as mp
import shutil
import time
from collections.abc import Callable, Generator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import closing
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from caloforge.data.conditions import Conditions
from caloforge.data.hdf5 import ShowerWriter
from caloforge.files import atomic_output, claim_output, clean_orphans, write_text
from caloforge.geometry import SCORING_MODES
from caloforge.simulate.config import EventBatch, SimulationConfig, event_batch
from caloforge.simulate.g4data import GENERATOR_VERSION, G4DataSetup, resolve_g4data
from caloforge.simulate.geometry_builder import READOUT_WORLD_LAYOUT
from caloforge.simulate.scoring import choose_pitch
from caloforge.simulate.step_scoring import STEP_POINT
from caloforge.simulate.worker import ChunkResult, WorkerSpec, init_worker, run_chunk

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]
"""``progress(done, total)``: events finished so far (reused chunks included) and total."""

EXTRA_COLUMNS = ("energy_active", "energy_absorber", "energy_leaked", "cpu_time")
OPTIONAL_COLUMNS = (
    "energy_escaped",
    "fastsim_fast",
    "fastsim_full",
    "time_primary",
    "time_stacking",
    "time_model",
    "time_deposit",
)
"""Columns written when recorded: leakage validation; with fast simulation, the counts
per event and where the event's ``cpu_time`` went (s): primary generation, the Python
stacking calls, its share of the model's batched calls, reading the hits and adding the
showers; the rest is Geant4's transport."""
CHUNK_KEYS = ("showers", "energy", "direction", "impact", *EXTRA_COLUMNS)
"""Per-event arrays every chunk file holds."""


def parts_dir(output: Path) -> Path:
    """The folder holding the finished chunks of a run writing ``output``."""
    return output.parent / f".{output.name}.parts"


def chunk_path(folder: Path, k: int) -> Path:
    """The file of chunk ``k`` in a parts folder."""
    return folder / f"chunk-{k:06d}.npz"


def finished_chunks(output: Path) -> int:
    """How many finished chunks of a run writing ``output`` are kept for its rerun."""
    folder = parts_dir(output)
    return len(list(folder.glob("chunk-*.npz"))) if folder.is_dir() else 0


def _readout_layout(config: SimulationConfig) -> dict[str, int | str]:
    """What else defines the scoring mode's events: the parallel readout world's layout
    version (``parallel``), where a step's deposit is put (``steps``); nothing for
    ``replica`` (its files and resume keys stay as they were before these were recorded)."""
    if config.resolved_scoring == "parallel":
        return {"readout_world": READOUT_WORLD_LAYOUT}
    if config.resolved_scoring == "steps":
        return {"step_point": STEP_POINT}
    return {}


def _fingerprint(config: SimulationConfig, setup: G4DataSetup, pitch: float) -> str:
    """Hash of everything that changes the events (not the number of workers)."""
    desc = config.to_dict()
    desc.pop("workers", None)
    desc.pop("fastsim_batch", None)  # the same events for any batch size
    desc["data_mode"] = setup.mode
    desc["approximate_hadronic"] = setup.approximate_hadronic
    desc["pitch"] = pitch
    if setup.photon_data not in ("", "sandia"):  # Sandia tables: the key of earlier versions
        desc["photon_data"] = setup.photon_data
    if setup.mode == "offline":  # chunks of other offline tables are other physics
        desc["offline_tables"] = GENERATOR_VERSION
    desc |= _readout_layout(config)  # chunks of another readout layout: other events
    return hashlib.sha256(json.dumps(desc, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _generator(config: SimulationConfig, setup: G4DataSetup, pitch: float) -> dict[str, Any]:
    """The output's ``generator`` record: how its showers were simulated."""
    return {
        "backend": "geant4",
        "geant4_version": setup.geant4_version,
        "physics_list": config.resolved_physics,
        "production_cut_mm": config.resolved_cut,
        "scoring_pitch_mm": pitch,
        "scoring": config.resolved_scoring,
        **_readout_layout(config),
        "g4data": setup.describe(),
        "approximate": setup.mode == "offline",
        "approximate_hadronic": setup.approximate_hadronic,
        "shard": list(config.shard) if config.shard else None,
        "fastsim": config.fastsim,
    }


def _chunks(indices: NDArray[np.int64], size: int) -> list[NDArray[np.int64]]:
    return [indices[s : s + size] for s in range(0, len(indices), size)]


def _save_chunk(path: Path, result: ChunkResult, batch: EventBatch) -> None:
    arrays: dict[str, Any] = {k: getattr(result, k) for k in EXTRA_COLUMNS}
    for key in OPTIONAL_COLUMNS:
        if getattr(result, key) is not None:
            arrays[key] = getattr(result, key)
    # the run's output lock covers its parts folder
    with atomic_output(path, overwrite=True, lock=False) as tmp, tmp.open("wb") as f:
        np.savez(
            f,
            index=result.index,
            showers=result.showers,
            energy=batch.energy,
            particle=batch.particle,
            direction=batch.direction,
            impact=batch.impact,
            **arrays,
        )


def _chunk_done(path: Path, index: NDArray[np.int64]) -> bool:
    """Whether ``path`` holds the finished chunk of events ``index``; a chunk that cannot
    be read back whole is removed with a warning (its events are simulated again)."""
    if not path.exists():
        return False
    problem = ""
    try:
        with path.open("rb") as fh, np.load(fh) as z:  # (np.load leaks a bad file's handle)
            arrays = {k: z[k] for k in z.files}  # reads every member (zip CRC checks)
        if "index" not in arrays or not np.array_equal(arrays["index"], index):
            problem = "other events than expected"
        elif any(len(arrays.get(k, ())) != len(index) for k in CHUNK_KEYS):
            problem = "columns of the wrong length"
    except Exception as exc:  # zip, pickle, format or I/O errors: unreadable
        problem = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]
    if not problem:
        return True
    logger.warning("%s: unreadable chunk (%s); simulating its events again", path, problem)
    path.unlink(missing_ok=True)
    return False


def _other_mode(config: SimulationConfig, setup: G4DataSetup, pitch: float, key: str) -> str:
    """Why chunks of resume key ``key`` are not this run's, when they are this run's in
    another scoring mode (a run of a detector scoring per step made before the detector
    named its mode: ``replica``); else nothing."""
    for mode in SCORING_MODES:
        if mode == config.resolved_scoring:
            continue
        if _fingerprint(replace(config, scoring=mode), setup, pitch) == key:
            before = (
                f", the mode of runs of {config.det.name} made before it scored with "
                f"{config.resolved_scoring!r}"
                if mode == "replica" and config.scoring is None
                else ""
            )
            return (
                f"; they are this run scored with {mode!r}{before}: scoring={mode!r} "
                f"(--scoring {mode}) resumes them"
            )
    return ""


def _prepare_parts(
    folder: Path,
    fingerprint: str,
    overwrite: bool,
    explain: Callable[[str], str] = lambda key: "",
) -> None:
    """Keep the chunks in ``folder`` when they are of this run (``fingerprint``); else
    discard them (``overwrite``) or refuse, the message adding ``explain(their key)``."""
    manifest = folder / "manifest.json"
    if folder.exists():
        try:
            found = json.loads(manifest.read_text()).get("fingerprint")
        except (OSError, ValueError):
            found = None
        if found == fingerprint:
            clean_orphans(folder)
            return
        if not overwrite:
            why = explain(found) if isinstance(found, str) else ""
            raise FileExistsError(
                f"{folder}: holds chunks of a different run configuration{why}; pass "
                "overwrite=True (--overwrite) to discard them"
            )
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    write_text(manifest, json.dumps({"fingerprint": fingerprint}) + "\n", lock=False)


def _check_physics(config: SimulationConfig, setup: G4DataSetup) -> None:
    physics = config.resolved_physics
    if setup.mode == "offline" and physics in ("em_opt4", "FTFP_BERT_EMZ"):
        raise ValueError(
            f"physics={physics!r} (EM option 4) needs the official Geant4 data (G4EMLOW); "
            "offline mode supports EM option 0 only (em_opt0 or FTFP_BERT)"
        )
    if (
        setup.mode == "offline"
        and physics.startswith("FTFP_BERT")
        and not config.approximate_hadronic
    ):
        resolve_g4data(hadronic=True)  # raises the message naming the data sets


def simulate(
    config: SimulationConfig,
    output_path: str | Path,
    *,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
) -> Path:
    """Run Geant4 full simulation and write the showers to an HDF5 file.

    Arguments:
        config: the run configuration.
        output_path: the HDF5 file to write (atomically).
        overwrite: replace an existing output (and discard chunks of another run).
        progress: called as ``progress(done, total)`` after every chunk.

    Returns:
        The path of the written file.

    Raises:
        FileExistsError: the output exists and ``overwrite`` is false.
        OutputLockedError: another process writes the same output.
        OutputError: the output is a folder or the ``fastsim`` model.
        ValueError: a bad configuration, or hadrons/EM option 4 asked for in offline mode.

    Example:
        >>> cfg = SimulationConfig("atlas-pblar", particle="gamma", energy="10GeV", n=10)
        >>> simulate(cfg, "showers.h5")  # doctest: +SKIP
    """
    output = Path(output_path)
    with claim_output(output, overwrite=overwrite, inputs=[config.fastsim]):
        return _simulate(config, output, overwrite=overwrite, progress=progress)


def _simulate(
    config: SimulationConfig,
    output: Path,
    *,
    overwrite: bool,
    progress: ProgressCallback | None,
) -> Path:
    """:func:`simulate` holding the output's lock."""
    setup = resolve_g4data(
        config.g4_data,
        hadronic=config.resolved_physics.startswith("FTFP_BERT"),
        approximate_hadronic=config.approximate_hadronic,
    )
    _check_physics(config, setup)
    pitch = choose_pitch(config.det, config.scoring_pitch)
    indices = config.event_indices()
    chunks = _chunks(indices, config.chunk_size)
    output.parent.mkdir(parents=True, exist_ok=True)
    folder = parts_dir(output)
    _prepare_parts(
        folder,
        _fingerprint(config, setup, pitch),
        overwrite,
        lambda key: _other_mode(config, setup, pitch, key),
    )
    paths = [chunk_path(folder, k) for k in range(len(chunks))]
    pending = [k for k, p in enumerate(paths) if not _chunk_done(p, chunks[k])]
    total = len(indices)
    done = total - sum(len(chunks[k]) for k in pending)
    if done:
        logger.info("resuming: %d of %d events already simulated", done, total)
    if progress is not None:
        progress(done, total)

    start = time.perf_counter()
    if pending:
        spec = WorkerSpec(config, setup, pitch)
        with closing(_run_parallel(spec, [(k, chunks[k]) for k in pending], config)) as results:
            for k, result, batch in results:
                _save_chunk(paths[k], result, batch)
                done += len(result.index)
                if progress is not None:
                    progress(done, total)
    logger.info("simulated %d events in %.1f s", total, time.perf_counter() - start)

    attrs = {
        "config": config.to_dict(),
        "seed": config.seed,
        "generator": _generator(config, setup, pitch),
    }
    with ShowerWriter(
        output, config.det, attrs=attrs, overwrite=overwrite, chunk_rows=config.chunk_size
    ) as w:
        for path in paths:
            with np.load(path) as z:
                particle = (  # chunks of earlier versions hold no particle: a single one
                    z["particle"]
                    if "particle" in z.files
                    else np.full(len(z["energy"]), config.conditions.particles.codes[0])
                )
                cond = Conditions(z["energy"], particle, z["direction"], z["impact"])
                extras = {k: z[k] for k in (*EXTRA_COLUMNS, *OPTIONAL_COLUMNS) if k in z.files}
                w.append(z["showers"], cond, extras=extras)
    shutil.rmtree(folder, ignore_errors=True)
    return output


def _run_parallel(
    spec: WorkerSpec, work: list[tuple[int, NDArray[np.int64]]], config: SimulationConfig
) -> Generator[tuple[int, ChunkResult, Any], None, None]:
    """Yield ``(chunk number, result, batch)`` as chunks finish, at most 2 per worker in flight."""
    n_workers = max(1, min(config.workers, len(work)))
    ctx = mp.get_context("spawn")
    queue = list(reversed(work))
    running: dict[Future[ChunkResult], tuple[int, Any]] = {}
    with ProcessPoolExecutor(
        n_workers, mp_context=ctx, initializer=init_worker, initargs=(spec,)
    ) as pool:
        try:
            while queue or running:
                while queue and len(running) < 2 * n_workers:
                    k, idx = queue.pop()
                    batch = event_batch(config, idx)
                    running[pool.submit(run_chunk, batch)] = (k, batch)
                finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for fut in sorted(finished, key=lambda f: running[f][0]):
                    k, batch = running.pop(fut)
                    try:
                        result = fut.result()
                    except BrokenProcessPool as exc:
                        raise RuntimeError(
                            "a Geant4 worker process failed to start or crashed (Geant4's own "
                            "message is on stderr above); finished chunks are kept for a rerun"
                        ) from exc
                    yield k, result, batch
        except BaseException:
            # interrupted (SIGINT/SIGTERM) or failed: the chunks in flight would be discarded,
            # so the workers stop now instead of finishing them; finished chunks are on disk
            for fut in running:
                fut.cancel()
            for process in list(pool._processes.values()):
                process.terminate()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
