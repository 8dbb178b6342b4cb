"""The results a recipe run folder holds: the reports of its finished bench stages and of
its finished evaluate stages, each evaluate stage with the split it judges on.

Read from the manifest the runner writes and the files of the run folder layout
(:mod:`caloforge.recipes.stages`); the model card (:mod:`caloforge.recipes.card`) and
``benchmarks/pareto_front.py`` read a run through these functions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from caloforge.recipes.runner import MANIFEST
from caloforge.recipes.spec import Recipe, RecipeError, parse_recipe
from caloforge.recipes.stages import generated_file


@dataclass(frozen=True)
class BenchResult:
    """The report of a finished bench stage (``RUN/<stage>.json``, ``caloforge bench
    --json``): its rows, each with a number ``ms_per_shower``, the Geant4 timings per
    detector and the machine."""

    stage: str
    path: Path
    rows: tuple[Mapping[str, Any], ...]
    geant4: Mapping[str, Any]
    machine: Mapping[str, Any]


@dataclass(frozen=True)
class EvaluateResult:
    """The report of a finished evaluate stage (``RUN/<stage>/metrics.json``) and the split
    its reference file is (``val`` or ``test``)."""

    stage: str
    split: str
    path: Path
    metrics: Mapping[str, Any]

    def generated(self, run: Path, model: str) -> Path:
        """The showers this stage generated with model stage ``model``."""
        return generated_file(run, self.stage, model)

    def precision(self, run: Path, model: str) -> str | None:
        """The precision the showers judged for model stage ``model`` were generated in
        (``fp32`` or ``bf16``, the ``generator.precision`` attribute of
        :meth:`generated`); None when the file is gone or records none."""
        from caloforge.data import ShowerFile

        path = self.generated(run, model)
        if not path.is_file():
            return None
        try:
            generator = json.loads(str(ShowerFile(path).attrs.get("generator") or "{}"))
        except (OSError, ValueError):
            return None
        precision = generator.get("precision") if isinstance(generator, dict) else None
        return str(precision) if precision else None


def _finished(stages: Mapping[str, Any], kind: str) -> list[str]:
    return [
        name
        for name, entry in stages.items()
        if isinstance(entry, Mapping)
        and entry.get("kind") == kind
        and entry.get("status") == "done"
    ]


def _json_object(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RecipeError(f"{path}: unreadable ({exc})") from None
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: expected a JSON object")
    return data


def run_recipe_of(run: Path, manifest: Mapping[str, Any]) -> Recipe:
    """The recipe a run ran, parsed (:func:`parse_recipe`) from the text its manifest
    records.

    Raises:
        RecipeError: no recipe text, or text that is not a valid recipe (naming the
            manifest).
    """
    where = run / MANIFEST
    text = (manifest.get("recipe") or {}).get("text")
    if not isinstance(text, str) or not text:
        raise RecipeError(f"{where}: no recipe text recorded")
    return parse_recipe(text, where, manifest.get("set", ()))


def data_options(manifest: Mapping[str, Any], named: Mapping[str, Path]) -> list[str]:
    """The ``--data SPLIT=FILE`` arguments of a run's ``recipe run`` command: one for each
    split of the run that it neither simulated (no ``data-SPLIT`` stage) nor took from its
    recipe file (``named``: the file's own data)."""
    stages = manifest.get("stages", {})
    return [
        arg
        for split, path in manifest.get("data", {}).items()
        if f"data-{split}" not in stages and named.get(split) != Path(path)
        for arg in ("--data", f"{split}={path}")
    ]


def bench_results(run: Path, stages: Mapping[str, Any]) -> list[BenchResult]:
    """The reports of the finished bench stages of ``stages`` (the manifest's record), in
    their order; a stage whose report is gone is left out.

    Raises:
        RecipeError: a report that is not JSON, or a row without a number
            ``ms_per_shower`` (naming the file).
    """
    out = []
    for name in _finished(stages, "bench"):
        path = run / f"{name}.json"
        if not path.is_file():
            continue
        report = _json_object(path)
        rows = report.get("rows") or []
        if not isinstance(rows, list):
            raise RecipeError(f"{path}: rows = {rows!r}: expected a list")
        for i, row in enumerate(rows):
            ms = row.get("ms_per_shower") if isinstance(row, dict) else None
            if isinstance(ms, bool) or not isinstance(ms, int | float):
                raise RecipeError(f"{path}: rows[{i}]: no ms_per_shower (a number)")
        out.append(
            BenchResult(
                stage=name,
                path=path,
                rows=tuple(rows),
                geant4=report.get("geant4") or {},
                machine=report.get("machine") or {},
            )
        )
    return out


def evaluate_results(run: Path, stages: Mapping[str, Any], recipe: Recipe) -> list[EvaluateResult]:
    """The reports of the finished evaluate stages of ``stages`` (the manifest's record),
    in their order, each with the split it judges on (from ``recipe``, e.g.
    :func:`run_recipe_of`); a stage whose report is gone, or that the recipe no longer
    has, is left out.

    Raises:
        RecipeError: a report that is not JSON (naming the file).
    """
    known = {s.name: s for s in recipe.stages if s.kind == "evaluate"}
    out = []
    for name in _finished(stages, "evaluate"):
        path = run / name / "metrics.json"
        if name not in known or not path.is_file():
            continue
        out.append(EvaluateResult(name, known[name].reference, path, _json_object(path)))
    return out


__all__ = [
    "BenchResult",
    "EvaluateResult",
    "bench_results",
    "evaluate_results",
    "run_recipe_of",
]
