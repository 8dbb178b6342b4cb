"""The Pareto front of finished recipe runs: classifier AUC against ms per shower.

Usage: python benchmarks/pareto_front.py RUN_DIR [RUN_DIR ...] [--out DIR]

One row per judged model of each run (a run judging several checkpoints, e.g. the
calibrated and the refined student, gives one row each): recipe (and run folder when its
name differs), model stage, the file it was judged on, voxel and high-level AUC (headline
classifier, mean ± error over the classifier seeds), the showers per class that trained /
tested the classifier, the seeds, ms/shower at batch 1024 in float32 and bfloat16 (``-``
where the run's bench stage did not measure it) and the machine of that measurement (a
number in the table, the machine's line, :func:`caloforge.bench.machine_line`, in the
caption).

Figures come from the run's evaluate stages on the test split (``reference = "test"``). A
run without one falls back to its evaluate stages on the validation split, labelled
``validation`` in the "judged on" column: the validation file took part in the model's
selection, so those AUCs are not comparable with test ones, and the front is drawn among
the test rows only (among the validation rows when no run has test figures). A run with
neither is skipped with a warning line on stderr.

Front: a row is on it when no other row is at least as fast and at least as good (by the
larger of its two AUCs) and better in one of the two. The speed is ms/shower at batch 1024
at the precision the judged showers were generated in (``generator.precision`` of the
run's ``gen/<evaluate stage>-<model>.h5``), so that speed and AUC belong to the same
model; where that file records none or that precision was not timed, the fastest measured
precision, marked ``fastest`` (the front column names the precision either way). Rows
without a speed or with a skipped AUC are not placed. Speeds measured on different
machines are not comparable: the caption says so when the rows' machines differ.

Output: the Markdown table on stdout and in ``DIR/pareto.md``, the plot ``DIR/pareto.png``
(ms/shower on a log axis against AUC; both AUCs of each row marked, the front connected),
written atomically. DIR defaults to ``artifacts/benchmarks/pareto``. A path that is not a
recipe run folder (no readable ``manifest.json``), a run whose reports are unreadable or
incomplete, or matplotlib missing: one line on stderr, exit code 2, nothing written.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from evaluate_summary import auc, sizes

from caloforge._optional import require
from caloforge.bench.machine import machine_line
from caloforge.files import write_figure, write_text
from caloforge.recipes import (
    BenchResult,
    RecipeError,
    bench_results,
    evaluate_results,
    run_recipe_of,
)
from caloforge.recipes.stages import model_stage

BATCH = 1024
PRECISIONS = ("fp32", "bf16")
VOXEL, HIGH = "#1f77b4", "#d62728"  # plot colours of the two AUCs
HEADER = (
    "| recipe | model | judged on | AUC voxels | AUC high-level "
    "| showers per class (train / test) | classifier seeds | ms/shower fp32 "
    "| ms/shower bf16 | measured on | Pareto front |"
)


class RunError(ValueError):
    """A path that is not a finished recipe run folder, or a run with unusable reports."""


@dataclass(frozen=True)
class Speed:
    """ms/shower at BATCH per precision of one model stage, and where it was measured."""

    ms: dict[str, float]
    machine: str  # machine_line of the report, the device first when not the CPU
    hardware: tuple[str, ...]  # what makes two measurements comparable


@dataclass
class Row:
    """One judged model of one run."""

    recipe: str
    model: str
    split: str  # "test" or "validation"
    reference: str
    voxel: dict[str, Any]
    high_level: dict[str, Any]
    speed: Speed | None
    generated: str | None  # the precision the judged showers were generated in
    on_front: bool | None = None  # None: not placed

    @property
    def worst_auc(self) -> float | None:
        """max(voxel AUC, high-level AUC); None when one was skipped."""
        aucs = [s.get("auc") for s in (self.voxel, self.high_level)]
        return max(float(a) for a in aucs if a is not None) if None not in aucs else None

    @property
    def ms(self) -> dict[str, float]:
        return self.speed.ms if self.speed else {}

    @property
    def as_generated(self) -> bool:
        """Whether the speed is the one of the precision the judged showers used."""
        return self.generated is not None and self.generated in self.ms

    @property
    def precision(self) -> str | None:
        """The precision of the row's speed: the one of the judged showers when it was
        timed, else the fastest measured; None when none was measured."""
        if self.as_generated:
            return self.generated
        return min(self.ms, key=self.ms.__getitem__) if self.ms else None

    @property
    def point(self) -> tuple[float, float] | None:
        """(ms/shower at :attr:`precision`, max AUC), None when one is missing."""
        y = self.worst_auc
        return (self.ms[self.precision], y) if self.precision and y is not None else None


def load_manifest(run: Path) -> dict[str, Any]:
    """The run's ``manifest.json``; RunError when the path is not a run folder."""
    if not run.is_dir():
        raise RunError(f"{run}: not a directory (a recipe run folder was expected)")
    path = run / "manifest.json"
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise RunError(f"{path}: no such file (not a recipe run folder)") from None
    except (OSError, ValueError) as exc:
        raise RunError(f"{path}: unreadable ({exc})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("stages"), dict):
        raise RunError(f"{path}: no 'stages' record (not a recipe run manifest)")
    return manifest


def speeds(reports: list[BenchResult]) -> dict[str, Speed]:
    """ms/shower at BATCH per model stage and precision (PyTorch backend, the first bench
    stage measuring the model stage), with the machine of that measurement."""
    found: dict[str, tuple[dict[str, float], BenchResult, str]] = {}
    for report in reports:
        for row in report.rows:
            if not str(row.get("backend", "")).startswith("torch") or row.get("batch") != BATCH:
                continue
            model = model_stage(str(row.get("model", "")))
            if model in found and found[model][1] is not report:
                continue
            ms, _, _ = found.setdefault(model, ({}, report, str(row.get("device") or "cpu")))
            ms.setdefault(str(row.get("precision", "fp32")), float(row["ms_per_shower"]))
    out = {}
    for model, (ms, report, device) in found.items():
        machine = dict(report.machine)
        where = f"{device} on " if device != "cpu" else ""
        hardware = (device, str(machine.get("cpu")), *map(str, machine.get("isa") or []),
                    str(machine.get("threads")))  # fmt: skip
        out[model] = Speed(ms, where + machine_line(machine), hardware)
    return out


def run_rows(run: Path) -> list[Row]:
    """The rows of one run folder; empty (with a warning) when it holds no judged figures."""
    manifest = load_manifest(run)
    try:
        results = evaluate_results(run, manifest["stages"], run_recipe_of(run, manifest))
        measured = speeds(bench_results(run, manifest["stages"]))
    except RecipeError as exc:
        raise RunError(str(exc)) from None
    recipe = str(manifest.get("recipe", {}).get("name") or run.name)
    label = recipe if run.name == recipe else f"{recipe} ({run.name})"
    test = [r for r in results if r.split == "test"]
    split = "test" if test else "validation"
    chosen = test or [r for r in results if r.split == "val"]
    if not chosen:
        print(f"warning: {run}: no finished evaluate stage; skipped", file=sys.stderr)
        return []
    rows = []
    for result in chosen:
        comparisons = result.metrics.get("comparisons")
        if not isinstance(comparisons, dict):
            raise RunError(f"{result.path}: no 'comparisons' record (not an evaluate report)")
        reference = Path(str((result.metrics.get("reference") or {}).get("path", "?"))).name
        for cand, comp in comparisons.items():
            if cand.startswith("floor"):
                continue
            model = cand.removeprefix(f"{result.stage}-")
            clf = (comp or {}).get("classifier") or {}
            rows.append(
                Row(
                    recipe=label,
                    model=model,
                    split=split,
                    reference=reference,
                    voxel=clf.get("voxel") or {},
                    high_level=clf.get("high_level") or {},
                    speed=measured.get(model),
                    generated=result.precision(run, model),
                )
            )
    return rows


def mark_front(rows: list[Row]) -> str:
    """Set ``on_front`` on the rows of the compared split; returns that split."""
    split = "test" if any(r.split == "test" for r in rows) else "validation"
    placed = [(r, p) for r in rows if r.split == split and (p := r.point) is not None]
    for r, (x, y) in placed:
        r.on_front = not any(
            a <= x and b <= y and (a < x or b < y) for o, (a, b) in placed if o is not r
        )
    return split


def seeds_text(result: dict[str, Any]) -> str:
    """The classifier seeds: ``0-4`` for a run of consecutive ones, else a list."""
    seeds = [int(s) for s in result.get("seeds") or []]
    if not seeds:
        return "-"
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[0] + len(seeds))):
        return f"{seeds[0]}-{seeds[-1]}"
    return ", ".join(map(str, seeds))


