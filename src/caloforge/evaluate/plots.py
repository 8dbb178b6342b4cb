"""Plots of shower samples (matplotlib, imported lazily; mplhep style where installed).

Every comparison plot is saved as PNG and PDF by :func:`save_figure`, atomically
(:func:`caloforge.files.write_figure`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from caloforge._optional import require
from caloforge.files import write_figure
from caloforge.geometry import Detector
from caloforge.geometry.draw import draw_layer_cells, save_to


def plot_average_shower(
    showers: NDArray[Any], det: Detector, path: str | Path, *, title: str = ""
) -> Path:
    """Save the average shower of a sample, one panel per readout layer (up to 12 layers)."""
    require("matplotlib").use("Agg")
    plt = require("matplotlib.pyplot")
    mean = np.asarray(showers, dtype=np.float64).mean(axis=0)
    layers = np.unique(np.linspace(0, det.n_layers - 1, min(det.n_layers, 12)).round().astype(int))
    ncol = min(4, len(layers))
    nrow = -(-len(layers) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.6 * ncol, 3.3 * nrow), squeeze=False)
    for ax, i in zip(axes.ravel(), layers, strict=False):
        coll = draw_layer_cells(ax, det, int(i), mean[det.layer_slices[i]])
        fig.colorbar(coll, ax=ax, label="mean energy [MeV]", fraction=0.046)
        ax.set_title(f"layer {i}: {mean[det.layer_slices[i]].sum():.1f} MeV", fontsize=9)
    for ax in axes.ravel()[len(layers) :]:
        ax.axis("off")
    fig.suptitle(title or f"{det.name}: average of {len(showers)} showers")
    fig.tight_layout()
    return save_to(fig, path)


# ---------------------------------------------------------------------------------------
# comparison plots: a reference against one or more candidates
COLOURS = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


def _pyplot() -> Any:
    require("matplotlib").use("Agg")
    plt = require("matplotlib.pyplot")
    try:  # HEP style only where mplhep is installed
        import mplhep

        plt.style.use(mplhep.style.ROOT)
    except ImportError:
        pass
    return plt


FORMATS = ("png", "pdf")


def save_figure(
    fig: Any, out_dir: str | Path, stem: str, *, dpi: int = 90, formats: Sequence[str] = FORMATS
) -> Path:
    """Save ``fig`` as ``stem.png`` (always: the HTML report embeds it) and in the other
    ``formats`` (default also PDF) in ``out_dir``, each atomically (a half-written file never
    holds the final name), close it; returns the PNG path."""
    out = Path(out_dir)
    try:
        png = write_figure(fig, out / f"{stem}.png", dpi=dpi)
        for fmt in formats:
            if fmt != "png":
                write_figure(fig, out / f"{stem}.{fmt}")
    finally:
        require("matplotlib.pyplot").close(fig)
    return png


def plot_histograms(
    names: Sequence[str],
    reference: Mapping[str, NDArray[Any]],
    candidates: Mapping[str, dict[str, NDArray[Any]]],
    edges: Mapping[str, NDArray[Any]],
    out_dir: str | Path,
    stem: str,
    *,
    ref_label: str = "reference",
    labels: Mapping[str, str] | None = None,
    ncol: int = 4,
    formats: Sequence[str] = FORMATS,
) -> Path:
    """Overlaid normalised histograms of observables ``names`` with candidate/reference
    ratio panels, one panel per observable; binning ``edges`` fixed from the reference.

    Over- and underflow are folded into the edge bins, as in the metrics.
    """
    plt = _pyplot()
    ncol = min(ncol, len(names))
    nrow = -(-len(names) // ncol)
    fig = plt.figure(figsize=(3.3 * ncol, 3.2 * nrow))
    outer = fig.add_gridspec(
        nrow, ncol, hspace=0.4, wspace=0.35, left=0.06, right=0.98, top=0.95, bottom=0.06
    )
    for i, name in enumerate(names):
        inner = outer[divmod(i, ncol)].subgridspec(2, 1, height_ratios=[3, 1], hspace=0.05)
        ax = fig.add_subplot(inner[0])
        rax = fig.add_subplot(inner[1], sharex=ax)
        e = np.asarray(edges[name])
        ref = np.clip(np.asarray(reference[name]), e[0], e[-1])
        h_ref = np.histogram(ref, bins=e)[0].astype(np.float64)
        norm_ref = h_ref / max(h_ref.sum(), 1) / np.diff(e)
        ax.stairs(norm_ref, e, fill=True, color="0.8", label=ref_label)
        ax.stairs(norm_ref, e, color="k", lw=0.8)
        for k, (cname, values) in enumerate(candidates.items()):
            colour = COLOURS[k % len(COLOURS)]
            h = np.histogram(np.clip(np.asarray(values[name]), e[0], e[-1]), bins=e)[0].astype(
                np.float64
            )
            norm = h / max(h.sum(), 1) / np.diff(e)
            ax.stairs(norm, e, color=colour, lw=1.2, label=(labels or {}).get(cname, cname))
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(norm_ref > 0, norm / norm_ref, np.nan)
            rax.stairs(ratio, e, color=colour, lw=1.0)
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelbottom=False, labelsize=7)
        rax.axhline(1.0, color="k", lw=0.6)
        rax.set_ylim(0.5, 1.5)
        rax.tick_params(labelsize=7)
        rax.locator_params(axis="x", nbins=5)
        rax.set_ylabel("ratio", fontsize=7)
        if i == 0:
            ax.legend(fontsize=7, frameon=False)
    return save_figure(fig, out_dir, stem, formats=formats)


def plot_spectrum(
    edges: NDArray[Any],
    reference: NDArray[Any],
    candidates: Mapping[str, NDArray[Any]],
    out_dir: str | Path,
    *,
    threshold: float = 0.0,
    ref_label: str = "reference",
    formats: Sequence[str] = FORMATS,
) -> Path:
    """Cell-energy spectra (counts per shower, log x), reference filled, candidates as lines."""
    plt = _pyplot()
    fig, (ax, rax) = plt.subplots(2, 1, figsize=(6, 4.6), sharex=True, height_ratios=[3, 1])
    ref = np.asarray(reference, dtype=np.float64)
    ref_n = ref / max(ref.sum(), 1)
    ax.stairs(ref_n, edges, fill=True, color="0.8", label=ref_label)
    for k, (name, counts) in enumerate(candidates.items()):
        c = np.asarray(counts, dtype=np.float64)
        cn = c / max(c.sum(), 1)
        colour = COLOURS[k % len(COLOURS)]
        ax.stairs(cn, edges, color=colour, label=name)
        with np.errstate(divide="ignore", invalid="ignore"):
            rax.stairs(np.where(ref_n > 0, cn / ref_n, np.nan), edges, color=colour)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylabel("fraction of cells")
    ax.set_title(f"cell-energy spectrum (cells above {threshold:g} MeV)", fontsize=10)
    ax.legend(fontsize=8, frameon=False)
    rax.axhline(1.0, color="k", lw=0.6)
    rax.set_ylim(0.0, 2.0)
    rax.set_xlabel("cell energy [MeV]")
    return save_figure(fig, out_dir, "cell_spectrum", formats=formats)


def plot_profiles(
    layer_depth: NDArray[Any],
    radial_edges: NDArray[Any],
    reference: tuple[NDArray[Any], NDArray[Any]],
    candidates: Mapping[str, tuple[NDArray[Any], NDArray[Any]]],
    out_dir: str | Path,
    *,
    ref_label: str = "reference",
    formats: Sequence[str] = FORMATS,
) -> Path:
    """Longitudinal profile (mean layer-energy fraction vs depth in X0) and radial profile
    (mean energy per radial bin per mm^2 of ring area), reference vs candidates.

    ``reference`` and each candidate are (mean layer fractions, mean radial profile).
    """
    plt = _pyplot()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
    r = np.asarray(radial_edges, dtype=np.float64)
    area = np.pi * np.diff(r**2)
    a1.plot(layer_depth, reference[0], "o-", color="k", label=ref_label)
    a2.stairs(np.asarray(reference[1]) / area, r, color="k", lw=1.5, label=ref_label)
    for k, (name, (frac, radial)) in enumerate(candidates.items()):
        colour = COLOURS[k % len(COLOURS)]
        a1.plot(layer_depth, frac, "s--", color=colour, label=name, ms=4)
        a2.stairs(np.asarray(radial) / area, r, color=colour, label=name)
    a1.set_xlabel("readout-layer depth [X0]")
    a1.set_ylabel("mean energy fraction")
    a1.set_title("longitudinal profile", fontsize=10)
    a2.set_yscale("log")
    a2.set_xlabel("transverse radius [mm]")
    a2.set_ylabel("mean energy density [MeV / mm²]")
    a2.set_title("radial profile", fontsize=10)
    a1.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return save_figure(fig, out_dir, "profiles", formats=formats)


def plot_cell_maps(
    det: Detector,
    ref_mean: NDArray[Any],
    ref_std: NDArray[Any],
    candidates: Mapping[str, tuple[NDArray[Any], NDArray[Any]]],
    out_dir: str | Path,
    *,
    max_layers: int = 6,
    formats: Sequence[str] = FORMATS,
) -> Path:
    """Per-cell maps: reference mean and std, then per candidate the ratios
    candidate/reference of the mean and of the std (a generator that underestimates the
    per-cell spread shows std ratios below 1)."""
    plt = _pyplot()
    colors = require("matplotlib.colors")
    layers = np.unique(
        np.linspace(0, det.n_layers - 1, min(det.n_layers, max_layers)).round().astype(int)
    )
    rows: list[tuple[str, NDArray[Any], bool]] = [
        ("reference mean [MeV]", np.asarray(ref_mean), True),
        ("reference std [MeV]", np.asarray(ref_std), True),
    ]
    for name, (m, s) in candidates.items():
        with np.errstate(divide="ignore", invalid="ignore"):
            rows.append(
                (f"{name}: mean ratio", np.where(ref_mean > 0, m / ref_mean, np.nan), False)
            )
            rows.append((f"{name}: std ratio", np.where(ref_std > 0, s / ref_std, np.nan), False))
    fig, axes = plt.subplots(
        len(rows), len(layers), figsize=(3.3 * len(layers), 2.9 * len(rows)), squeeze=False
    )
    for r, (label, values, log) in enumerate(rows):
        for c, layer in enumerate(layers):
            ax = axes[r, c]
            v = values[det.layer_slices[layer]]
            coll = draw_layer_cells(ax, det, int(layer), v, log=log)
            if not log:
                coll.set_cmap("RdBu_r")
                coll.set_norm(colors.Normalize(vmin=0.5, vmax=1.5))
            fig.colorbar(coll, ax=ax, fraction=0.046)
            ax.set_title(f"{label}, layer {layer}", fontsize=8)
            ax.tick_params(labelsize=6)
            ax.set_xlabel("")
            ax.set_ylabel("")
    fig.subplots_adjust(left=0.04, right=0.97, bottom=0.03, top=0.97, wspace=0.35, hspace=0.3)
    return save_figure(fig, out_dir, "cell_maps", dpi=70, formats=formats)


def plot_response(
    reference: Mapping[str, Any],
    candidates: Mapping[str, dict[str, Any]],
    out_dir: str | Path,
    *,
    ref_label: str = "reference",
    formats: Sequence[str] = FORMATS,
) -> Path:
    """Energy response (mean E_vis/E_inc) and resolution (sigma/mean) versus incident
    energy, from :meth:`caloforge.evaluate.observables.Response.to_dict` dicts."""
    plt = _pyplot()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
    series = [(ref_label, reference, "k", "o")] + [
        (n, d, COLOURS[k % len(COLOURS)], "s") for k, (n, d) in enumerate(candidates.items())
    ]
    for k, (name, d, colour, marker) in enumerate(series):
        e = np.asarray(d["energy"]) / 1000.0 * (1 + 0.02 * k)  # small offsets for legibility
        a1.errorbar(
            e, d["mean"], yerr=d["mean_err"], fmt=marker, color=colour, label=name, ms=4, capsize=2
        )
        a2.errorbar(
            e,
            d["resolution"],
            yerr=d["resolution_err"],
            fmt=marker,
            color=colour,
            label=name,
            ms=4,
            capsize=2,
        )
    ticker = require("matplotlib.ticker")
    for ax in (a1, a2):
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(ticker.ScalarFormatter())
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        ax.yaxis.set_minor_formatter(ticker.NullFormatter())
        ax.set_xlabel("incident energy [GeV]")
    a1.set_ylabel("response  <E_vis / E_inc>")
    a2.set_ylabel("resolution  σ / <E>")
    a2.set_yscale("log")
    a1.set_title("energy response (Gaussian core)", fontsize=10)
    a2.set_title("energy resolution (Gaussian core)", fontsize=10)
    a1.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return save_figure(fig, out_dir, "response", formats=formats)


def plot_memorisation(
    heldout: NDArray[Any],
    candidates: Mapping[str, NDArray[Any]],
    threshold: float,
    out_dir: str | Path,
    *,
    formats: Sequence[str] = FORMATS,
) -> Path:
    """Distances to the nearest training shower: held-out full sim vs candidates."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.8))
    h = np.asarray(heldout)
    allv = np.concatenate([h, *[np.asarray(v) for v in candidates.values()]])
    top = float(np.percentile(allv, 99.5)) if len(allv) else 1.0
    edges = np.linspace(0.0, max(top, 1e-12), 60)
    ax.hist(np.clip(h, 0, top), bins=edges, density=True, color="0.8", label="held-out full sim")
    for k, (name, d) in enumerate(candidates.items()):
        ax.hist(
            np.clip(d, 0, top),
            bins=edges,
            density=True,
            histtype="step",
            color=COLOURS[k % len(COLOURS)],
            label=name,
        )
    ax.axvline(threshold, color="k", ls="--", lw=0.8, label="1st percentile of held-out")
    ax.set_xlabel("distance to nearest training shower (shapes E_voxel / E_vis)")
    ax.set_ylabel("density")
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return save_figure(fig, out_dir, "memorisation", formats=formats)


