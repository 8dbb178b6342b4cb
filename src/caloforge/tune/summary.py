"""The study's summary (``summary.json``: trial counts, the best trials or the Pareto front)
and its plots. Written atomically but not locked: workers finishing together each write a
complete file and the last one stays."""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Any

from caloforge._optional import require
from caloforge.files import atomic_output, write_figure

log = logging.getLogger(__name__)


def _trial_record(t: Any, names: list[str]) -> dict[str, Any]:
    return {
        "number": t.number,
        "values": dict(zip(names, t.values or [], strict=False)),
        "params": t.params,
        "run": t.user_attrs.get("run"),
        "steps": t.user_attrs.get("steps"),
        "parameters": t.user_attrs.get("parameters"),
        "duration_s": t.duration.total_seconds() if t.duration is not None else None,
    }


def summarise_study(
    study: Any, out: str | Path, names: list[str]
) -> tuple[dict[str, Any], Path, list[Path]]:
    """Write ``summary.json`` (trial counts, the best trials: the Pareto front for two
    objectives, the five best for one) and the plots under ``out/plots``.

    Returns:
        (summary dict, its path, plot paths).
    """
    optuna = require("optuna")
    out = Path(out)
    state = optuna.trial.TrialState
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == state.COMPLETE]
    counts = {s.name.lower(): sum(t.state == s for t in trials) for s in state}
    if len(names) > 1:
        best = sorted(study.best_trials, key=lambda t: t.values[0]) if complete else []
        kind = "pareto_front"
    else:
        best = sorted(complete, key=lambda t: t.values[0])[:5]
        kind = "best"
    summary = {
        "study": study.study_name,
        "objectives": names,
        "directions": ["minimize"] * len(names),
        "trials": counts,
        kind: [_trial_record(t, names) for t in best],
    }
    path = out / "summary.json"
    with atomic_output(path, overwrite=True, lock=False) as tmp:
        tmp.write_text(json.dumps(summary, indent=2, default=str))
    plots = study_plots(study, out / "plots", names, len(complete)) if complete else []
    return summary, path, plots


def study_plots(study: Any, folder: Path, names: list[str], n_complete: int) -> list[Path]:
    """Optimisation history, Pareto front (two objectives) and parameter importances (from
    two complete trials) as PNG files in ``folder``; a plot Optuna cannot draw is skipped."""
    from caloforge.evaluate.plots import _pyplot

    optuna = require("optuna")
    plt = _pyplot()
    vis = optuna.visualization.matplotlib
    folder.mkdir(parents=True, exist_ok=True)
    multi = len(names) > 1
    target = (lambda t: t.values[0]) if multi else None
    jobs: list[tuple[str, Any]] = [
        (
            "history",
            lambda: vis.plot_optimization_history(study, target=target, target_name=names[0]),
        )
    ]
    if multi:
        jobs.append(("pareto_front", lambda: vis.plot_pareto_front(study, target_names=names)))
    if n_complete >= 2:
        jobs.append(
            (
                "param_importances",
                lambda: vis.plot_param_importances(study, target=target, target_name=names[0]),
            )
        )
    paths = []
    for stem, make in jobs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # optuna's matplotlib backend is "experimental"
            try:
                ax = make()
            except (ValueError, RuntimeError, ZeroDivisionError) as exc:
                log.info("plot %s skipped: %s", stem, exc)
                continue
        fig = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
        fig.tight_layout()
        path = folder / f"{stem}.png"
        write_figure(fig, path, lock=False, dpi=90)
        plt.close(fig)
        paths.append(path)
    return paths


__all__ = ["study_plots", "summarise_study"]
