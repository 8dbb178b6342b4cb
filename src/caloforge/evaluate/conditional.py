"""Validation condition by condition: does a sample place, tilt and scale its showers as
its conditions say?

For samples whose conditions vary (incident energies, impact points, incidence angles,
several particles), each file is summarised once (:func:`conditional_summary`) into
per-shower quantities, and :func:`conditional_metrics` computes, with bins fixed from the
reference, for every sample side by side:

* **centre vs impact** (when the impact point or the angle moves the track): per readout
  layer, the energy-weighted centre (x and y pooled)
  against the particle's straight-line trajectory at the layer's depth (the impact point
  at normal incidence): least-squares slope (1 = the shower follows its particle) and
  residual RMS, mm; then each axis alone;
* **direction**: the shower axis from a principal-axis fit of the energy-weighted cell
  positions (:func:`caloforge.evaluate.observables.principal_axis`, as in the DESY
  angular studies) against the true theta and phi: per bin of the true angle, the mean
  reconstructed angle, the bias (mean of reconstructed - true) and the resolution (its
  standard deviation); phi only for showers with theta above :data:`PHI_MIN_THETA`;
* **per particle**: response and resolution of E_vis / E_inc per energy bin, from a
  Gaussian-core fit (:func:`caloforge.evaluate.observables.energy_response`) and as the
  plain mean and standard deviation over mean of every shower
  (:func:`caloforge.evaluate.observables.energy_moments`), the shower start (first layer
  above 1 % of the energy) and the layer-0 fraction, mean and standard deviation.

The floor is the same quantities on the two halves (even and odd rows) of the reference.

Example:
    >>> ref = conditional_summary(ShowerFile("g4.h5"))  # doctest: +SKIP
    >>> m = conditional_metrics(ref, {"flow": conditional_summary(ShowerFile("gen.h5"))})
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from caloforge.data import ShowerFile
from caloforge.data.conditions import PARTICLE_NAMES
from caloforge.evaluate.correlations import FLOOR_HALVES
from caloforge.evaluate.observables import (
    cell_geometry,
    energy_moments,
    energy_response,
    layer_centroids,
    layer_energies,
    principal_axis,
    shower_start,
)
from caloforge.geometry import Detector

Array = NDArray[np.float64]

PHI_MIN_THETA = math.radians(3.0)
"""Showers closer than this to normal incidence have no meaningful azimuth."""
SPREAD_MM = 1e-3
"""An impact coordinate varying by more than this (mm) counts as spread."""
SPREAD_RAD = 1e-4
"""A polar angle varying by more than this (rad) counts as spread."""
ANGLE_BINS = 4
ENERGY_BINS = 5


@dataclass(frozen=True)
class ConditionalSummary:
    """Per-shower quantities of a sample for the conditional validation.

    Attributes:
        energy: (N,) MeV. particle: (N,) PDG codes. theta, phi: (N,) true angles, rad.
        track_x, track_y: (N, n_layers) the trajectory at each readout layer's depth, mm.
        centre_x, centre_y: (N, n_layers) energy-weighted layer centres, mm.
        layer_hit: (N, n_layers) the layer holds energy.
        reco_theta, reco_phi: (N,) angles of the principal axis, rad.
        e_ratio: (N,) visible over incident energy. start: (N,) shower start layer.
        frac0: (N,) fraction of the visible energy in readout layer 0.
    """

    energy: Array
    particle: NDArray[np.int64]
    theta: Array
    phi: Array
    track_x: Array
    track_y: Array
    centre_x: Array
    centre_y: Array
    layer_hit: NDArray[np.bool_]
    reco_theta: Array
    reco_phi: Array
    e_ratio: Array
    start: Array
    frac0: Array

    def __len__(self) -> int:
        return len(self.energy)

    def select(self, rows: NDArray[np.int64] | slice) -> ConditionalSummary:
        return ConditionalSummary(**{k: v[rows] for k, v in vars(self).items()})

    @property
    def impact_spread(self) -> bool:
        x, y = self.track_x[:, 0], self.track_y[:, 0]
        return bool(np.ptp(x) > SPREAD_MM or np.ptp(y) > SPREAD_MM) if len(self) else False

    @property
    def angle_spread(self) -> bool:
        return bool(np.ptp(self.theta) > SPREAD_RAD) if len(self) else False

    @property
    def particles(self) -> list[int]:
        return sorted(int(p) for p in np.unique(self.particle))

    @property
    def energy_spread(self) -> bool:
        return bool(np.ptp(self.energy) > 0) if len(self) else False

    @property
    def spread(self) -> bool:
        """Whether any condition besides the energy varies."""
        return self.impact_spread or self.angle_spread or len(self.particles) > 1

    @property
    def varies(self) -> bool:
        """Whether any condition varies, the energy included."""
        return self.spread or self.energy_spread


def summarise_conditional(showers: NDArray[Any], cond: Any, det: Detector) -> ConditionalSummary:
    """:class:`ConditionalSummary` of showers (N, n_voxels) in memory and their conditions."""
    s = np.asarray(showers, dtype=np.float64)
    d = cond.direction
    z = cell_geometry(det).z[det.layer_offsets[:-1]]  # depth of each readout layer
    cx, cy = layer_centroids(s, det)
    e_layer = layer_energies(s, det)
    e_vis = e_layer.sum(axis=1)
    axis = principal_axis(s, det)
    frac0 = np.divide(e_layer[:, 0], e_vis, out=np.zeros(len(s)), where=e_vis > 0)
    return ConditionalSummary(
        energy=cond.energy.astype(np.float64),
        particle=cond.particle.astype(np.int64),
        theta=np.arccos(np.clip(d[:, 2], -1.0, 1.0)),
        phi=np.arctan2(d[:, 1], d[:, 0]),
        track_x=cond.impact[:, :1] + (d[:, :1] / d[:, 2:3]) * z[None, :],
        track_y=cond.impact[:, 1:2] + (d[:, 1:2] / d[:, 2:3]) * z[None, :],
        centre_x=cx,
        centre_y=cy,
        layer_hit=e_layer > 0,
        reco_theta=np.arccos(np.clip(axis[:, 2], -1.0, 1.0)),
        reco_phi=np.arctan2(axis[:, 1], axis[:, 0]),
        e_ratio=e_vis / cond.energy,
        start=shower_start(s, det),
        frac0=frac0,
    )


def conditional_summary(
    data: ShowerFile, *, max_showers: int | None = None, chunk_size: int = 10_000
) -> ConditionalSummary:
    """Stream a shower file in chunks into a :class:`ConditionalSummary`."""
    n = len(data) if max_showers is None else min(len(data), max_showers)
    parts = [
        summarise_conditional(
            data.showers(a, min(a + chunk_size, n)),
            data.conditions(a, min(a + chunk_size, n)),
            data.detector,
        )
        for a in range(0, n, chunk_size)
    ]
    return ConditionalSummary(
        **{k: np.concatenate([vars(p)[k] for p in parts]) for k in vars(parts[0])}
    )


# ---------------------------------------------------------------------------------------
# statistics of one sample
def _line_fit(t: Array, c: Array) -> tuple[float, float, float] | None:
    """Least-squares slope, intercept and residual RMS of ``c`` against ``t`` (``None``
    when ``t`` is not spread)."""
    if np.ptp(t) <= SPREAD_MM:
        return None
    slope, intercept = np.polyfit(t, c, 1)
    rms = np.sqrt(np.mean((c - (slope * t + intercept)) ** 2))
    return float(slope), float(intercept), float(rms)


def centre_vs_impact(s: ConditionalSummary) -> list[dict[str, float | int | None]]:
    """Per readout layer: slope, intercept and residual RMS (mm) of the layer centre
    against the trajectory at that depth, x and y pooled, then slope and residual RMS of
    each axis alone (``slope_x``, ``rms_x``, ``slope_y``, ``rms_y``); ``n`` showers with
    energy there."""
    rows: list[dict[str, float | int | None]] = []
    for layer in range(s.centre_x.shape[1]):
        hit = s.layer_hit[:, layer]
        tx, ty = s.track_x[hit, layer], s.track_y[hit, layer]
        cx, cy = s.centre_x[hit, layer], s.centre_y[hit, layer]
        enough = hit.sum() >= 3
        pooled = _line_fit(np.concatenate([tx, ty]), np.concatenate([cx, cy])) if enough else None
        slope, intercept, rms = pooled if pooled else (None, None, None)
        row: dict[str, float | int | None] = {
            "layer": layer,
            "n": int(hit.sum()),
            "slope": slope,
            "intercept": intercept,
            "rms": rms,
        }
        for axis, t, c in (("x", tx, cx), ("y", ty, cy)):
            fit = _line_fit(t, c) if enough else None
            row[f"slope_{axis}"], row[f"rms_{axis}"] = (fit[0], fit[2]) if fit else (None, None)
        rows.append(row)
    return rows


def _wrap(a: Array) -> Array:
    return (a + np.pi) % (2 * np.pi) - np.pi


def angle_bins(
    true: Array, reco: Array, edges: Array, *, periodic: bool = False
) -> list[dict[str, float | int | None]]:
    """Per bin of the true angle: n, true mean, reconstructed mean, bias and resolution
    (mean and standard deviation of reconstructed - true), rad."""
    idx = np.clip(np.searchsorted(edges, true, side="right") - 1, 0, len(edges) - 2)
    inside = (true >= edges[0]) & (true <= edges[-1])
    out: list[dict[str, float | int | None]] = []
    for b in range(len(edges) - 1):
        sel = inside & (idx == b)
        row: dict[str, float | int | None] = {
            "lo": float(edges[b]),
            "hi": float(edges[b + 1]),
            "n": int(sel.sum()),
        }
        if sel.sum() >= 2:
            delta = reco[sel] - true[sel]
            if periodic:
                delta = _wrap(delta)
            row |= {
                "true_mean": float(true[sel].mean()),
                "reco_mean": float((true[sel] + delta).mean()),
                "bias": float(delta.mean()),
                "resolution": float(delta.std(ddof=1)),
            }
        else:
            row |= {"true_mean": None, "reco_mean": None, "bias": None, "resolution": None}
        out.append(row)
    return out


def per_particle(s: ConditionalSummary, energy_edges: Array | None) -> dict[str, Any]:
    """Per PDG code: response and resolution per energy bin (``response``: Gaussian core;
    ``moments``: mean and standard deviation over mean of every shower), shower start and
    layer-0 fraction (mean, standard deviation)."""
    out: dict[str, Any] = {}
    for pdg in s.particles:
        sel = s.particle == pdg
        response = energy_response(s.energy[sel], s.e_ratio[sel], bins=energy_edges)
        out[PARTICLE_NAMES.get(pdg, str(pdg))] = {
            "pdg": pdg,
            "n": int(sel.sum()),
            "response": {
                k: v
                for k, v in response.to_dict().items()
                if k
                in (
                    "energy",
                    "energy_lo",
                    "energy_hi",
                    "n",
                    "mean",
                    "mean_err",
                    "resolution",
                    "resolution_err",
                )
            },
            "moments": energy_moments(s.energy[sel], s.e_ratio[sel], bins=energy_edges),
            "start_mean": float(s.start[sel].mean()),
            "start_std": float(s.start[sel].std()),
            "frac0_mean": float(s.frac0[sel].mean()),
            "frac0_std": float(s.frac0[sel].std()),
        }
    return out


@dataclass(frozen=True)
class _Bins:
    theta: Array | None
    phi: Array | None
    energy: Array | None
    track: bool = True  # the impact point or the angle moves the track: centre vs impact


def _bins(ref: ConditionalSummary) -> _Bins:
    theta = phi = None
    if ref.angle_spread:
        theta = np.linspace(ref.theta.min(), ref.theta.max(), ANGLE_BINS + 1)
        phi = np.linspace(-np.pi, np.pi, ANGLE_BINS + 1)
    energy = None  # energy_response: one bin per discrete energy
    if len(np.unique(ref.energy)) > 20:
        energy = np.geomspace(ref.energy.min(), ref.energy.max() * (1 + 1e-9), ENERGY_BINS + 1)
    return _Bins(theta, phi, energy, ref.impact_spread or ref.angle_spread)


def sample_statistics(s: ConditionalSummary, bins: _Bins) -> dict[str, Any]:
    """Every conditional statistic of one sample, in the reference's bins."""
    out: dict[str, Any] = {"n": len(s)}
    if bins.theta is not None and bins.phi is not None:
        tilted = s.theta > PHI_MIN_THETA
        out["direction"] = {
            "theta": angle_bins(s.theta, s.reco_theta, bins.theta),
            "phi": angle_bins(s.phi[tilted], s.reco_phi[tilted], bins.phi, periodic=True),
        }
    if bins.track:
        out["centre_vs_impact"] = centre_vs_impact(s)
    out["per_particle"] = per_particle(s, bins.energy)
    return out