def auc_text(result: dict[str, Any]) -> str:
    """``AUC ± error (headline classifier)``."""
    text = auc(result)
    return (
        f"{text} ({result['headline']})" if result.get("headline") and text != "skipped" else text
    )


def table(rows: list[Row], split: str) -> str:
    """The Markdown table with its caption."""
    lines = [HEADER, "|---|---|---|---|---|---|---|---:|---:|---|---|"]
    machines: list[str] = []  # numbered in the order met
    for r in rows:
        front = "-"
        if r.on_front is not None:
            basis = "" if r.as_generated else ", fastest"
            front = f"{'yes' if r.on_front else 'no'} ({r.precision}{basis})"
        ms = [f"{r.ms[p]:.3g}" if p in r.ms else "-" for p in PRECISIONS]
        seeds = seeds_text(r.voxel or r.high_level)
        where = "-"
        if r.speed is not None:
            if r.speed.machine not in machines:
                machines.append(r.speed.machine)
            where = f"[{machines.index(r.speed.machine) + 1}]"
        lines.append(
            f"| {r.recipe} | {r.model} | {r.split}: {r.reference} | {auc_text(r.voxel)} "
            f"| {auc_text(r.high_level)} | {sizes(r.voxel)} | {seeds} | {ms[0]} | {ms[1]} "
            f"| {where} | {front} |"
        )
    hardware = {r.speed.hardware for r in rows if r.on_front is not None and r.speed}
    caption = [
        "",
        f"Pareto front among the rows judged on the {split} file: a row is on it when no other "
        "row is at least as fast and has at most the same max(voxel AUC, high-level AUC), "
        f"one of the two strictly. Speed: ms/shower at batch {BATCH}, PyTorch, at the "
        "precision the judged showers were generated in (generator.precision of the run's "
        "gen/ file), or, marked 'fastest', at the fastest measured precision where that one "
        "is not recorded or was not timed; the front column names it. AUC: headline "
        "classifier, mean ± error over the seeds; 0.5 is indistinguishable from Geant4.",
    ]
    if any(r.split == "validation" for r in rows) and split == "test":
        caption.append(
            "Rows judged on the validation file (runs without a test stage) are shown for "
            "completeness and not placed: that file took part in model selection."
        )
    if len(hardware) > 1:
        caption.append("The speeds were measured on different machines: compare with care.")
    caption += ["", *(f"[{i}] {m}" for i, m in enumerate(machines, 1))] if machines else []
    return "\n".join(lines + caption) + "\n"


