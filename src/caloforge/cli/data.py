"""``caloforge info``: summarise shower files."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from caloforge.cli._app import app, console


@app.command()
def info(
    files: list[Path] = typer.Argument(
        ..., help="Shower file(s); several shards are read as one dataset."
    ),
    detector: str | None = typer.Option(
        None,
        "--detector",
        "-d",
        help="Preset or detector file, for files that do not carry their geometry.",
    ),
    plot: Path | None = typer.Option(
        None, "--plot", help="Save the average shower per layer (PNG/PDF)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Summarise shower files: counts, energy range, detector, generator.

    Example: caloforge info showers.h5 --plot artifacts/average.png
    """
    from caloforge.data import ShowerFile, describe

    summary = describe(files, detector)
    if as_json:
        console.print_json(json.dumps(summary))
    else:
        table = Table("field", "value", show_header=False)
        for key, value in summary.items():
            if key == "attributes":
                for k, v in value.items():
                    table.add_row(f"  {k}", str(v)[:200])
            else:
                table.add_row(key, f"{value:.6g}" if isinstance(value, float) else str(value))
        console.print(table)
    if plot is not None:
        from caloforge.evaluate.plots import plot_average_shower

        data = ShowerFile(files, detector)
        showers = data.showers(0, 20_000)
        console.print(
            f"average shower saved to {plot_average_shower(showers, data.detector, plot)}"
        )
