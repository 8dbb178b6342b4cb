"""The run manifest's environment record and the model card written beside it.

The card follows the form of the field's model zoos: what the model is and what it was
trained on, its conditioning, its figures against the validation (or test) file with the
Geant4-vs-Geant4 floor beside them, its speed with the hardware stated, its limits, and how
to rebuild it.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from caloforge._version import __version__
from caloforge.recipes.results import bench_results, data_options, evaluate_results
from caloforge.recipes.spec import SEEDED_KINDS, SPLITS, Recipe, parse_recipe, run_options
from caloforge.recipes.stages import model_stage

MODEL_CARD = "MODEL_CARD.md"


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def environment() -> dict[str, Any]:
    """Versions (caloforge, torch, Geant4 bindings, ONNX Runtime) and the machine."""
    from caloforge.bench import machine_info

    return {
        "versions": {
            "caloforge": __version__,
            "torch": _version("torch"),
            "numpy": _version("numpy"),
            "geant4-pybind": _version("geant4-pybind"),
            "onnxruntime": _version("onnxruntime"),
        },
        "machine": machine_info(),
        "threads": os.environ.get("OMP_NUM_THREADS"),
    }


def _auc(section: Mapping[str, Any] | None) -> str:
    if not section or section.get("auc") is None:
        return "-"
    err = section.get("auc_err")
    text = f"{section['auc']:.3f}" + (f" ± {err:.3f}" if err is not None else "")
    n, m = section.get("n_train_per_class"), section.get("n_test_per_class")
    return text + (f" (train / test {n} / {m} per class)" if n else "")


def evaluation_rows(run: Path, stages: Mapping[str, Any], recipe: Recipe) -> list[str]:
    """Markdown rows: model, voxel AUC, high-level AUC, per evaluate stage."""
    rows = []
    for result in evaluate_results(run, stages, recipe):
        for model, comp in (result.metrics.get("comparisons") or {}).items():
            clf = comp.get("classifier") or {}
            rows.append(
                f"| {result.stage} | {model} | {_auc(clf.get('voxel'))} "
                f"| {_auc(clf.get('high_level'))} |"
            )
    return rows


def _side_by_side(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Bench rows by model (in their order), batch size, then precision (float32 first)."""
    first: dict[str, int] = {}
    for i, row in enumerate(rows):
        first.setdefault(str(row.get("model")), i)

    def key(row: dict[str, Any]) -> tuple[int, int, bool]:
        precision = row.get("precision", "fp32")
        return first[str(row.get("model"))], int(row.get("batch") or 0), precision != "fp32"

    return sorted(rows, key=key)


