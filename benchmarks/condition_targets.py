"""The condition-by-condition targets of a `caloforge evaluate` report, row by row.

Usage: python benchmarks/condition_targets.py REPORT_DIR [--model NAME] [--targets em|pion]
    [--json OUT.json]

For a report whose reference's conditions vary (energy, impact point, angles, particle
mixture; the ``conditional`` section of ``metrics.json``), one Markdown table per
candidate (or only ``--model NAME``) with one row per target and bin
(:func:`caloforge.evaluate.targets.condition_targets`) of the target set ``--targets``
(:data:`caloforge.evaluate.targets.TARGET_SETS`).

``em`` (the default): voxel and high-level classifier AUC at most 0.65 (with its error and
the showers per class); in readout layer 1 (index 1, the second layer), the slope of the
energy-weighted centre against the impact point within 5 % of Geant4's and its residual
RMS within 20 %, x and y; per true-theta bin, the principal-axis theta's mean within 10 %
of Geant4's resolution and its resolution within 15 %; per particle and energy bin, the
response within 1 % and the relative resolution within 10 % of Geant4's.

``pion``: classifier AUCs at most 0.75; per particle and energy bin, the response (mean
E_vis / E_inc of every shower) within 5 % and the relative resolution (standard deviation
over mean) within 15 % of Geant4's; the layer energies' Pearson
correlations within 0.05 of Geant4's at the worst pair of readout layers (the row says how
many pairs are within). Centre and angle rows only where the sample moves or tilts its
particles (at normal incidence and a fixed impact point they are left out).

Columns: the target, the bin (particle, axis), the figure of Geant4 (the reference), of
the model and of the floor (the reference's odd rows; the floor comparison for the AUCs),
the deviation of the model from Geant4 and of the odd from the even rows in the target's
unit, and whether each reaches the target. A summary line per table counts the targets
reached. ``--json`` writes the rows (atomically). A folder without ``metrics.json``, a
report without a section the targets read or an unknown model: one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, NoReturn

from caloforge.evaluate.targets import (
    TARGET_SETS,
    TargetError,
    TargetRow,
    condition_targets,
    report_models,
)
from caloforge.files import atomic_output

HEADER = (
    "| target | bin | Geant4 | model | floor | deviation | floor deviation | reached "
    "| floor reached |\n|---|---|---|---|---|---|---|---|---|"
)


def fail(message: str) -> NoReturn:
    """One ``error:`` line on stderr, exit code 2."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def read_report(path: Path) -> dict[str, Any]:
    """A report's ``metrics.json`` (:class:`TargetError` when absent or unreadable)."""
    if not path.is_file():
        raise TargetError("no such file")
    try:
        metrics: dict[str, Any] = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TargetError(f"not a readable metrics file ({exc})") from exc
    if not isinstance(metrics, dict):
        raise TargetError("not a metrics file (no JSON object)")
    return metrics


def value(x: float | None, unit: str) -> str:
    """A figure with its unit, or ``-``."""
    return "-" if x is None else f"{x:.4g} {unit}".rstrip()


def deviation(x: float | None, unit: str) -> str:
    """A signed deviation in the target's unit, or ``-``."""
    if x is None:
        return "-"
    return f"{x:+.2f} %" if unit.startswith("%") else f"{x:+.3f}"


def markdown_row(r: TargetRow) -> str:
    model = value(r.model, r.value_unit) + (f" ({r.note})" if r.note else "")
    cells = (
        r.target,
        r.where,
        value(r.geant4, r.value_unit),
        model,
        value(r.floor, r.value_unit),
        deviation(r.deviation, r.unit),
        deviation(r.floor_deviation, r.unit),
        "yes" if r.reached else "no",
        "yes" if r.floor_reached else "no",
    )
    return "| " + " | ".join(cells) + " |"


def table(model: str, rows: list[TargetRow]) -> str:
    """The Markdown table of one model's rows and its summary line."""
    reached, floor = sum(r.reached for r in rows), sum(r.floor_reached for r in rows)
    return "\n".join(
        [
            f"### {model}",
            "",
            HEADER,
            *map(markdown_row, rows),
            "",
            f"{model}: {reached} of {len(rows)} targets reached "
            f"(floor, Geant4 against Geant4: {floor} of {len(rows)})",
            "",
        ]
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("report", type=Path, metavar="REPORT_DIR")
    ap.add_argument("--model", help="only this candidate (default: every one)")
    ap.add_argument(
        "--targets",
        choices=sorted(TARGET_SETS),
        default="em",
        help="the target set (default: em, the spread-condition EM mixture's)",
    )
    ap.add_argument("--json", type=Path, metavar="OUT.json", help="also write the rows here")
    args = ap.parse_args()
    path = args.report / "metrics.json"
    try:
        metrics = read_report(path)
        models = [args.model] if args.model else report_models(metrics)
        targets = TARGET_SETS[args.targets]
        rows = {m: condition_targets(metrics, m, targets) for m in models}
    except TargetError as exc:
        fail(f"{path}: {exc}")
    print("\n".join(table(m, r) for m, r in rows.items()), end="")
    if args.json:
        record = {
            "report": str(args.report),
            "targets": args.targets,
            "models": {
                m: {
                    "reached": sum(x.reached for x in r),
                    "floor_reached": sum(x.floor_reached for x in r),
                    "targets": len(r),
                    "rows": [x.to_dict() for x in r],
                }
                for m, r in rows.items()
            },
        }
        try:
            with atomic_output(args.json, overwrite=True, inputs=(path,)) as tmp:
                tmp.write_text(json.dumps(record, indent=1) + "\n")
        except (OSError, ValueError) as exc:
            fail(f"{args.json}: {exc}")


if __name__ == "__main__":
    main()