def conditional_metrics(
    reference: ConditionalSummary, candidates: Mapping[str, ConditionalSummary]
) -> dict[str, Any] | None:
    """The conditional validation of candidates against a reference (``None`` when none
    of the reference's conditions varies): the statistics of each sample, side by side,
    in bins fixed from the reference, and those of the reference's even and odd rows
    (the floor)."""
    if not reference.varies:
        return None
    bins = _bins(reference)
    samples = {"reference": sample_statistics(reference, bins)}
    for name, s in candidates.items():
        samples[name] = sample_statistics(s, bins)
    floor = {
        half: sample_statistics(reference.select(slice(k, None, 2)), bins)
        for k, half in enumerate(FLOOR_HALVES)
    }
    return {
        "spread": {
            "energy": reference.energy_spread,
            "impact": reference.impact_spread,
            "angles": reference.angle_spread,
            "particles": [PARTICLE_NAMES.get(p, str(p)) for p in reference.particles],
        },
        "bins": {
            "theta_rad": None if bins.theta is None else bins.theta.tolist(),
            "phi_rad": None if bins.phi is None else bins.phi.tolist(),
            "energy_mev": None if bins.energy is None else bins.energy.tolist(),
            "phi_min_theta_rad": PHI_MIN_THETA,
        },
        "samples": samples,
        "floor": floor,
    }


