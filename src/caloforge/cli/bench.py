"""``caloforge bench``: generation speed of models against Geant4 in the same run."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from caloforge.bench.torch_backend import DEFAULT_PRECISIONS
from caloforge.cli._app import app, at_least, console
from caloforge.files import write_text
from caloforge.hardware import parse_precisions

if TYPE_CHECKING:
    from caloforge.bench import BenchReport


def _batches(text: str) -> list[int]:
    try:
        out = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(
            f"--batch {text!r}: expected comma-separated integers, e.g. 1,128,1024"
        ) from None
    if not out or any(b < 1 for b in out):
        raise ValueError(f"--batch {text!r}: batch sizes must be >= 1")
    return out


def _precisions(value: str) -> str:
    parse_precisions(value, "--precision")
    return value


@app.command()
def bench(
    checkpoint: list[Path] = typer.Option(
        ..., "--checkpoint", "-c", help="A .pt checkpoint or an .onnx export (repeatable)."
    ),
    batch: str = typer.Option(
        "1,10,128,1024,4096", "--batch", "-b", help="Comma-separated batch sizes."
    ),
    device: str = typer.Option("cpu", "--device", help="cpu | cuda (ONNX models run on cpu)."),
    threads: int = typer.Option(
        1, "--threads", callback=at_least(1), help="Intra-op threads (torch and onnxruntime)."
    ),
    repeats: int = typer.Option(
        5,
        "--repeats",
        callback=at_least(1),
        help="Timed repeats per batch size (median and spread).",
    ),
    warmup: int = typer.Option(
        2, "--warmup", callback=at_least(0), help="Untimed warm-up calls per batch size."
    ),
    energy: str | None = typer.Option(
        None, "--energy", help="Energy spec or reference file (default: the training data's)."
    ),
    geant4: bool = typer.Option(
        True,
        "--geant4/--no-geant4",
        help="Time a small Geant4 sample of the same detector and energies.",
    ),
    geant4_showers: int = typer.Option(
        30, "--geant4-showers", callback=at_least(1), help="Showers in the Geant4 sample."
    ),
    untrained_detector: str | None = typer.Option(
        None,
        "--untrained-detector",
        help="Time an UNTRAINED model of the checkpoint's family on this detector "
        "(voxel-count scaling).",
    ),
    without: list[str] | None = typer.Option(
        None,
        "--without",
        help="Leave out a post-processor at the end of every .pt checkpoint's chain "
        "(repeatable): --without refiner times the calibrated model the refiner was fitted on.",
    ),
    json_out: Path | None = typer.Option(None, "--json", help="Write all measurements as JSON."),
    markdown: Path | None = typer.Option(None, "--markdown", help="Write a Markdown table."),
    seed: int = typer.Option(0, "--seed", help="Seed of conditions and noise."),
    precision: str = typer.Option(
        DEFAULT_PRECISIONS,
        "--precision",
        callback=_precisions,
        help="Comma-separated, each of auto | fp32 | bf16: the networks of .pt checkpoints "
        "timed at every precision listed (auto: bfloat16 where the hardware has native "
        "bfloat16, else float32; a precision met twice is timed once).",
    ),
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help="No progress and no table: only the files written."
    ),
) -> None:
    """Time per shower, showers/s, peak memory and FLOPs of models, and the speed-up over Geant4.

    Example: caloforge bench --checkpoint m.pt --checkpoint m.onnx --batch 1,128,1024,4096
    --threads 2 --json bench.json --markdown bench.md (float32 rows always, bfloat16 rows
    beside them where the hardware has native bfloat16; --precision fp32,bf16 for both)
    """
    from caloforge.bench import run_bench

    status = nullcontext() if quiet else console.status("timing...")
    with status as shown:
        report = run_bench(
            [str(c) for c in checkpoint],
            _batches(batch),
            device=device,
            threads=threads,
            repeats=repeats,
            warmup=warmup,
            energy=energy,
            geant4=geant4,
            geant4_showers=geant4_showers,
            untrained_detector=untrained_detector,
            seed=seed,
            precision=precision,
            without=without or (),
            progress=None if shown is None else shown.update,
        )
    if not quiet:
        _print(report)
    if json_out is not None:
        console.print(f"wrote {report.write_json(json_out)}")
    if markdown is not None:
        write_text(markdown, report.markdown())
        console.print(f"wrote {markdown}")


def _print(report: BenchReport) -> None:
    """The table, the Geant4 baselines and the machine line."""
    from caloforge.bench import machine_line

    table = Table(
        "model",
        "backend",
        "precision",
        "detector",
        "batch",
        "threads",
        "ms/shower",
        "spread",
        "showers/s",
        "peak MB",
        "MFLOP/shower",
        "Geant4 ms",
        "speed-up",
        "load",
        title="generation time per shower (median over repeats, warm-up excluded)",
    )
    for r in report.rows:
        g = report.geant4.get(r.detector)
        table.add_row(
            r.label,
            r.backend,
            r.precision,
            f"{r.detector} ({r.n_voxels})",
            str(r.batch),
            str(r.threads),
            f"{r.ms_per_shower:.4g}",
            f"{r.ms_min:.3g}-{r.ms_max:.3g}",
            f"{r.showers_per_s:.4g}",
            f"{r.peak_memory_mb:.0f}",
            f"{r.flops_per_shower / 1e6:.2f}" if r.flops_per_shower else "-",
            f"{g.ms_mean:.4g}" if g else "-",
            f"{r.speedup:.4g}" if r.speedup else "-",
            f"{r.load[0]:.2f}",
        )
    console.print(table)
    for g in report.geant4.values():
        console.print(
            f"Geant4 {g.detector}: {g.n} {g.particle} showers, "
            f"mean {g.energy_mean_mev / 1000:.1f} GeV: "
            f"{g.ms_mean:.4g} ms/shower CPU (median {g.ms_median:.4g}); load {g.load[0]:.2f}"
        )
    console.print(f"machine: {machine_line(report.machine)}", highlight=False, soft_wrap=True)