def pyplot() -> ModuleType:
    """matplotlib's pyplot on the Agg backend; MissingDependencyError (an ImportError) with
    the install command when matplotlib is missing."""
    require("matplotlib").use("Agg")
    return require("matplotlib.pyplot")


def plot(rows: list[Row], split: str, path: Path, plt: ModuleType) -> Path:
    """ms/shower (log) against both AUCs of each row, the front connected and ringed."""
    fig, ax = plt.subplots(figsize=(9, 6))
    try:
        xs = []
        for r in rows:
            if r.precision is None:
                continue
            x = r.ms[r.precision]
            xs.append(x)
            hollow = r.split != split  # not compared: judged on another file
            aucs = [s["auc"] for s in (r.voxel, r.high_level) if s.get("auc") is not None]
            if len(aucs) == 2:
                ax.plot([x, x], aucs, color="0.7", lw=0.8, zorder=1)
            for result, marker, colour in ((r.voxel, "o", VOXEL), (r.high_level, "^", HIGH)):
                if result.get("auc") is None:
                    continue
                ax.errorbar(
                    x,
                    result["auc"],
                    yerr=result.get("auc_err") or 0,
                    fmt=marker,
                    color=colour,
                    mfc="none" if hollow else colour,
                    capsize=2,
                    zorder=2,
                )
            if aucs:
                ax.annotate(
                    f"{r.recipe}\n{r.model}",
                    (x, max(aucs)),
                    fontsize=6,
                    xytext=(4, 4),
                    textcoords="offset points",
                )
        front = sorted(r.point for r in rows if r.on_front and r.point)
        if front:
            ax.plot(*zip(*front, strict=True), "k--", lw=1, zorder=3)
            ax.plot(*zip(*front, strict=True), "o", ms=12, mfc="none", mec="k", zorder=3)
        if xs:  # room for the labels on the log axis
            ax.set_xlim(min(xs) / 2, max(xs) * 6)
        ax.plot([], [], "o", color=VOXEL, label="voxel AUC")
        ax.plot([], [], "^", color=HIGH, label="high-level AUC")
        ax.plot([], [], "ko--", mfc="none", label=f"Pareto front ({split} file, max of the two)")
        ax.set_xscale("log")
        ax.set_xlabel(f"ms per shower (batch {BATCH}, judged showers' precision, else fastest)")
        ax.set_ylabel("classifier AUC (0.5: indistinguishable from Geant4)")
        ax.legend(fontsize=8)
        fig.tight_layout()
        return write_figure(fig, path, dpi=110)
    finally:
        plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR")
    ap.add_argument("--out", type=Path, default=Path("artifacts/benchmarks/pareto"))
    args = ap.parse_args()
    try:
        plt = pyplot()  # before any work: the plot is one of the outputs
        rows = [row for run in args.runs for row in run_rows(run)]
    except (ImportError, RunError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    if not rows:
        print("error: no run holds judged figures", file=sys.stderr)
        sys.exit(2)
    split = mark_front(rows)
    text = table(rows, split)
    print(text, end="")
    try:
        write_text(args.out / "pareto.md", text)
        plot(rows, split, args.out / "pareto.png", plt)
    except (OSError, ValueError) as exc:
        print(f"error: {args.out}: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
