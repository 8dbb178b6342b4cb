"""``caloforge merge``: stream shower files (shards) into one file."""

from __future__ import annotations

from pathlib import Path

import typer

from caloforge.cli._app import app, console
from caloforge.cli._interrupt import output_not_written


@app.command()
def merge(
    output: Path = typer.Argument(..., help="Merged shower file to write (HDF5)."),
    inputs: list[Path] = typer.Argument(..., help="Shower files (shards) to merge."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output file."),
    concat: bool = typer.Option(
        False, "--concat", help="Always concatenate in the given order (no event reordering)."
    ),
    detector: str | None = typer.Option(
        None, "--detector", "-d", help="Geometry for files without one."
    ),
) -> None:
    """Merge shower files into one (streaming, atomic).

    The complete shard set of one simulation run (--shard k/N, k = 0..N-1) is written in
    event order, identical to the single-process run; other files are concatenated.

    Example: caloforge merge showers.h5 showers.shard-*.h5
    """
    from caloforge.simulate.merge import merge_showers

    output_not_written(output)
    result = merge_showers(
        output,
        inputs,
        overwrite=overwrite,
        detector=detector,
        order="concat" if concat else "auto",
    )
    how = "event order: the complete shard set of one run" if result.event_order else "concatenated"
    console.print(
        f"wrote {result.showers} showers from {len(inputs)} files to {result.path} ({how})"
    )
