"""``caloforge export``: a checkpoint as an ONNX graph (conditions, noise) -> showers in MeV."""

from __future__ import annotations

import math
from pathlib import Path

import typer

from caloforge.cli._app import app, at_least, console
from caloforge.cli._interrupt import output_not_written


@app.command("export")
def export_command(
    checkpoint: Path = typer.Option(
        ..., "--checkpoint", "-c", help="The trained checkpoint (.pt)."
    ),
    output: Path = typer.Option(..., "--output", "-o", help="Output model file (.onnx)."),
    format: str = typer.Option(
        "onnx",
        "--format",
        "-f",
        help="onnx (caloforge's contract) | par04 (Geant4 Par04's) | ddml (key4hep DDML's).",
    ),
    data: Path | None = typer.Option(
        None,
        "--data",
        help="Training data defining the trained range "
        "(default: the files recorded in the checkpoint).",
    ),
    parity: int = typer.Option(
        256, "--parity", callback=at_least(1), help="Showers in the parity check against PyTorch."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output file."),
) -> None:
    """Export a model to ONNX with its pre/post-processing, and check parity with PyTorch.

    Example: caloforge export --checkpoint m.pt --format onnx -o m.onnx
    """
    from caloforge.deploy.export import export

    output_not_written(output)
    result = export(
        checkpoint, output, format=format, data=data, n_parity=parity, overwrite=overwrite
    )
    meta = result.metadata
    r = meta.trained_range
    if format in ("par04", "ddml"):
        from caloforge.deploy.par04 import par04_macro, par04_mesh

        latent = math.prod(meta.noise_shape)
        target = "key4hep DDML" if format == "ddml" else "Geant4 Par04"
        console.print(
            f"wrote {result.path}: {meta.family} for {target}, input (1, {latent} + 4) "
            f"-> {meta.detector.n_voxels} cells (r, phi, z) over the particle energy"
        )
        console.print(
            f"parity (one particle per call, as Par04) vs PyTorch on {result.n_parity} showers: "
            f"max abs diff {result.max_abs_diff:.3g} MeV, max rel diff {result.max_rel_diff:.3g}"
        )
        mesh = par04_mesh(meta.detector)
        if format == "ddml":
            console.print(
                f"mesh (rho, phi, z): {mesh.n_r} x {mesh.n_phi} x {mesh.n_z} cells of "
                f"{mesh.size_r:g} mm x 2pi/{mesh.n_phi} x {mesh.size_z:g} mm, latent size {latent}"
            )
        else:
            console.print("Par04 macro:\n" + par04_macro(mesh, latent, output))
        return
    console.print(
        f"wrote {result.path}: {meta.family}, inputs features {list(meta.condition_features)} "
        f"+ noise {list(meta.noise_shape)} -> {meta.detector.n_voxels} voxels (MeV)"
    )
    console.print(
        f"parity vs PyTorch on {result.n_parity} showers: "
        f"max abs diff {result.max_abs_diff:.3g} MeV, "
        f"max rel diff {result.max_rel_diff:.3g}"
    )
    console.print(
        f"trained range ({r.source}): particles {list(r.particles)}, "
        f"energy {r.energy[0]:.4g}-{r.energy[1]:.4g} MeV, "
        f"theta {r.theta[0]:.3g}-{r.theta[1]:.3g} rad, "
        f"impact x {r.impact_x[0]:.3g}..{r.impact_x[1]:.3g} mm, "
        f"y {r.impact_y[0]:.3g}..{r.impact_y[1]:.3g} mm"
    )
