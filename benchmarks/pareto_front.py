"""The Pareto front of finished recipe runs: classifier AUC against ms per shower.

Usage: python benchmarks/pareto_front.py RUN_DIR [RUN_DIR ...] [--out DIR]

One row per judged model of each run (a run judging several checkpoints, e.g. the
calibrated and the refined student, gives one row each): recipe (and run folder when its
name differs), model stage, the file it was judged on, voxel and high-level AUC (headline
classifier, mean ± error over the classifier seeds), the showers per class that trained /
tested the classifier, the seeds, ms/shower at batch 1024 in float32 and bfloat16 (``-``
where the run's bench stage did not measure it) and the machine of that measurement (CPU,
ISA, threads).

Figures come from the run's evaluate stages on the test split (``reference = "test"``). A
run without one falls back to its evaluate stages on the validation split, labelled
``validation`` in the "judged on" column: the validation file took part in the model's
selection, so those AUCs are not comparable with test ones, and the front is drawn among
the test rows only (among the validation rows when no run has test figures). A run with
neither is skipped with a warning line on stderr.

Front: a row is on it when no other row is at least as fast and at least as good (by the
larger of its two AUCs) and better in one of the two. The speed is the row's fastest
measured precision at batch 1024 (the front column names it); rows without that speed or
with a skipped AUC are not placed. Speeds measured on different machines are not
comparable: the caption says so when the rows' machines differ.

Output: the Markdown table on stdout and in ``DIR/pareto.md``, the plot ``DIR/pareto.png``
(ms/shower on a log axis against AUC; both AUCs of each row marked, the front connected),
written atomically. DIR defaults to ``artifacts/benchmarks/pareto``. A path that is not a
recipe run folder (no readable ``manifest.json``): one line on stderr, exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evaluate_summary import auc, read_report, sizes

from caloforge._optional import require
from caloforge.files import write_figure, write_text

BATCH = 1024
PRECISIONS = ("fp32", "bf16")
VOXEL, HIGH = "#1f77b4", "#d62728"  # plot colours of the two AUCs
HEADER = (
    "| recipe | model | judged on | AUC voxels | AUC high-level "
    "| showers per class (train / test) | classifier seeds | ms/shower fp32 "
    "| ms/shower bf16 | measured on | Pareto front |"
)


class RunError(ValueError):
    """A path that is not a finished recipe run folder."""


@dataclass
class Row:
    """One judged model of one run."""

    recipe: str
    model: str
    split: str  # "test" or "validation"
    reference: str
    voxel: dict[str, Any]
    high_level: dict[str, Any]
    ms: dict[str, float]  # precision -> ms/shower at BATCH
    machine: str
    on_front: bool | None = None  # None: not placed

    @property
    def worst_auc(self) -> float | None:
        """max(voxel AUC, high-level AUC); None when one was skipped."""
        aucs = [s.get("auc") for s in (self.voxel, self.high_level)]
        return max(float(a) for a in aucs if a is not None) if None not in aucs else None

    @property
    def fastest(self) -> str | None:
        """The precision of the fastest measurement, None when none was made."""
        return min(self.ms, key=self.ms.__getitem__) if self.ms else None

    @property
    def point(self) -> tuple[float, float] | None:
        """(ms/shower at the fastest precision, max AUC), None when one is missing."""
        y = self.worst_auc
        return (self.ms[self.fastest], y) if self.fastest and y is not None else None


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


def evaluate_stages(manifest: dict[str, Any]) -> dict[str, list[str]]:
    """Finished evaluate stages by the split they judge on (``test``, ``val``), read from
    the recipe text the manifest records."""
    recipe = tomllib.loads(str((manifest.get("recipe") or {}).get("text") or ""))
    split_of = {
        s.get("name"): str(s.get("reference", "val"))
        for s in recipe.get("stages", [])
        if s.get("kind") == "evaluate"
    }
    found: dict[str, list[str]] = {"test": [], "val": []}
    for name, entry in manifest["stages"].items():
        if entry.get("kind") == "evaluate" and entry.get("status") == "done":
            found.setdefault(split_of.get(name, "val"), []).append(name)
    return found


def model_stage(checkpoint: str) -> str:
    """The model stage a benched checkpoint belongs to (the run folder layout: a training
    stage's ``NAME/checkpoint.pt`` or ``NAME/best.pt``, else ``NAME.pt``)."""
    path = Path(checkpoint)
    return path.parent.name if path.name in ("checkpoint.pt", "best.pt") else path.stem


def speeds(
    run: Path, manifest: dict[str, Any]
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, Any]]]:
    """ms/shower at BATCH per model stage and precision (PyTorch backend, the first bench
    stage measuring it), and the machine record of each model stage's measurement."""
    ms: dict[str, dict[str, float]] = {}
    machines: dict[str, dict[str, Any]] = {}
    for name, entry in manifest["stages"].items():
        path = run / f"{name}.json"
        if entry.get("kind") != "bench" or entry.get("status") != "done" or not path.is_file():
            continue
        report = json.loads(path.read_text())
        for row in report.get("rows", []):
            if not str(row.get("backend", "")).startswith("torch") or row.get("batch") != BATCH:
                continue
            model = model_stage(str(row.get("model", "")))
            per = ms.setdefault(model, {})
            per.setdefault(str(row.get("precision", "fp32")), float(row["ms_per_shower"]))
            machines.setdefault(model, {**report.get("machine", {}), "device": row.get("device")})
    return ms, machines


