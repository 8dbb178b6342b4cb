"""The Fast Calorimeter Simulation Challenge's histogram separation powers beside caloforge's.

Reads, for each candidate, the ``histogram_chi2_<dataset>.txt`` that the Challenge's
``code/evaluate.py -m hist-chi`` wrote (reference ``-r REF``, generated ``-i CAND``) and the
``metrics.json`` of ``caloforge evaluate REF CAND...``, and prints per observable family
(mean and maximum over the layers):

* ``challenge``: the Challenge's evaluate.py on the files as they are;
* ``recomputed``: the Challenge's definitions applied to caloforge's observables
  (``caloforge.evaluate.observables``, ``metrics.separation_power``): voxels below the
  threshold set to zero, its fixed bins, entries outside them dropped, its angle origin;
  ``max |diff|`` is the largest difference to ``challenge`` over the layers;
* ``caloforge``: ``caloforge evaluate``'s own separation power of the nearest observable
  (bins from the reference's 0.1-99.9 % range, over- and underflow folded in; the layer's
  energy *fraction* for the layer energy);
* ``caloforge thr``: the same with ``--threshold`` at the Challenge's voxel threshold (it
  changes the cell-energy spectrum and the hit counts only).

Example (``benchmarks/challenge_evaluate.sh`` runs it)::

    python benchmarks/challenge_compare.py REF.h5 CAND.h5 \
        --challenge OUT/challenge/CAND/histogram_chi2_2.txt \
        --caloforge OUT/caloforge_threshold_0/metrics.json \
        --caloforge-threshold OUT/caloforge_threshold_0.0151.../metrics.json [--per-layer]
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from caloforge.data import ShowerFile, ShowerFileError
from caloforge.evaluate.metrics import separation_power
from caloforge.evaluate.observables import layer_centroids, layer_energies, layer_widths

CHALLENGE_THRESHOLD = 0.5e-3 / 0.033
"""The Challenge's voxel threshold for datasets 2 and 3, MeV (0.5 keV / 0.033)."""

# family -> (the Challenge's label, caloforge's per-layer observable or None)
FAMILIES = {
    "E_tot / E_inc": ("Etot / Einc", "e_ratio"),
    "energy of layer i": ("E layer {}", "frac_{}"),
    "centre x, layer i": ("EC Eta layer {}", "cx_{}"),
    "centre y, layer i": ("EC Phi layer {}", "cy_{}"),
    "width x, layer i": ("Width Eta layer {}", "wx_{}"),
    "width y, layer i": ("Width Phi layer {}", "wy_{}"),
    "voxel energies": ("Voxel distribution", "cell_energy"),
}

Key = tuple[str, int | None]


def read_challenge(path: Path) -> dict[str, float]:
    """Label -> separation power from the Challenge's ``histogram_chi2_<dataset>.txt``."""
    text = path.read_text()
    return {m[1]: float(m[2]) for m in re.finditer(r"^(.+?):\s*\n(\S+)\n", text, re.M)}


def read_caloforge(path: Path, name: str) -> dict[str, float]:
    """Observable -> separation power of candidate ``name`` in a ``metrics.json``."""
    comparisons = json.loads(path.read_text())["comparisons"]
    if name not in comparisons:
        raise KeyError(f"{path}: no comparison named {name!r} (has {sorted(comparisons)})")
    return {
        o["name"]: (math.nan if o["separation"] is None else o["separation"])
        for o in comparisons[name]["observables"]
    }


def _separation(a: NDArray[Any], b: NDArray[Any], edges: NDArray[Any]) -> float:
    """The Challenge's separation power: entries outside ``edges`` are dropped."""
    if not np.all(np.diff(edges) > 0):
        return math.nan
    return separation_power(np.histogram(a, edges)[0], np.histogram(b, edges)[0])


def _log_edges(low: float, top: float, n: int) -> NDArray[np.float64]:
    """``n`` log-spaced edges from ``low`` to ``top``, the last exactly ``top``.

    The Challenge takes ``np.logspace(log10(low), log10(top), n)``, whose last edge rounds
    below ``top`` for some values: the reference's largest entry then falls outside (a
    quirk of its arithmetic, not of its definition); here it is always inside.
    """
    if not top > low:
        return np.zeros(2)
    edges = np.logspace(np.log10(low), np.log10(top), n)
    edges[-1] = top
    return edges


