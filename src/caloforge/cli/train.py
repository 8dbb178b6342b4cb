"""``caloforge train``, ``generate``, ``calibrate``, ``refine`` and ``models``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from caloforge.cli._app import app, at_least, console
from caloforge.cli._interrupt import on_interrupt, output_not_written


@app.command()
def models() -> None:
    """List the model families, one line each.

    Example: caloforge models
    """
    from caloforge.models import describe_families

    table = Table("family", "description", "references (arXiv)")
    for name, summary, refs in describe_families():
        table.add_row(name, summary, ", ".join(refs))
    console.print(table)


class _Progress:
    """Rich progress bar fed by the trainer's callbacks (the library itself only logs)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar: Progress | None = None
        self.task: Any = None
        self.last = ""

    def on_start(self, start_step: int, total_steps: int) -> None:
        if self.quiet or total_steps <= start_step:
            return
        self.bar = Progress(
            TextColumn("[bold]train"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.bar.start()
        self.task = self.bar.add_task("train", total=total_steps, completed=start_step, info="")

    def on_step(self, step: int) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=step)

    def on_log(self, record: dict[str, Any]) -> None:
        if self.bar is None:
            return
        values = record.get("loss") or record.get("val") or {}
        self.last = " ".join(f"{k}={v:.3g}" for k, v in list(values.items())[:3])
        self.bar.update(self.task, info=self.last)

    def on_end(self, result: Any) -> None:
        self.close()

    def close(self) -> None:
        """Stop the bar (also when training stops with an error, before its message)."""
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def _kept_checkpoint(out: Path) -> str:
    checkpoint = out / "checkpoint.pt"
    if checkpoint.is_file():
        return f"{checkpoint} kept; run the same command with --resume to continue"
    return f"no checkpoint in {out} yet; run the same command again"


@app.command(context_settings={"allow_extra_args": False})
def train(
    overrides: list[str] = typer.Argument(
        None, help="Config overrides key=value (train.lr=3e-4, latent_dim=16)."
    ),
    model: str = typer.Option(..., "--model", "-m", help="Model family (caloforge models)."),
    data: list[Path] = typer.Option(..., "--data", help="Training shower file(s)."),
    val: Path | None = typer.Option(
        None, "--val", help="Validation file: metrics, best.pt, early stopping."
    ),
    config: Path | None = typer.Option(
        None, "--config", "-c", help="YAML/JSON config (model:/train: sections)."
    ),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Run folder (default: artifacts/runs/MODEL)."
    ),
    steps: int | None = typer.Option(
        None, "--steps", callback=at_least(1), help="Total training steps (train.steps)."
    ),
    resume: bool = typer.Option(
        False,
        "--resume",
        help="Continue the run in --out exactly where it stopped (settings other than steps, "
        "time limit, intervals and threads must stay as they were).",
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Start again in a folder that holds a run."
    ),
    device: str | None = typer.Option(
        None, "--device", help="auto | cpu | cuda | cuda:N (train.device)."
    ),
    seed: int | None = typer.Option(None, "--seed", help="Random seed (train.seed)."),
    threads: int | None = typer.Option(
        None, "--threads", callback=at_least(0), help="Torch CPU threads (train.threads)."
    ),
    detector: str | None = typer.Option(
        None, "--detector", "-d", help="Geometry for files without one."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Train a model family on shower files; checkpoints and metrics go to --out.

    Example: caloforge train --model vae --data train.h5 --val val.h5 --steps 20000 latent_dim=16
    """
    from caloforge.train import train as run

    extra = list(overrides or [])
    for key, value in (("steps", steps), ("device", device), ("seed", seed), ("threads", threads)):
        if value is not None:
            extra.append(f"train.{key}={value}")
    if detector is not None:  # never ignored: it must exist and match files that carry one
        from caloforge.data import ShowerFile

        ShowerFile([*data, *([val] if val is not None else [])], detector)
    progress = _Progress(quiet)
    folder = out if out is not None else Path("artifacts") / "runs" / model
    on_interrupt(lambda: _kept_checkpoint(folder))
    try:
        result = run(
            model,
            data,
            out=folder,
            val=val,
            config_file=config,
            overrides=extra,
            resume=resume,
            overwrite=overwrite,
            detector=detector,
            callbacks=[progress],  # type: ignore[list-item]
        )
    finally:
        progress.close()
    if not quiet:
        mem = result.describe.get("stored_bytes", 0)
        console.print(
            f"{result.family}: {result.steps} steps ({result.stopped}) "
            f"in {result.elapsed_s:.0f} s; "
            f"{result.describe.get('parameters', 0):,} parameters"
            + (f", {mem / 1e6:.1f} MB stored data" if mem else "")
        )
        console.print(f"checkpoint: {result.checkpoint}")
        if result.best_checkpoint is not None:
            console.print(f"best (validation {result.best:.4g}): {result.best_checkpoint}")


@contextmanager
def _count_bar(label: str, quiet: bool) -> Iterator[Callable[[int, int], None]]:
    """A showers-done bar's ``progress(done, total)`` callback; the bar appears with the first
    call, so that an error found before any work (a bad checkpoint) prints alone."""
    bar = Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=quiet,
    )
    task = bar.add_task(label, total=None)

    def progress(done: int, total: int) -> None:
        if not bar.live.is_started:
            bar.start()
        bar.update(task, completed=done, total=total)

    try:
        yield progress
    finally:
        if bar.live.is_started:
            bar.stop()


@app.command()
def generate(
    checkpoint: Path | None = typer.Option(
        None, "--checkpoint", help="Checkpoint written by caloforge train (or --model)."
    ),
    model: str | None = typer.Option(
        None, "--model", "-m", help="A pretrained model (caloforge pretrained list)."
    ),
    output: Path = typer.Option(..., "--output", "-o", help="Output shower file (HDF5)."),
    n: int | None = typer.Option(
        None,
        "-n",
        callback=at_least(1),
        help="Number of showers (with --conditions: first N; default all).",
    ),
    energy: str | None = typer.Option(
        None, "--energy", "-e", help="50GeV | loguniform:1GeV,100GeV | list:...,..."
    ),
    conditions_from: Path | None = typer.Option(
        None,
        "--conditions",
        "--conditions-from",
        help="Take every condition from a shower file (its first N rows).",
    ),
    particle: str | None = typer.Option(
        None,
        "--particle",
        "-p",
        help="gamma | gamma,e-,e+ | gamma:0.5,e-:0.5 (default: the trained particles).",
    ),
    theta: str | None = typer.Option(
        None, "--theta", help="Polar angle, degrees: 10 | uniform:0,20 (default: the gun's)."
    ),
    phi: str | None = typer.Option(
        None, "--phi", help="Azimuthal angle, degrees: 30 | uniform:0,360 (with --theta)."
    ),
    impact: str | None = typer.Option(
        None,
        "--impact",
        help="Impact point, mm: x,y | uniform:-20,20 (each axis) | DISTX/DISTY.",
    ),
    impact_spread: float = typer.Option(
        0.0, "--impact-spread", help="Spread a fixed impact point over a square this wide, mm."
    ),
    strict: bool = typer.Option(
        False, "--strict", help="Refuse conditions outside the trained range (default: warn)."
    ),
    batch_size: int = typer.Option(
        10_000, "--batch-size", callback=at_least(1), help="Showers per forward pass."
    ),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same showers)."),
    device: str = typer.Option("cpu", "--device", help="auto | cpu | cuda."),
    no_ema: bool = typer.Option(False, "--no-ema", help="Use the raw weights, not their EMA."),
    precision: str = typer.Option(
        "auto",
        "--precision",
        help="auto | fp32 | bf16: the family's networks in bfloat16 (auto: where the "
        "hardware has native bfloat16).",
    ),
    without: list[str] | None = typer.Option(
        None,
        "--without",
        help="Leave out a post-processor at the end of the chain (repeatable): --without "
        "refiner generates with the calibrated model the refiner was fitted on (faster).",
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output file."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Generate showers from a checkpoint or a pretrained model, in the full-simulation
    file layout.

    Example: caloforge generate --checkpoint runs/vae/checkpoint.pt
    --conditions val.h5 -o gen.h5; or --energy loguniform:1GeV,100GeV --theta uniform:0,20
    --phi uniform:0,360 --impact uniform:-20,20 --particle gamma,e-,e+ -n 1000;
    or --model atlas-pblar-gamma -e loguniform:1GeV,100GeV -n 10000 -o g.h5
    """
    import time

    from caloforge.generate import generate_file
    from caloforge.pretrained import pretrained_model

    if (checkpoint is None) == (model is None):
        raise ValueError("give exactly one of --checkpoint and --model")
    source = pretrained_model(model).name if model is not None else checkpoint
    assert source is not None
    t0 = time.perf_counter()
    output_not_written(output)
    with _count_bar("generate", quiet) as progress:
        path = generate_file(
            source,
            output,
            n=n,
            energy=energy,
            conditions_from=conditions_from,
            particle=particle,
            theta=theta,
            phi=phi,
            impact=impact,
            impact_spread=impact_spread,
            strict=strict,
            batch_size=batch_size,
            seed=seed,
            device=device,
            use_ema=not no_ema,
            precision=precision,
            without=without or (),
            overwrite=overwrite,
            progress=progress,
        )
    if not quiet:
        console.print(f"wrote {path} in {time.perf_counter() - t0:.1f} s")


@app.command()
def calibrate(
    checkpoint: Path = typer.Option(
        ..., "--checkpoint", help="Trained checkpoint (written by caloforge train)."
    ),
    data: Path = typer.Option(..., "--data", help="The training showers (HDF5)."),
    output: Path = typer.Option(..., "--output", "-o", help="The calibrated checkpoint."),
    n: int | None = typer.Option(
        None, "-n", callback=at_least(1), help="Use the first N training showers."
    ),
    mode: str = typer.Option(
        "energy",
        "--mode",
        help="energy: per-voxel tables in bins of energy (exportable); axis: tables in a "
        "frame centred on the track, for spread impact points and angles (not exportable); "
        "auto: axis when the training conditions spread, else energy.",
    ),
    bins: int | None = typer.Option(
        None,
        "--bins",
        callback=at_least(1),
        help="Bins of log incident energy [default: 8 energy, 4 axis].",
    ),
    levels: int | None = typer.Option(
        None,
        "--levels",
        callback=at_least(2),
        help="Quantile levels of the data's tables [default: 257 energy, 65 axis].",
    ),
    grid: int | None = typer.Option(
        None,
        "--grid",
        callback=at_least(2),
        help="Points of the model's CDF tables [default: 1024 energy, 256 axis].",
    ),
    offset_bins: int | None = typer.Option(
        None,
        "--offset-bins",
        callback=at_least(1),
        help="Axis mode: bins per axis of the track's position inside its cell [default: 2].",
    ),
    keep_layers: bool = typer.Option(
        False,
        "--keep-layers",
        help="Rescale each calibrated layer to the model's layer energy "
        "(models with a stage-1 layer-energy flow).",
    ),
    cluster_hits: bool = typer.Option(
        False,
        "--cluster-hits",
        help="Energy mode: the ranks of the cells the model leaves empty from a Gaussian "
        "random field over each layer, fitted to the data's hit clustering, so that the hits "
        "the calibration adds lie together as Geant4's do.",
    ),
    batch_size: int = typer.Option(
        10_000, "--batch-size", callback=at_least(1), help="Showers per forward pass."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the model's showers."),
    device: str = typer.Option("cpu", "--device", help="auto | cpu | cuda."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output file."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Fit the per-voxel quantile calibration of a trained model on its training data
    (--mode axis: in the frame of the track, for spread impact points and angles).

    Example: caloforge calibrate --checkpoint runs/diffusion/best.pt --data train.h5
    -o runs/diffusion/calibrated.pt
    """
    from caloforge.postprocess import calibrate as calibrate_checkpoint

    output_not_written(output)
    with _count_bar("calibrate", quiet) as progress:
        result = calibrate_checkpoint(
            checkpoint,
            data,
            output,
            n=n,
            mode=mode,
            bins=bins,
            levels=levels,
            grid=grid,
            offset_bins=offset_bins,
            keep_layers=keep_layers,
            cluster_hits=cluster_hits,
            seed=seed,
            batch_size=batch_size,
            device=device,
            overwrite=overwrite,
            progress=progress,
        )
    if not quiet:
        rec = result.record
        frame = (
            f" x {rec['offset_bins'] ** 2} offset classes x {rec['frame_positions']} positions "
            f"around the track ({rec['groups_calibrated']} of {rec['groups']} groups calibrated)"
            if rec["kind"] == "axis-quantile"
            else ""
        )
        console.print(
            f"wrote {result.path}: calibrated ({rec['kind']}) on {result.n_showers} showers in "
            f"{rec['bins']} energy bins{frame} ({result.seconds:.1f} s)"
        )
        if "rank_field" in rec:
            console.print(_rank_field_line(rec["rank_field"]), highlight=False)


def _rank_field_line(fit: dict[str, Any]) -> str:
    """The rank field's fit in one line: the mixing of each layer, and the fraction of hits
    next to a hit, data against calibrated (and with independent ranks)."""
    import numpy as np

    data = np.asarray(fit["adjacency_data"], dtype=float)
    cal = np.asarray(fit["adjacency_calibrated"], dtype=float)
    ind = np.asarray(fit["adjacency_independent"], dtype=float)
    mixing = " ".join(f"{m:g}" for m in fit["mixing"])
    miss = np.abs(cal - data)
    worst = int(np.nanargmax(miss)) if np.isfinite(miss).any() else 0
    return (
        f"rank field fitted on {fit['showers']} showers: mixing per layer {mixing}; hits next "
        f"to a hit, mean over layers, data {np.nanmean(data):.3f}, calibrated "
        f"{np.nanmean(cal):.3f} (independent ranks {np.nanmean(ind):.3f}); largest "
        f"difference {miss[worst]:.3f} (layer {worst})"
    )


@app.command()
def refine(
    checkpoint: Path = typer.Option(
        ..., "--checkpoint", help="Trained (and possibly calibrated) checkpoint."
    ),
    data: Path = typer.Option(..., "--data", help="The training showers (HDF5)."),
    output: Path = typer.Option(..., "--output", "-o", help="The refined checkpoint."),
    candidates: int = typer.Option(
        8, "--candidates", callback=at_least(2), help="Showers drawn per condition; one is kept."
    ),
    n: int | None = typer.Option(
        None, "-n", callback=at_least(1), help="Use the first N training showers."
    ),
    hidden: int = typer.Option(
        128, "--hidden", callback=at_least(1), help="Width of the classifier."
    ),
    ensemble: int = typer.Option(
        1,
        "--ensemble",
        callback=at_least(1),
        help="Classifiers trained with successive seeds, logits averaged.",
    ),
    threshold: float = typer.Option(0.0, "--threshold", help="Hit threshold, MeV."),
    threads: int = typer.Option(
        1, "--threads", callback=at_least(1), help="Torch threads of the classifier fit."
    ),
    batch_size: int = typer.Option(
        10_000, "--batch-size", callback=at_least(1), help="Showers per forward pass."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the model's showers and classifier."),
    device: str = typer.Option("cpu", "--device", help="auto | cpu | cuda."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output file."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Train a classifier refiner: generation then draws several showers per condition
    and keeps one, weighted by how much it looks like the training showers.

    Example: caloforge refine --checkpoint runs/diffusion/calibrated.pt --data train.h5
    -o runs/diffusion/refined.pt --candidates 8
    """
    from caloforge.postprocess import refine as refine_checkpoint

    output_not_written(output)
    with _count_bar("refine", quiet) as progress:
        result = refine_checkpoint(
            checkpoint,
            data,
            output,
            candidates=candidates,
            n=n,
            hidden=hidden,
            ensemble=ensemble,
            threshold=threshold,
            seed=seed,
            threads=threads,
            batch_size=batch_size,
            device=device,
            overwrite=overwrite,
            progress=progress,
        )
    if not quiet:
        console.print(
            f"wrote {result.path}: refiner trained on {result.n_showers} showers, "
            f"{result.record['candidates']} candidates per condition, held-out AUC "
            f"{result.record['held_out_auc']:.3f} ({result.seconds:.1f} s)"
        )