def machine_text(machine: dict[str, Any]) -> str:
    """CPU model, ISA and threads of a speed measurement (and the device when not the CPU)."""
    if not machine:
        return "-"
    device = machine.get("device")
    where = f"{device} on " if device and device != "cpu" else ""
    isa = " ".join(machine.get("isa", [])) or "-"
    return f"{where}{machine.get('cpu', '?')} ({isa}; {machine.get('threads', '?')} threads)"


def run_rows(run: Path) -> list[Row]:
    """The rows of one run folder; empty (with a warning) when it holds no judged figures."""
    manifest = load_manifest(run)
    try:
        stages = evaluate_stages(manifest)
    except ValueError as exc:
        raise RunError(f"{run / 'manifest.json'}: recipe text unreadable ({exc})") from None
    recipe = str(manifest.get("recipe", {}).get("name") or run.name)
    label = recipe if run.name == recipe else f"{recipe} ({run.name})"
    split = "test" if stages["test"] else "validation"
    chosen = stages["test"] or stages["val"]
    if not chosen:
        print(f"warning: {run}: no finished evaluate stage; skipped", file=sys.stderr)
        return []
    ms, machines = speeds(run, manifest)
    rows = []
    for stage in chosen:
        try:
            metrics = read_report(run / stage)
        except (OSError, ValueError) as exc:
            raise RunError(f"{run / stage / 'metrics.json'}: unreadable ({exc})") from None
        reference = Path(str((metrics.get("reference") or {}).get("path", "?"))).name
        for cand, comp in metrics["comparisons"].items():
            if cand.startswith("floor"):
                continue
            model = cand.removeprefix(f"{stage}-")
            clf = comp.get("classifier") or {}
            rows.append(
                Row(
                    recipe=label,
                    model=model,
                    split=split,
                    reference=reference,
                    voxel=clf.get("voxel") or {},
                    high_level=clf.get("high_level") or {},
                    ms=ms.get(model, {}),
                    machine=machine_text(machines.get(model, {})),
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
    for r in rows:
        front = "-" if r.on_front is None else f"{'yes' if r.on_front else 'no'} ({r.fastest})"
        ms = [f"{r.ms[p]:.3g}" if p in r.ms else "-" for p in PRECISIONS]
        seeds = seeds_text(r.voxel or r.high_level)
        lines.append(
            f"| {r.recipe} | {r.model} | {r.split}: {r.reference} | {auc_text(r.voxel)} "
            f"| {auc_text(r.high_level)} | {sizes(r.voxel)} | {seeds} | {ms[0]} | {ms[1]} "
            f"| {r.machine} | {front} |"
        )
    machines = {r.machine for r in rows if r.on_front is not None}
    caption = [
        "",
        f"Pareto front among the rows judged on the {split} file: a row is on it when no other "
        "row is at least as fast and has at most the same max(voxel AUC, high-level AUC), "
        f"one of the two strictly. Speed: ms/shower at batch {BATCH}, PyTorch, at the row's "
        "fastest measured precision (named in the front column). AUC: headline classifier, "
        "mean ± error over the seeds; 0.5 is indistinguishable from Geant4.",
    ]
    if any(r.split == "validation" for r in rows) and split == "test":
        caption.append(
            "Rows judged on the validation file (runs without a test stage) are shown for "
            "completeness and not placed: that file took part in model selection."
        )
    if len(machines) > 1:
        caption.append("The speeds were measured on different machines: compare with care.")
    return "\n".join(lines + caption) + "\n"


def plot(rows: list[Row], split: str, path: Path) -> Path:
    """ms/shower (log) against both AUCs of each row, the front connected and ringed."""
    require("matplotlib").use("Agg")
    plt = require("matplotlib.pyplot")
    fig, ax = plt.subplots(figsize=(9, 6))
    try:
        xs = []
        for r in rows:
            if r.fastest is None:
                continue
            x = r.ms[r.fastest]
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
        ax.set_xlabel(f"ms per shower (batch {BATCH}, fastest measured precision)")
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
        rows = [row for run in args.runs for row in run_rows(run)]
    except RunError as exc:
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
        plot(rows, split, args.out / "pareto.png")
    except (OSError, ValueError) as exc:
        print(f"error: {args.out}: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