def _observables(data: ShowerFile, threshold: float) -> dict[str, NDArray[np.float64]]:
    s = data.showers().astype(np.float64)
    s[s < threshold] = 0.0
    det = data.detector
    cx, cy = layer_centroids(s, det)
    wx, wy = layer_widths(s, det)
    return {
        "ratio": s.sum(axis=1) / data.conditions().energy,
        "layer": layer_energies(s, det),
        # the Challenge's angular bin 0 starts at -pi, caloforge's at 0: the same voxel
        # lies half a turn apart, so both transverse coordinates change sign
        "cx": -cx,
        "cy": -cy,
        "wx": wx,
        "wy": wy,
        "voxels": s.ravel(),
    }


def recompute(
    reference: ShowerFile, candidate: ShowerFile, threshold: float = CHALLENGE_THRESHOLD
) -> dict[str, float]:
    """The Challenge's histogram separation powers (its labels) from caloforge's observables.

    Definitions of its ``evaluate_plotting_helper.py``: E_tot/E_inc in 100 bins on
    [0.5, 1.5]; layer energies in 39 log bins from the threshold to the reference's maximum
    of that layer; centres in 100 bins on [-30, 30] mm; widths in 100 bins on [0, 30] mm;
    every voxel of every shower in 49 log bins from the threshold to the reference's
    largest voxel. Entries outside the bins are dropped (the reference's largest value is
    kept, see :func:`_log_edges`).
    """
    ref, cand = _observables(reference, threshold), _observables(candidate, threshold)
    out = {"Etot / Einc": _separation(ref["ratio"], cand["ratio"], np.linspace(0.5, 1.5, 101))}
    centre, width = np.linspace(-30.0, 30.0, 101), np.linspace(0.0, 30.0, 101)
    for i in range(ref["layer"].shape[1]):
        edges = _log_edges(threshold, ref["layer"][:, i].max(), 40)
        out[f"E layer {i}"] = _separation(ref["layer"][:, i], cand["layer"][:, i], edges)
        for key, label, e in (
            ("cx", "EC Eta", centre),
            ("cy", "EC Phi", centre),
            ("wx", "Width Eta", width),
            ("wy", "Width Phi", width),
        ):
            out[f"{label} layer {i}"] = _separation(ref[key][:, i], cand[key][:, i], e)
    edges = _log_edges(threshold, ref["voxels"].max(), 50)
    out["Voxel distribution"] = _separation(ref["voxels"], cand["voxels"], edges)
    return out


def dropped_maximum(reference: ShowerFile, threshold: float = CHALLENGE_THRESHOLD) -> list[int]:
    """Layers whose largest reference energy the Challenge's own arithmetic leaves outside
    its bins (float32 sums of the file's voxels, the last edge of ``np.logspace`` below
    them): the only layers where ``recomputed`` may differ from ``challenge``."""
    s = reference.showers()
    s = np.where(s < threshold, np.zeros_like(s), s)
    out = []
    for i, sl in enumerate(reference.detector.layer_slices):
        top = s[:, sl].sum(axis=-1).max()
        if top > threshold and np.logspace(np.log10(threshold), np.log10(top), 40)[-1] < top:
            out.append(i)
    return out


def _rows(labels: list[str], columns: list[dict[str, float]]) -> NDArray[np.float64]:
    return np.array([[c.get(label, math.nan) for c in columns] for label in labels])


def _close(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) < 1e-9


def _fmt(v: float) -> str:
    if not math.isfinite(v):
        return "nan"
    return f"{v:.4f}" if v == 0 or abs(v) >= 0.01 else f"{v:.2e}"


def _family_labels(n_layers: int, challenge: str, caloforge: str) -> tuple[list[str], list[str]]:
    if "{}" not in challenge:
        return [challenge], [caloforge]
    return (
        [challenge.format(i) for i in range(n_layers)],
        [caloforge.format(i) for i in range(n_layers)],
    )


