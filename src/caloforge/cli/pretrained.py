"""``caloforge pretrained list|show``."""

from __future__ import annotations

import typer
from rich.table import Table

from caloforge.cli._app import app, console

pretrained_app = typer.Typer(
    help="Pretrained models: generate with caloforge generate --model NAME, no training.",
    no_args_is_help=True,
)
app.add_typer(pretrained_app, name="pretrained")


@pretrained_app.command("list")
def list_() -> None:
    """List the pretrained models: detector, size, trained conditions, model card.

    Example: caloforge pretrained list
    """
    from caloforge.pretrained import (
        PRETRAINED_PATH_ENV,
        describe_conditions,
        pretrained_models,
        shipped_folder,
    )

    models = pretrained_models()
    if not models:
        console.print(
            f"no pretrained models (shipped in {shipped_folder()}; {PRETRAINED_PATH_ENV} "
            "adds folders)",
            highlight=False,
            soft_wrap=True,
        )
        return
    table = Table("model", "detector", "MB", "trained on", "model card")
    for m in models:
        table.add_row(
            m.name, m.detector, f"{m.size_mb:.1f}", describe_conditions(m.conditions), str(m.card)
        )
    console.print(table)


@pretrained_app.command("show")
def show(name: str = typer.Argument(..., help="Pretrained model name.")) -> None:
    """Print a pretrained model's card.

    Example: caloforge pretrained show atlas-pblar-gamma
    """
    from caloforge.pretrained import pretrained_model

    card = pretrained_model(name).card.read_text()
    console.print(card, highlight=False, markup=False, soft_wrap=True, end="")