def evaluate_conditional(
    reference: ShowerFile,
    candidates: Mapping[str, ShowerFile],
    *,
    max_showers: int | None = None,
    chunk_size: int = 10_000,
) -> dict[str, Any] | None:
    """:func:`conditional_metrics` of shower files; the candidates are read only when one
    of the reference's conditions varies."""
    kw = {"max_showers": max_showers, "chunk_size": chunk_size}
    ref = conditional_summary(reference, **kw)  # type: ignore[arg-type]
    if not ref.varies:
        return None
    cands = {k: conditional_summary(d, **kw) for k, d in candidates.items()}  # type: ignore[arg-type]
    return conditional_metrics(ref, cands)


# ---------------------------------------------------------------------------------------
# the report section
def plot_conditional(
    section: dict[str, Any] | None, out_dir: str | Path, *, formats: Sequence[str] = ("png",)
) -> dict[str, Path]:
    """Figures of :func:`conditional_metrics` (title -> PNG path): centre slope and
    residual RMS per layer; principal-axis bias and resolution per theta / phi bin;
    response and resolution per particle and energy bin. Empty when not computed."""
    if not section:
        return {}
    from caloforge.evaluate.plots import _pyplot, save_figure

    plt = _pyplot()
    samples = {**section["samples"], **section["floor"]}
    style = {k: ("k", "o") if k == "reference" else (None, "s") for k in samples}
    images: dict[str, Path] = {}

    if "centre_vs_impact" in section["samples"]["reference"]:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        for name, st in samples.items():
            rows = [r for r in st["centre_vs_impact"] if r["slope"] is not None]
            layers = [r["layer"] for r in rows]
            for ax, key in zip(axes, ("slope", "rms"), strict=True):
                ax.plot(
                    layers,
                    [r[key] for r in rows],
                    marker=style[name][1],
                    color=style[name][0],
                    label=name,
                    alpha=0.8,
                )
        axes[0].set(xlabel="readout layer", ylabel="layer centre vs impact: slope")
        axes[1].set(xlabel="readout layer", ylabel="residual RMS [mm]")
        axes[0].legend(fontsize=7)
        fig.tight_layout()
        images["condition by condition: centre vs impact"] = save_figure(
            fig, out_dir, "conditional_centre", formats=formats
        )

    if "direction" in section["samples"]["reference"]:
        fig, axes = plt.subplots(2, 2, figsize=(11, 7))
        for col, angle in enumerate(("theta", "phi")):
            for name, st in samples.items():
                bins = [b for b in st["direction"][angle] if b["bias"] is not None]
                x = [math.degrees((b["lo"] + b["hi"]) / 2) for b in bins]
                for row, key in enumerate(("bias", "resolution")):
                    axes[row, col].plot(
                        x,
                        [math.degrees(b[key]) for b in bins],
                        marker=style[name][1],
                        color=style[name][0],
                        label=name,
                        alpha=0.8,
                    )
            axes[0, col].set(ylabel=f"principal axis {angle} bias [deg]")
            axes[1, col].set(xlabel=f"true {angle} [deg]", ylabel=f"{angle} resolution [deg]")
        axes[0, 0].legend(fontsize=7)
        fig.tight_layout()
        images["condition by condition: shower direction"] = save_figure(
            fig, out_dir, "conditional_direction", formats=formats
        )

    particles = list(section["samples"]["reference"]["per_particle"])
    fig, axes = plt.subplots(2, len(particles), figsize=(5 * len(particles), 7), squeeze=False)
    for col, particle in enumerate(particles):
        for name, st in samples.items():
            r = st["per_particle"].get(particle, {}).get("response")
            if r is None:
                continue
            for row, key in enumerate(("mean", "resolution")):
                axes[row, col].plot(
                    np.asarray(r["energy"]) / 1e3,
                    r[key],
                    marker=style[name][1],
                    color=style[name][0],
                    label=name,
                    alpha=0.8,
                )
                axes[row, col].set_xscale("log")
        axes[0, col].set(title=particle, ylabel="response E_vis / E")
        axes[1, col].set(xlabel="E [GeV]", ylabel="resolution")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    images["condition by condition: response per particle"] = save_figure(
        fig, out_dir, "conditional_response", formats=formats
    )
    return images