def speed_rows(run: Path, stages: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """Markdown rows from every bench stage's report (model stage, batch, precision,
    ms/shower, Geant4 ms/shower), and one line per report naming its machine. Within a
    report the rows of a model and batch size sit together, float32 first, bfloat16 beside
    it."""
    from caloforge.bench.machine import machine_line

    rows, machines = [], []
    for report in bench_results(run, stages):
        if report.machine:
            machines.append(machine_line(dict(report.machine)))
        geant4 = report.geant4  # per detector: the mean CPU ms of its showers
        for row in _side_by_side([dict(r) for r in report.rows]):
            ms = row["ms_per_shower"]
            g4 = (geant4.get(str(row.get("detector"))) or {}).get("ms_mean")
            rows.append(
                f"| {model_stage(str(row.get('model', '?')))} | {row.get('batch')} | "
                f"{row.get('precision', 'fp32')} | {ms:.4g} | "
                + (f"{g4:.4g} |" if g4 else "- |")
            )
    return rows, machines


def _recipe_ref(recipe: Recipe) -> str:
    """The recipe's name when it is a shipped one, else its file."""
    from caloforge.recipes.spec import builtin_recipes

    shipped = builtin_recipes().get(recipe.name)
    return recipe.name if shipped is not None and shipped == recipe.path else str(recipe.path)


def write_card(recipe: Recipe, run: Path, manifest: Mapping[str, Any]) -> Path:
    """Write ``MODEL_CARD.md`` in ``run`` from the recipe and the manifest; returns its path."""
    from caloforge.files import write_text

    env = manifest.get("environment", {})
    recorded = manifest.get("stages", {})
    order = [n for n in recorded if n.startswith("data-")] + [s.name for s in recipe.stages]
    stages = {n: recorded[n] for n in order if n in recorded}
    lines = [f"# {recipe.name}", ""]
    if recipe.description:
        lines += [recipe.description, ""]
    lines += [
        "## Training data",
        f"- detector: `{recipe.detector}`",
    ]
    for split, path in manifest.get("data", {}).items():
        sha = manifest.get("hashes", {}).get(str(Path(path).resolve()), {}).get("sha256", "")
        lines.append(f"- {split}: `{path}`" + (f" (sha256 {sha[:12]})" if sha else ""))
    made = [s for s in SPLITS if f"data-{s}" in recorded]
    if recipe.data.simulate is not None and made:
        sim = recipe.data.simulate
        split_seeds = ", ".join(f"{sim.split_seed(s)} ({s})" for s in made)
        lines.append(
            f"- simulated with `caloforge simulate`: particle {sim.particle}, energy "
            f"{sim.energy}, seeds {split_seeds}"
        )
    lines += ["", "## Stages", "", "| stage | kind | status | wall time |", "|---|---|---|---|"]
    for name, entry in stages.items():
        wall = entry.get("wall_s")
        lines.append(
            f"| {name} | {entry.get('kind')} | {entry.get('status')} | "
            + (f"{wall / 60:.1f} min |" if wall is not None else "- |")
        )
    evals = evaluation_rows(run, stages, recipe)
    if evals:
        lines += [
            "",
            "## Fidelity",
            "",
            "Two-sample classifier AUCs (0.5: indistinguishable from Geant4); the floor row is "
            "Geant4 against Geant4.",
            "",
            "| evaluate stage | sample | voxel AUC | high-level AUC |",
            "|---|---|---|---|",
            *evals,
        ]
    speed, measured_on = speed_rows(run, stages)
    if speed:
        lines += [
            "",
            "## Speed",
            "",
            *(f"Measured on {m}." for m in measured_on),
            "",
            "| model | batch | precision | ms/shower | Geant4 ms/shower |",
            "|---|---|---|---|---|",
            *speed,
        ]
    versions = env.get("versions", {})
    named = parse_recipe(manifest["recipe"]["text"], recipe.path).data.files
    given = data_options(manifest, named)
    seed = manifest.get("seed")
    seeds: list[str] = []
    if seed is not None:
        seeds.append(
            f"Run seed {seed}: the seed of the {', '.join(SEEDED_KINDS)} stages; the data "
            "simulation and the evaluate stages keep the recipe's seeds."
        )
    if recipe.overrides:
        seeds.append(
            "Settings changed from the recipe file (`--set`): "
            + ", ".join(f"`{item}`" for item in recipe.overrides) + "."
        )
    lines += [
        "",
        "## Limits",
        "- valid only inside the trained range of the training data above (caloforge "
        "`generate` warns outside it) and for this detector;",
        "- figures hold for the reference file they name and the classifier settings in its "
        "`metrics.json`.",
        "",
        "## Reproduce",
        "```",
        shlex.join(["caloforge", "recipe", "run", _recipe_ref(recipe), *given, "--out", "RUN"])
        + run_options(seed, recipe.overrides),
        "```",
        *seeds,
        "Stage commands, in order:",
        "```",
        *(" ".join(c) for e in stages.values() for c in e.get("commands", [])),
        "```",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items() if v),
        "",
    ]
    return write_text(run / MODEL_CARD, "\n".join(lines))
