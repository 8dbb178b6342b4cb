"""``caloforge simulate``: Geant4 full simulation into a shower file."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from caloforge.cli._app import app, at_least, console
from caloforge.cli._interrupt import on_interrupt
from caloforge.deploy.fastsim.hook import DEFAULT_BATCH


def _number_or_text(text: str) -> float | str:
    """A plain number as a float (recorded as before), anything else as written."""
    try:
        return float(text)
    except ValueError:
        return text


def _point_or_text(text: str | None) -> tuple[float, float] | str | None:
    """``"x,y"`` of two plain numbers as a point (recorded as before), else as written."""
    if text is None:
        return None
    try:
        x, y = (float(v) for v in text.split(","))
    except ValueError:
        return text
    return x, y


def _shard(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        k, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard {text!r}: expected k/N, e.g. 0/10") from None
    return k, n


def _kept_chunks(output: Path) -> str:
    from caloforge.simulate.engine import finished_chunks, parts_dir

    n = finished_chunks(output)
    if n == 0:
        return f"no chunk finished yet, {output} not written; run the same command again"
    return f"{n} finished chunks kept in {parts_dir(output)}; run the same command again to resume"


@app.command()
def simulate(
    output: Path = typer.Option(..., "--output", "-o", help="Output shower file (.h5)."),
    detector: str = typer.Option(
        "atlas-pblar", "--detector", "-d", help="Preset name or detector file."
    ),
    particle: str | None = typer.Option(
        None,
        "--particle",
        "-p",
        help=(
            "e-, e+, gamma, pi+, pi-, or a per-event mixture: gamma,e-,e+ (equal parts) | "
            "gamma:0.5,e-:0.25,e+:0.25 (default: the preset's gun)."
        ),
    ),
    energy: str = typer.Option(
        "10GeV",
        "--energy",
        "-e",
        help=(
            "10GeV | 500MeV | list:1GeV,10GeV | uniform:1GeV,100GeV | "
            "loguniform:1GeV,100GeV (1 GeV..1 TeV)."
        ),
    ),
    n: int = typer.Option(100, "-n", callback=at_least(1), help="Number of showers."),
    workers: int = typer.Option(
        1,
        "--workers",
        "-j",
        callback=at_least(1),
        help="Worker processes (one Geant4 run manager each).",
    ),
    seed: int = typer.Option(1, "--seed", help="Run seed; event i's seed derives from (seed, i)."),
    theta: str | None = typer.Option(
        None,
        "--theta",
        help="Polar incidence angle, degrees in [0, 90): 10 | uniform:0,20 | list:0,10 "
        "(default: the gun's direction).",
    ),
    phi: str | None = typer.Option(
        None,
        "--phi",
        help="Azimuthal incidence angle, degrees: 30 | uniform:0,360 (needs --theta).",
    ),
    impact: str | None = typer.Option(
        None,
        "--impact",
        help="Impact point on the front face, mm: x,y | uniform:-20,20 (each axis) | "
        "uniform:-20,20/0 (x/y) (default: the gun's).",
    ),
    impact_spread: float = typer.Option(
        0.0,
        "--impact-spread",
        help="Spread a fixed impact point uniformly over a square of this width, mm.",
    ),
    physics: str | None = typer.Option(
        None,
        "--physics",
        help="em_opt0 | em_opt4 | FTFP_BERT | FTFP_BERT_EMZ (default: the preset's).",
    ),
    chunk_size: int = typer.Option(
        100,
        "--chunk-size",
        callback=at_least(1),
        help="Events per chunk: the unit of work and of resumption.",
    ),
    shard: str | None = typer.Option(
        None, "--shard", help="k/N: simulate only events i with i %% N == k (batch job arrays)."
    ),
    g4_data: Path | None = typer.Option(
        None, "--g4-data", help="Directory with the official Geant4 data sets."
    ),
    scoring: str | None = typer.Option(
        None,
        "--scoring",
        help="Readout cells scored as replicas inside the active layers (replica), in a "
        "parallel world that adds no boundary to the mass geometry (parallel, slower), or "
        "without any readout volume, each step's deposit binned by its midpoint (steps) "
        "(default: the detector's, shown by caloforge detector show).",
    ),
    approximate_hadronic: bool = typer.Option(
        False,
        "--approximate-hadronic",
        help="Allow hadrons without the official data (output marked approximate).",
    ),
    fastsim: Path | None = typer.Option(
        None,
        "--fastsim",
        help=(
            "Exported model (.onnx, caloforge export) replacing the full shower of the "
            "particles it was trained for."
        ),
    ),
    fastsim_batch: int = typer.Option(
        DEFAULT_BATCH,
        "--fastsim-batch",
        callback=at_least(1),
        help=(
            "Tracks handed to the --fastsim model that are collected, over many events, "
            "before one model call (the output does not depend on it)."
        ),
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output file."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    executor: str = typer.Option(
        "local", "--executor", help="local (worker processes here) | dask (one task per shard)."
    ),
    scheduler: str | None = typer.Option(
        None,
        "--scheduler",
        help=(
            "Dask scheduler address or scheduler file "
            "(default: a LocalCluster of --workers processes)."
        ),
    ),
    shards: int | None = typer.Option(
        None,
        "--shards",
        callback=at_least(1),
        help="Dask: number of shards (default: the cluster's worker threads).",
    ),
    no_merge: bool = typer.Option(
        False, "--no-merge", help="Dask: keep the shard files, do not merge them into --output."
    ),
) -> None:
    """Simulate showers with Geant4 (offline EM physics unless official data are given).

    An interrupted run continues where it stopped when the same command is run again.

    Example: caloforge simulate --detector atlas-pblar --particle gamma --energy
    loguniform:1GeV,100GeV -n 10000 --workers 2 --seed 1 -o showers.h5
    """
    from caloforge.simulate import SimulationConfig
    from caloforge.simulate import simulate as run

    config = SimulationConfig(
        detector=detector,
        particle=particle,
        energy=energy,
        n=n,
        seed=seed,
        workers=workers,
        theta=_number_or_text(theta) if theta is not None else None,
        phi=_number_or_text(phi) if phi is not None else 0.0,
        impact=_point_or_text(impact),
        impact_spread=impact_spread,
        physics=physics,
        chunk_size=chunk_size,
        g4_data=g4_data,
        scoring=scoring,  # type: ignore[arg-type]  # checked by SimulationConfig
        approximate_hadronic=approximate_hadronic,
        shard=_shard(shard),
        fastsim=fastsim,
        fastsim_batch=fastsim_batch,
    )
    start = time.perf_counter()
    if executor not in ("local", "dask"):
        raise ValueError(f"--executor {executor!r}: expected local or dask")
    if executor == "local" and (scheduler is not None or shards is not None or no_merge):
        raise ValueError("--scheduler, --shards and --no-merge need --executor dask")
    if executor == "dask":
        from caloforge.cli._dask import simulate_on_dask

        simulate_on_dask(config, output, scheduler, shards, overwrite, not no_merge, quiet)
        return
    on_interrupt(lambda: _kept_chunks(output))
    if quiet:
        path = run(config, output, overwrite=overwrite)
    else:
        columns = (
            TextColumn("[bold]simulate"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]} showers/s"),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=console) as bar:
            task = bar.add_task("simulate", total=len(config.event_indices()), rate="-")
            first: list[int] = []

            def progress(done: int, total: int) -> None:
                if not first:
                    first.append(done)  # chunks reused from an interrupted run
                    bar.reset(task, total=total, completed=done, rate="-")
                    return
                elapsed = time.perf_counter() - start
                rate = (done - first[0]) / elapsed if elapsed > 0 else 0.0
                bar.update(task, completed=done, rate=f"{rate:.2f}")

            path = run(config, output, overwrite=overwrite, progress=progress)
    if not quiet:
        console.print(
            f"wrote {len(config.event_indices())} showers to {path} "
            f"in {time.perf_counter() - start:.1f} s"
        )
    if fastsim is not None:
        from caloforge.data import ShowerFile

        f = ShowerFile(path)
        fast, full = int(f.read("fastsim_fast").sum()), int(f.read("fastsim_full").sum())
        console.print(
            f"fast simulation: {fast} particles by the model, {full} in full simulation "
            "(outside the trained range or type)"
        )
        from caloforge.deploy.fastsim.profile import PARTS, cpu_profile

        cols = ("cpu_time", *(f"time_{p}" for p in PARTS if p != "transport"))
        prof = cpu_profile({c: f.read(c) for c in cols})
        parts = ", ".join(f"{p} {prof[p]:.3g}" for p in PARTS)
        console.print(f"CPU per event {prof['total']:.3g} ms: {parts} (ms)")
