"""``caloforge evaluate``: compare candidate shower files with a full-simulation reference."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from caloforge.cli._app import app, console, err_console
from caloforge.cli._interrupt import on_interrupt


def _partial_report(out: Path) -> str:
    if out.is_dir() and any(out.iterdir()):
        return f"{out} holds an incomplete report; run the same command with --overwrite"
    return f"no report written to {out}; run the same command again"


def _pm(value: float | None, err: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f} ± {err:.3f}" if err is not None else f"{value:.3f}"


def _auc(c: dict[str, Any] | None) -> str:
    """AUC, its error, the headline classifier and the showers per class that trained /
    tested it."""
    if c is None:
        return "skipped"
    sizes = f"{c['n_train_per_class']}/{c['n_test_per_class']}"
    return f"{_pm(c['auc'], c['auc_err'])} {c['headline']} {sizes}"


def _layers(comparison: dict[str, Any]) -> str:
    """``layer: AUC ± error`` of each readout layer's voxel classifier test."""
    return ", ".join(
        f"{r['layer']}: {_pm(r['auc'], r['auc_err']) if r['auc'] is not None else 'empty'}"
        for r in comparison["classifier_layers"]
    )


def _table(metrics: dict[str, Any]) -> Table:
    memo = metrics.get("memorisation") or {}
    table = Table(
        "comparison",
        "AUC voxels (clf., train/test per class)",
        "AUC high-level",
        "FPD",
        "max sep.",
        "worst observables",
        "near-copies",
        title=f"caloforge evaluate: {metrics['detector']} (AUC 0.5 = indistinguishable)",
    )
    for name, c in metrics["comparisons"].items():
        clf = c["classifier"]
        m = memo.get(name)
        style = "italic dim" if name.startswith("floor") else None
        pd = c["physics_distances"]
        table.add_row(
            "floor (ref vs ref)" if name.startswith("floor") else name,
            _auc(clf["voxel"]),
            _auc(clf["high_level"]),
            "skipped" if pd is None else f"{pd['fpd']:.2e}",
            f"{c['max_separation']:.4f}" if c["max_separation"] is not None else "-",
            ", ".join(c["worst"][:3]),
            "-"
            if m is None
            else f"{100 * m['fraction_near_copies']:.1f} %{' FLAGGED' if m['flagged'] else ''}",
            style=style,
        )
    return table


@app.command()
def evaluate(
    reference: Path = typer.Argument(..., help="Full-simulation reference shower file."),
    candidates: list[Path] = typer.Argument(
        ..., help="Candidate shower file(s), compared in the same plots."
    ),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Report directory (metrics.json, report.html, plots/)."
    ),
    ref2: Path | None = typer.Option(
        None, "--ref2", help="Second reference for the floor (default: halves of REF)."
    ),
    train: Path | None = typer.Option(
        None, "--train", help="The candidates' training file: memorisation check."
    ),
    val: Path | None = typer.Option(
        None,
        "--val",
        help="The candidates' validation file (model selection); REF must not share events "
        "with it nor with --train.",
    ),
    detector: str | None = typer.Option(
        None, "--detector", "-d", help="Preset or detector file for files without geometry."
    ),
    max_showers: int | None = typer.Option(
        None, "--max-showers", help="Read at most N showers of each file."
    ),
    threshold: float = typer.Option(0.0, "--threshold", help="Hit threshold, MeV."),
    classifier_seeds: int = typer.Option(
        3,
        "--classifier-seeds",
        min=1,
        help="Seeds of the classifier test (the protocol: 3; fewer are warned).",
    ),
    classifier_train: int = typer.Option(
        10_000,
        "--classifier-train",
        min=10,
        help="Showers per class that train the classifier (smaller files: 60 %, warned).",
    ),
    classifier_test: int = typer.Option(
        10_000, "--classifier-test", min=10, help="At most N test showers per class."
    ),
    classifier_max: int = typer.Option(
        100_000, "--classifier-max", min=10, help="Classifier: at most N showers of each file."
    ),
    protocol: str = typer.Option(
        "caloforge",
        "--classifier-protocol",
        help="caloforge (MLP + gradient boosting) | challenge (the CaloChallenge classifier).",
    ),
    learning_curve: str = typer.Option(
        "auto",
        "--learning-curve",
        help="auto (sizes up to the headline size) | full (1k, 3k, 10k, 30k, ... up to what "
        "the files hold) | off.",
    ),
    classifier_layers: bool = typer.Option(
        False,
        "--classifier-layers",
        help="Also run the voxel classifier on each readout layer alone: where it sees the "
        "difference (time grows with the number of layers).",
    ),
    training_log: list[Path] | None = typer.Option(
        None, "--training-log", help="JSON-lines training log to plot (repeatable)."
    ),
    no_plots: bool = typer.Option(
        False, "--no-plots", help="Skip the plots (metrics and HTML tables only)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the report path."),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace the contents of a non-empty report dir."
    ),
) -> None:
    """Validate candidates against full simulation: observables, metrics, classifier, report.

    Example: caloforge evaluate g4_test.h5 flow.h5 --out artifacts/report --train g4_train.h5
    --val g4_val.h5
    """
    from caloforge.evaluate import ClassifierConfig, EvaluationConfig
    from caloforge.evaluate import evaluate as run_evaluation

    kinds = ("challenge",) if protocol == "challenge" else ("mlp", "hgb")
    if classifier_seeds < 3:
        err_console.print(
            f"warning: {classifier_seeds} classifier seed(s): the AUC error lacks the seed "
            "spread of the protocol's 3"
        )
    cfg = EvaluationConfig(
        threshold=threshold,
        max_showers=max_showers,
        classifier=ClassifierConfig(
            seeds=tuple(range(classifier_seeds)),
            n_train=classifier_train,
            n_test=classifier_test,
            max_per_class=classifier_max,
            protocol=protocol,
            classifiers=kinds,
            learning_curve=learning_curve,
        ),
        plots=not no_plots,
        classifier_layers=classifier_layers,
    )
    status = (
        nullcontext()
        if quiet
        else console.status("evaluating (observables, metrics, classifiers, plots)...")
    )
    on_interrupt(lambda: _partial_report(out))
    with status:
        metrics = run_evaluation(
            reference,
            candidates,
            out,
            ref2=ref2,
            train=train,
            val=val,
            detector=detector,
            config=cfg,
            training_log=training_log,
            overwrite=overwrite,
        )
    if not quiet:
        console.print(_table(metrics))
        if metrics["classifier_below_documented_size"]:
            console.print(
                f"note: a classifier was trained on fewer than {classifier_train} showers per "
                "class: its AUC is not comparable with figures at that size"
            )
        for name, c in metrics["comparisons"].items():
            if c.get("classifier_layers"):
                console.print(f"voxel AUC per readout layer, {name}: {_layers(c)}")
        for name, c in metrics["comparisons"].items():
            for metric, why in c["skipped"].items():
                console.print(f"note: {name}: {metric.replace('_', ' ')} {why}")
        console.print(f"took {metrics['seconds']:.0f} s")
    console.print(f"report: {out / 'report.html'}")