def table(
    name: str,
    challenge: dict[str, float],
    recomputed: dict[str, float],
    caloforge: dict[str, float],
    caloforge_thr: dict[str, float],
    n_layers: int,
    per_layer: bool = False,
) -> list[str]:
    """Markdown lines: one row per family (mean / max over layers), or per layer."""
    lines = [
        f"### {name}",
        "",
        "| observable | challenge | recomputed | max abs diff | caloforge | caloforge thr |",
        "|---|---|---|---|---|---|",
    ]
    for family, (clabel, flabel) in FAMILIES.items():
        cl, fl = _family_labels(n_layers, clabel, flabel)
        ch = _rows(cl, [challenge, recomputed])
        cf = np.array([[caloforge.get(f, math.nan), caloforge_thr.get(f, math.nan)] for f in fl])
        diff = np.abs(ch[:, 0] - ch[:, 1])
        both_nan = np.isnan(ch[:, 0]) & np.isnan(ch[:, 1])
        diff[both_nan] = 0.0
        max_diff = float(np.max(diff)) if not np.isnan(diff).all() else math.nan
        if per_layer and len(cl) > 1:
            for i, label in enumerate(cl):
                lines.append(
                    f"| {label} | {_fmt(ch[i, 0])} | {_fmt(ch[i, 1])} | {_fmt(diff[i])} | "
                    f"{_fmt(cf[i, 0])} | {_fmt(cf[i, 1])} |"
                )
            continue
        if len(cl) == 1:
            cells = [_fmt(ch[0, 0]), _fmt(ch[0, 1]), _fmt(max_diff), _fmt(cf[0, 0]), _fmt(cf[0, 1])]
        else:

            def agg(v: NDArray[np.float64]) -> str:
                if np.isnan(v).all():
                    return "nan"
                n_nan = int(np.isnan(v).sum())
                tail = f" ({n_nan} nan)" if n_nan else ""
                return f"{np.nanmean(v):.4f} / {np.nanmax(v):.4f}{tail}"

            cells = [agg(ch[:, 0]), agg(ch[:, 1]), _fmt(max_diff), agg(cf[:, 0]), agg(cf[:, 1])]
        lines.append(f"| {family} | " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("reference", type=Path)
    p.add_argument("candidates", type=Path, nargs="+")
    p.add_argument(
        "--challenge",
        type=Path,
        nargs="+",
        required=True,
        help="histogram_chi2_<dataset>.txt per candidate, in the same order",
    )
    p.add_argument(
        "--caloforge",
        type=Path,
        required=True,
        help="metrics.json of caloforge evaluate REF CAND... (threshold 0)",
    )
    p.add_argument(
        "--caloforge-threshold",
        type=Path,
        required=True,
        help="the same with --threshold at the Challenge's voxel threshold",
    )
    p.add_argument(
        "--threshold",
        type=float,
        default=CHALLENGE_THRESHOLD,
        help="the Challenge's voxel threshold, MeV (default 0.5 keV / 0.033)",
    )
    p.add_argument("--per-layer", action="store_true", help="one row per layer")
    a = p.parse_args(argv)
    if len(a.challenge) != len(a.candidates):
        print(
            f"error: {len(a.candidates)} candidates but {len(a.challenge)} --challenge files",
            file=sys.stderr,
        )
        return 2
    for path in (a.reference, *a.candidates, *a.challenge, a.caloforge, a.caloforge_threshold):
        if not path.is_file():
            print(f"error: {path}: no such file", file=sys.stderr)
            return 2
    try:
        ref = ShowerFile(a.reference)
        print(
            f"reference {a.reference} ({len(ref)} showers); voxel threshold of the Challenge's "
            f"definitions {a.threshold:.6g} MeV; cells: mean over layers / max over layers\n"
        )
        for cand_path, ch_path in zip(a.candidates, a.challenge, strict=True):
            cand = ShowerFile(cand_path, ref.detector)
            name = cand_path.stem
            ch = read_challenge(ch_path)
            rc = recompute(ref, cand, a.threshold)
            differ = [
                i
                for i in range(ref.detector.n_layers)
                if not _close(ch.get(f"E layer {i}", math.nan), rc[f"E layer {i}"])
            ]
            lines = table(
                f"{name} ({len(cand)} showers) against the reference",
                ch,
                rc,
                read_caloforge(a.caloforge, name),
                read_caloforge(a.caloforge_threshold, name),
                ref.detector.n_layers,
                a.per_layer,
            )
            lines.append(
                f"\nlayer energies: recomputed differs from challenge in layers "
                f"{differ}; the Challenge drops the reference's largest value in "
                f"layers {dropped_maximum(ref, a.threshold)}"
            )
            print("\n".join(lines) + "\n")
    except (ShowerFileError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
