"""``caloforge tune``: hyper-parameter optimisation of a model family with Optuna."""

from __future__ import annotations

import logging
from pathlib import Path

import typer
from rich.table import Table

from caloforge.cli._app import app, at_least, console


@app.command(context_settings={"allow_extra_args": False})
def tune(
    overrides: list[str] = typer.Argument(
        None, help="Fixed config of every trial, key=value (train.steps=2000)."
    ),
    model: str = typer.Option(..., "--model", "-m", help="Model family (caloforge models)."),
    space: Path = typer.Option(
        ..., "--space", help="Search space (YAML/JSON: key -> distribution)."
    ),
    trials: int = typer.Option(
        10, "--trials", "-n", callback=at_least(1), help="Trials run by this worker."
    ),
    data: list[Path] = typer.Option(..., "--data", help="Training shower file(s)."),
    val: Path = typer.Option(..., "--val", help="Validation file: pruning, fidelity, timing."),
    storage: str | None = typer.Option(
        None,
        "--storage",
        help="sqlite:///study.db | postgresql://... | journal:PATH (default: OUT/study.log).",
    ),
    study: str | None = typer.Option(None, "--study", help="Study name (default caloforge-MODEL)."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Output folder (default artifacts/tune/MODEL)."
    ),
    objective: str = typer.Option("auc", "--objective", help="Fidelity: auc | separation."),
    no_speed: bool = typer.Option(
        False, "--no-speed", help="Fidelity only (no generation-time objective)."
    ),
    no_prune: bool = typer.Option(False, "--no-prune", help="Do not prune bad trials."),
    eval_showers: int = typer.Option(
        2000, "--eval-showers", callback=at_least(1), help="Validation showers scored."
    ),
    seed: int | None = typer.Option(None, "--seed", help="Sampler seed (default: random)."),
    timeout: float | None = typer.Option(None, "--timeout", help="Stop after this many seconds."),
) -> None:
    """Tune a model family: an Optuna study of fidelity vs generation time, shared by workers.

    Run the same command in several processes or nodes with one --storage to share a study.

    Example: caloforge tune --model vae --space space.yaml --trials 20 --data train.h5
    --val val.h5 --storage sqlite:///artifacts/tune/vae.db train.steps=2000
    """
    import optuna

    from caloforge.tune import TuneSettings
    from caloforge.tune import tune as run

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("caloforge").setLevel(logging.WARNING)
    settings = TuneSettings(
        objective=objective,  # type: ignore[arg-type]
        speed=not no_speed,
        eval_showers=eval_showers,
        prune=not no_prune,
        seed=seed,
    )
    result = run(
        model,
        data,
        val,
        space=space,
        trials=trials,
        out=out if out is not None else Path("artifacts") / "tune" / model,
        storage=storage,
        study_name=study,
        overrides=list(overrides or []),
        settings=settings,
        timeout_s=timeout,
    )
    s = result.summary
    counts = ", ".join(f"{v} {k}" for k, v in s["trials"].items() if v)
    console.print(f"study {result.study_name} ({result.storage}): {counts}")
    best = s.get("pareto_front", s.get("best", []))
    table = Table(
        "trial",
        *s["objectives"],
        "params",
        title="Pareto front" if "pareto_front" in s else "best trials",
    )
    for t in best:
        values = [f"{t['values'].get(k, float('nan')):.4g}" for k in s["objectives"]]
        params = " ".join(
            f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in t["params"].items()
        )
        table.add_row(str(t["number"]), *values, params)
    console.print(table)
    console.print(f"summary: {result.summary_path}")
    for p in result.plots:
        console.print(f"plot: {p}")