def plot_training_curves(
    records: Sequence[dict[str, float]],
    out_dir: str | Path,
    *,
    formats: Sequence[str] = FORMATS,
    name: str = "training_curves",
) -> Path:
    """Every numeric key of a JSON-lines training log against ``step`` (or the line number),
    one panel per key, log y where all values are positive; saved as ``name``."""
    plt = _pyplot()
    keys = sorted(
        {k for r in records for k, v in r.items() if isinstance(v, int | float) and k != "step"}
    )
    if not keys:
        raise ValueError("the training log has no numeric keys besides 'step'")
    ncol = min(3, len(keys))
    nrow = -(-len(keys) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4 * ncol, 3 * nrow), squeeze=False)
    for ax, key in zip(axes.ravel(), keys, strict=False):
        pts = [
            (r.get("step", i), r[key])
            for i, r in enumerate(records)
            if isinstance(r.get(key), int | float)
        ]
        x, y = np.asarray(pts, dtype=np.float64).T
        ax.plot(x, y, lw=1)
        if np.all(y > 0):
            ax.set_yscale("log")
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("step")
    for ax in axes.ravel()[len(keys) :]:
        ax.axis("off")
    fig.tight_layout()
    return save_figure(fig, out_dir, name, formats=formats)


def plot_learning_curve(
    curves: Mapping[str, Sequence[Mapping[str, Any]]],
    out_dir: str | Path,
    *,
    formats: Sequence[str] = FORMATS,
) -> Path:
    """Classifier AUC against the training showers per class (log x), one line per
    ``label -> learning-curve points`` (``n_train_per_class``, ``auc``, ``auc_stat_err``),
    with AUC 0.5 marked; saved as ``learning_curve``."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, points in curves.items():
        x = np.array([p["n_train_per_class"] for p in points], dtype=np.float64)
        y = np.array([p["auc"] for p in points], dtype=np.float64)
        err = np.array([p["auc_stat_err"] for p in points], dtype=np.float64)
        ax.errorbar(x, y, yerr=err, marker="o", ms=3, lw=1, capsize=2, label=label)
    ax.axhline(0.5, color="grey", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.set_xlabel("showers per class training the classifier")
    ax.set_ylabel("AUC (same test split)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, out_dir, "learning_curve", formats=formats)
