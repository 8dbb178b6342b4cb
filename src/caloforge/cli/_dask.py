"""``caloforge simulate --executor dask``: progress display over the Dask executor."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from caloforge.cli._app import console
from caloforge.simulate import SimulationConfig


def simulate_on_dask(
    config: SimulationConfig,
    output: Path,
    scheduler: str | None,
    shards: int | None,
    overwrite: bool,
    merge: bool,
    quiet: bool,
) -> None:
    """Run :func:`caloforge.simulate.simulate_dask` with a progress bar of events."""
    from caloforge.simulate.dask_executor import simulate_dask

    if not logging.getLogger().isEnabledFor(logging.DEBUG):
        import distributed  # noqa: F401  (its import sets up INFO logging; quieten it after)

        logging.getLogger("distributed").setLevel(logging.WARNING)
    start = time.perf_counter()
    if quiet:
        result = simulate_dask(
            config, output, scheduler=scheduler, shards=shards, overwrite=overwrite, merge=merge
        )
        return
    columns = (
        TextColumn("[bold]simulate (dask)"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} showers/s"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("simulate", total=config.n, rate="-")

        def progress(done: int, total: int) -> None:
            elapsed = time.perf_counter() - start
            bar.update(task, completed=done, total=total, rate=f"{done / max(elapsed, 1e-9):.2f}")

        result = simulate_dask(
            config,
            output,
            scheduler=scheduler,
            shards=shards,
            overwrite=overwrite,
            merge=merge,
            progress=progress,
        )
    where = (
        str(result.output)
        if result.output is not None
        else (
            f"{len(result.shards)} shard files {result.shards[0].parent}/"
            f"{result.shards[0].name.split('.shard-')[0]}.shard-*.h5"
        )
    )
    console.print(
        f"wrote {result.events} showers ({len(result.shards)} shards, {result.reused} reused) "
        f"to {where} in {result.seconds:.1f} s"
    )
