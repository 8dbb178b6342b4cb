"""``caloforge detector list|show``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from caloforge.cli._app import app, console
from caloforge.geometry import (
    CartesianSegmentation,
    CylindricalSegmentation,
    HexagonalSegmentation,
    load_detector,
    preset_names,
)

detector_app = typer.Typer(help="Detector presets and description files.", no_args_is_help=True)
app.add_typer(detector_app, name="detector")


@detector_app.command("list")
def list_() -> None:
    """List the built-in presets with their voxel count and depth.

    Example: caloforge detector list
    """
    table = Table("preset", "voxels", "readout layers", "depth [X0]", "description")
    for name in preset_names():
        d = load_detector(name)
        table.add_row(name, str(d.n_voxels), str(d.n_layers), f"{d.depth_x0:.1f}", d.description)
    console.print(table)


def _seg_text(seg: object) -> str:
    if isinstance(seg, CylindricalSegmentation):
        return f"cylindrical {seg.n_alpha} angular x {seg.n_r} radial, r < {seg.r_edges[-1]:g} mm"
    if isinstance(seg, CartesianSegmentation):
        return f"cartesian {seg.nx} x {seg.ny} cells of {seg.cell_x:g} x {seg.cell_y:g} mm"
    assert isinstance(seg, HexagonalSegmentation)
    return f"hexagonal {seg.n_cols} x {seg.n_rows} cells of side {seg.side:g} mm"


@detector_app.command()
def show(
    name: str = typer.Argument(..., help="Preset name or detector file (.toml/.yaml/.json)."),
    plot: Path | None = typer.Option(
        None, "--plot", help="Save a drawing of the stack and cells (PNG/PDF)."
    ),
) -> None:
    """Show a detector: layer stack, X0, Moliere radius, depth, voxels, readout cells.

    Example: caloforge detector show atlas-pblar --plot artifacts/atlas.png
    """
    d = load_detector(name)
    console.print(f"[bold]{d.name}[/]: {d.description}")
    stack = Table("sampling layers", "absorber", "active", "thickness [mm]")
    start = 0
    for i in range(1, len(d.layers) + 1):
        if i == len(d.layers) or d.layers[i] != d.layers[start]:
            la = d.layers[start]
            absorber = f"{la.absorber_thickness:g} mm {la.absorber}" if la.absorber else "-"
            stack.add_row(
                f"{start}-{i - 1}",
                absorber,
                f"{la.active_thickness:g} mm {la.active}",
                f"{la.thickness:g}",
            )
            start = i
    console.print(stack)
    ro = Table("readout layer", "sampling layers", "segmentation", "cells")
    for i, r in enumerate(d.readout):
        ro.add_row(
            str(i), f"{r.first}-{r.last}", _seg_text(r.segmentation), str(r.segmentation.n_cells)
        )
    console.print(ro)
    console.print(
        f"transverse size {d.size_x:g} x {d.size_y:g} mm, "
        f"depth {d.depth:g} mm = {d.depth_x0:.2f} X0 "
        f"= {d.depth_lambda:.2f} λI\n"
        f"stack X0 {d.x0:.2f} mm, Moliere radius {d.moliere_radius:.2f} mm, critical energy "
        f"{d.critical_energy:.2f} MeV, voxels {d.n_voxels}\n"
        f"default gun: {d.gun.particle} from {d.gun.position} along {d.gun.direction}\n"
        f"physics {d.physics.physics_list}, cut {d.physics.production_cut:g} mm, "
        f"scoring {d.physics.scoring}"
    )
    if plot is not None:
        from caloforge.geometry.draw import draw_detector

        console.print(f"drawing saved to {draw_detector(d, plot)}")