def _num(x: Any, fmt: str = ".3f") -> str:
    return "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, fmt)


def conditional_html(section: dict[str, Any] | None) -> str:
    """HTML tables of :func:`conditional_metrics` (empty when it was not computed)."""
    if not section:
        return ""
    names = [*section["samples"], *section["floor"]]
    stats = {**section["samples"], **section["floor"]}
    head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
    parts = [
        "<h2>Condition by condition</h2><p class='note'>Conditions spread in the reference: "
        f"energy {section['spread'].get('energy', '–')}, "
        f"impact {section['spread']['impact']}, angles {section['spread']['angles']}, "
        f"particles {html.escape(', '.join(section['spread']['particles']))}. "
        "Floor: the reference's even and odd rows.</p>"
    ]
    if "centre_vs_impact" in stats["reference"]:
        rows = []
        for layer, _ in enumerate(stats["reference"]["centre_vs_impact"]):
            cells = (
                f"{_num(st['centre_vs_impact'][layer]['slope'])} / "
                f"{_num(st['centre_vs_impact'][layer]['rms'], '.2f')}"
                for st in stats.values()
            )
            rows.append(_row(f"layer {layer}", cells))
        parts.append(
            _table("Layer centre vs impact point: slope / residual RMS (mm)", "layer", head, rows)
        )
    if "direction" in stats["reference"]:
        for angle in ("theta", "phi"):
            rows = []
            for b, ref_bin in enumerate(stats["reference"]["direction"][angle]):
                cells = (
                    f"{_num(_deg(st['direction'][angle][b]['bias']), '.2f')} / "
                    f"{_num(_deg(st['direction'][angle][b]['resolution']), '.2f')}"
                    for st in stats.values()
                )
                label = f"{math.degrees(ref_bin['lo']):.1f}–{math.degrees(ref_bin['hi']):.1f}°"
                rows.append(_row(label, cells))
            title = f"Principal-axis {angle}: bias / resolution (degrees) per true-{angle} bin"
            parts.append(_table(title, angle, head, rows))
    rows = []
    for particle, ref_p in stats["reference"]["per_particle"].items():
        for b, energy in enumerate(ref_p["response"]["energy"]):
            cells = (_response_cell(st, particle, b) for st in stats.values())
            rows.append(_row(f"{html.escape(particle)} {energy / 1e3:.3g} GeV", cells))
        cells = (
            f"start {_num(_get(st, particle, 'start_mean'), '.2f')}, layer-0 "
            f"{_num(_get(st, particle, 'frac0_mean'), '.3f')}"
            for st in stats.values()
        )
        rows.append(_row(f"{html.escape(particle)} shower start, layer-0 fraction", cells))
    parts.append(
        _table(
            "Per particle: response / resolution per energy bin (Gaussian core)",
            "particle, energy",
            head,
            rows,
        )
    )
    rows = []
    for particle, ref_p in stats["reference"]["per_particle"].items():
        if "moments" not in ref_p:  # a report made before the moments
            continue
        for b, lo in enumerate(ref_p["moments"]["energy_lo"]):
            cells = (_response_cell(st, particle, b, "moments") for st in stats.values())
            hi = ref_p["moments"]["energy_hi"][b]
            rows.append(_row(f"{html.escape(particle)} {lo / 1e3:.3g}–{hi / 1e3:.3g} GeV", cells))
    if rows:
        title = "Per particle: mean E_vis / E_inc / standard deviation over mean, every shower"
        parts.append(_table(title, "particle, energy", head, rows))
    return "\n".join(parts)


