"""``caloforge recipe list|show|run``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from caloforge.cli._app import app, at_least, console, err_console

recipe_app = typer.Typer(
    help="Recipes: detector + data -> trained, post-processed, validated, exported model.",
    no_args_is_help=True,
)
app.add_typer(recipe_app, name="recipe")


@recipe_app.command("list")
def list_() -> None:
    """List the shipped recipes with their measured fidelity and speed.

    Example: caloforge recipe list
    """
    from caloforge.recipes import builtin_recipes, load_recipe

    table = Table("recipe", "detector", "stages", "measured", "description")
    for name in builtin_recipes():
        r = load_recipe(name)
        measured = "; ".join(f"{k}: {v}" for k, v in r.measured.items()) or "-"
        table.add_row(
            name, r.detector, " > ".join(s.name for s in r.stages), measured, r.description
        )
    console.print(table)


@recipe_app.command("show")
def show(name: str = typer.Argument(..., help="Shipped recipe name or recipe file.")) -> None:
    """Print a recipe file.

    Example: caloforge recipe show atlas-pblar-gamma
    """
    from caloforge.recipes import load_recipe

    console.print(load_recipe(name).path.read_text(), highlight=False, markup=False)


def _data_files(items: list[str]) -> dict[str, Path]:
    from caloforge.recipes.spec import SPLITS

    out = {}
    for item in items:
        split, sep, path = item.partition("=")
        if not sep or split not in SPLITS or not path:
            raise ValueError(f"--data {item!r}: expected SPLIT=FILE with SPLIT in {SPLITS}")
        out[split] = Path(path)
    return out


@recipe_app.command("run")
def run(
    name: str = typer.Argument(..., help="Shipped recipe name or recipe file."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Run folder (default: artifacts/recipes/NAME)."
    ),
    data: list[str] = typer.Option(
        [], "--data", help="SPLIT=FILE: use existing showers for a split (train, val, test)."
    ),
    until: str | None = typer.Option(None, "--until", help="Stop after this stage."),
    redo: str | None = typer.Option(
        None, "--from", help="Run this stage again (later ones follow their inputs)."
    ),
    seed: int | None = typer.Option(
        None,
        "--seed",
        callback=at_least(0),
        help="Seed of the train, distill, calibrate and refine stages (default: the "
        "recipe's); the data and evaluate seeds stay the recipe's.",
    ),
    settings: list[str] = typer.Option(
        [],
        "--set",
        help="STAGE.KEY=VALUE: change a stage's setting (a stage key, else a configuration "
        "key of a train or distill stage), e.g. --set teacher.train.max_time_min=60; "
        "recorded in the manifest and the model card.",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only errors."),
) -> None:
    """Run a recipe: up-to-date stages are skipped, an interrupted one resumes.

    Example: caloforge recipe run atlas-pblar-gamma --data train=train.h5 --data val=val.h5

    Reproducibility: the same recipe from scratch with two seeds,
    caloforge recipe run atlas-pblar-gamma --seed 1 --out runs/s1 (then --seed 2 --out runs/s2)

    Within a batch system's time limit: --set teacher.train.max_time_min=60 --set
    student.minutes=30 (a stage whose settings change runs again, and so do those after it).
    """
    from caloforge.recipes import StageEvent, StageFailed, load_recipe, run_recipe

    recipe = load_recipe(name, settings)
    files = _data_files(data)
    if files:
        recipe = recipe.with_files(files)
    folder = out if out is not None else Path("artifacts") / "recipes" / recipe.name

    def show_event(e: StageEvent) -> None:
        if quiet:
            return
        head = f"[{e.index + 1}/{e.total}] {e.name} ({e.kind})"
        text = {
            "start": "running",
            "resume": "resuming",
            "skip": "up to date, skipped",
            "done": f"done in {e.wall_s / 60:.1f} min",
            "no-data": f"{e.note}, skipped",
        }[e.state]
        console.print(f"{head}: {text}", highlight=False)

    try:
        run_recipe(
            recipe, folder, until=until, redo=redo, seed=seed, quiet=True, on_event=show_event
        )
    except StageFailed as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise SystemExit(exc.exit_code) from None
    if not quiet:
        console.print(f"run folder: {folder} (manifest.json, MODEL_CARD.md)")
