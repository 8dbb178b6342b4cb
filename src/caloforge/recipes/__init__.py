"""Recipes: one command from a detector and its Geant4 showers to a validated, exported model.

Example:
    >>> from caloforge.recipes import load_recipe, run_recipe  # doctest: +SKIP
    >>> manifest = run_recipe(load_recipe("atlas-pblar-gamma"), Path("runs/gamma"))
"""

from caloforge.recipes.results import (
    BenchResult,
    EvaluateResult,
    bench_results,
    evaluate_results,
    run_recipe_of,
)
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
    "BenchResult",
    "EvaluateResult",
    "Recipe",
    "RecipeError",
    "Stage",
    "StageEvent",
    "StageFailed",
    "bench_results",
    "builtin_recipes",
    "evaluate_results",
    "load_recipe",
    "parse_recipe",
    "read_manifest",
    "run_recipe",
    "run_recipe_of",
]
