"""Recipes: one command from a detector and its Geant4 showers to a validated, exported model.

Example:
    >>> from caloforge.recipes import load_recipe, run_recipe  # doctest: +SKIP
    >>> manifest = run_recipe(load_recipe("atlas-pblar-gamma"), Path("runs/gamma"))
"""

from caloforge.recipes.runner import StageEvent, StageFailed, read_manifest, run_recipe
from caloforge.recipes.spec import (
    STAGE_KINDS,
    Recipe,
    RecipeError,
    Stage,
    builtin_recipes,
    load_recipe,
    parse_recipe,
)

__all__ = [
    "STAGE_KINDS",
    "Recipe",
    "RecipeError",
    "Stage",
    "StageEvent",
    "StageFailed",
    "builtin_recipes",
    "load_recipe",
    "parse_recipe",
    "read_manifest",
    "run_recipe",
]