def _deg(x: float | None) -> float | None:
    return None if x is None else math.degrees(x)


def _get(st: dict[str, Any], particle: str, key: str) -> Any:
    return st["per_particle"].get(particle, {}).get(key)


def _response_cell(st: dict[str, Any], particle: str, b: int, key: str = "response") -> str:
    r = st["per_particle"].get(particle, {}).get(key)
    if r is None or b >= len(r["mean"]):
        return "–"
    return f"{_num(r['mean'][b], '.4f')} / {_num(r['resolution'][b], '.4f')}"


def _row(label: str, cells: Iterable[str]) -> str:
    """A table row: ``label``, then one cell per sample."""
    return f"<tr><td>{label}</td>{''.join(f'<td>{c}</td>' for c in cells)}</tr>"


def _table(title: str, first: str, head: str, rows: list[str]) -> str:
    """A titled table: the header ``first`` then ``head`` (a cell per sample), ``rows``."""
    return f"<h3>{title}</h3><table><tr><th>{first}</th>{head}</tr>{''.join(rows)}</table>"


__all__ = [
    "PHI_MIN_THETA",
    "ConditionalSummary",
    "angle_bins",
    "centre_vs_impact",
    "conditional_html",
    "conditional_metrics",
    "conditional_summary",
    "evaluate_conditional",
    "per_particle",
    "plot_conditional",
    "sample_statistics",
    "summarise_conditional",
]
