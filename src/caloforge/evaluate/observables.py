"""Physics observables of calorimeter showers: arrays in, arrays out, for any segmentation.

Every function takes ``showers`` of shape (N, n_voxels) in MeV (the detector's voxel
order) and returns per-shower arrays. Cell positions are the cell centres of each readout
layer's segmentation (Cartesian and hexagonal: x/y in the detector frame; cylindrical:
mid radius / mid angle converted to x/y relative to the particle axis). Quantities that
are undefined for a shower (a layer without energy) are 0, so that every output is finite.

:func:`summarise` streams a :class:`~caloforge.data.ShowerFile` in chunks and keeps only
per-shower high-level observables and per-cell sums in memory, so that files larger than
memory can be evaluated.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from caloforge.data import Conditions, ShowerFile
from caloforge.geometry import CylindricalSegmentation, Detector

log = logging.getLogger(__name__)

Array = NDArray[np.float64]

SPECTRUM_EDGES = np.logspace(-6, 6, 481)
"""Fixed fine log grid (MeV) on which cell-energy spectra are accumulated; plots and metrics
rebin it to the range the reference covers."""


# ---------------------------------------------------------------------------------------
# geometry helpers
@dataclass(frozen=True)
class CellGeometry:
    """Per-voxel positions of a detector (derived once, cached per detector).

    Attributes:
        x, y: (n_voxels,) cell centres, mm (cylindrical: relative to the particle axis).
        z: (n_voxels,) depth of the centre of the voxel's readout layer's active gaps, mm.
        radius: (n_voxels,) mid radius of cylindrical cells, NaN for other cells.
        cylindrical: (n_voxels,) True for voxels of cylindrical layers.
        offsets: (n_layers + 1,) start of each layer in the voxel vector.
    """

    x: Array
    y: Array
    z: Array
    radius: Array
    cylindrical: NDArray[np.bool_]
    offsets: NDArray[np.int64]


def _layer_z(det: Detector) -> Array:
    gaps = det.layer_z[:, 1] + np.array([la.active_thickness for la in det.layers]) / 2
    return np.array([gaps[r.first : r.last + 1].mean() for r in det.readout])


@lru_cache(maxsize=32)
def cell_geometry(det: Detector) -> CellGeometry:
    """Cell centres and layer depths of every voxel of ``det``."""
    xs, ys, rs, cyl = [], [], [], []
    for r in det.readout:
        seg = r.segmentation
        c = seg.cell_centres()
        xs.append(c[:, 0])
        ys.append(c[:, 1])
        is_cyl = isinstance(seg, CylindricalSegmentation)
        rs.append(seg.cell_radii() if is_cyl else np.full(seg.n_cells, np.nan))  # type: ignore[union-attr]
        cyl.append(np.full(seg.n_cells, is_cyl))
    z = _layer_z(det)[det.voxel_layer]
    return CellGeometry(
        np.concatenate(xs),
        np.concatenate(ys),
        z,
        np.concatenate(rs),
        np.concatenate(cyl),
        det.layer_offsets.copy(),
    )


def _check(showers: NDArray[Any], det: Detector) -> Array:
    s = np.asarray(showers, dtype=np.float64)
    if s.ndim != 2 or s.shape[1] != det.n_voxels:
        raise ValueError(
            f"showers of shape {s.shape} do not match detector {det.name!r} ({det.n_voxels} voxels)"
        )
    return s


def _per_layer(values: Array, det: Detector) -> Array:
    """Sum (N, n_voxels) over each readout layer -> (N, n_layers)."""
    return np.add.reduceat(values, det.layer_offsets[:-1], axis=1)


def _safe_div(a: Array, b: Array) -> Array:
    out = np.zeros(np.broadcast(a, b).shape)
    np.divide(a, b, out=out, where=b > 0)
    return out


# ---------------------------------------------------------------------------------------
# energies
def total_energy(showers: NDArray[Any]) -> Array:
    """Total visible energy per shower, MeV, (N,)."""
    return np.asarray(showers, dtype=np.float64).sum(axis=1)


def energy_ratio(showers: NDArray[Any], incident_energy: NDArray[Any]) -> Array:
    """Visible over incident energy per shower, (N,)."""
    return total_energy(showers) / np.asarray(incident_energy, dtype=np.float64).reshape(-1)


def layer_energies(showers: NDArray[Any], det: Detector) -> Array:
    """Energy per readout layer, MeV, (N, n_layers)."""
    return _per_layer(_check(showers, det), det)


def layer_fractions(showers: NDArray[Any], det: Detector) -> Array:
    """Fraction of the visible energy in each readout layer, (N, n_layers); 0 for empty showers."""
    e = layer_energies(showers, det)
    return _safe_div(e, e.sum(axis=1, keepdims=True))


# ---------------------------------------------------------------------------------------
# transverse shape
def layer_centroids(showers: NDArray[Any], det: Detector) -> tuple[Array, Array]:
    """Energy-weighted centre (x, y) of each readout layer, mm: two (N, n_layers) arrays."""
    s = _check(showers, det)
    g = cell_geometry(det)
    e = _per_layer(s, det)
    return _safe_div(_per_layer(s * g.x, det), e), _safe_div(_per_layer(s * g.y, det), e)


def layer_widths(showers: NDArray[Any], det: Detector) -> tuple[Array, Array]:
    """Energy-weighted standard deviation (x, y) of each readout layer, mm: two (N, n_layers)."""
    s = _check(showers, det)
    g = cell_geometry(det)
    e = _per_layer(s, det)
    out = []
    for pos in (g.x, g.y):
        m1 = _safe_div(_per_layer(s * pos, det), e)
        m2 = _safe_div(_per_layer(s * pos**2, det), e)
        out.append(np.sqrt(np.clip(m2 - m1**2, 0.0, None)))
    return out[0], out[1]


def transverse_radius(showers: NDArray[Any], det: Detector) -> Array:
    """Transverse distance of each cell from the shower axis, mm, (N, n_voxels).

    Cylindrical layers: the cell's mid radius (the mesh is centred on the particle axis).
    Other layers: distance of the cell centre from the layer's energy centroid.
    """
    s = _check(showers, det)
    g = cell_geometry(det)
    cx, cy = layer_centroids(s, det)
    dx = g.x[None] - cx[:, det.voxel_layer]
    dy = g.y[None] - cy[:, det.voxel_layer]
    r = np.hypot(dx, dy)
    return np.where(g.cylindrical[None], g.radius[None], r)


def radial_bins(det: Detector) -> Array:
    """Default radial-profile bin edges, mm: the shared radial edges of an all-cylindrical
    detector, otherwise fractions of the Moliere radius up to the detector's half-diagonal."""
    segs = [r.segmentation for r in det.readout]
    if all(isinstance(s, CylindricalSegmentation) for s in segs):
        shared = {tuple(s.r_edges) for s in segs}  # type: ignore[union-attr]
        if len(shared) == 1:
            return np.asarray(shared.pop(), dtype=np.float64)
    rm = det.moliere_radius
    r_max = max(float(np.hypot(*s.extent)) for s in segs)
    edges = rm * np.array([0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0])
    return np.append(edges[edges < r_max], r_max)


def radial_profile(
    showers: NDArray[Any], det: Detector, edges: NDArray[Any] | None = None
) -> Array:
    """Energy per bin of transverse radius (see :func:`transverse_radius`), MeV, (N, n_bins).

    Cells beyond the last edge go into the last bin.
    """
    s = _check(showers, det)
    edges = radial_bins(det) if edges is None else np.asarray(edges, dtype=np.float64)
    nb = len(edges) - 1
    idx = np.clip(np.searchsorted(edges, transverse_radius(s, det), side="right") - 1, 0, nb - 1)
    flat = (np.arange(len(s))[:, None] * nb + idx).ravel()
    out = np.bincount(flat, weights=s.ravel(), minlength=len(s) * nb)
    return np.asarray(out, dtype=np.float64).reshape(len(s), nb)


def radial_width(showers: NDArray[Any], det: Detector) -> Array:
    """Energy-weighted mean transverse radius over all cells, mm, (N,)."""
    s = _check(showers, det)
    return _safe_div((s * transverse_radius(s, det)).sum(axis=1), s.sum(axis=1))


# ---------------------------------------------------------------------------------------
# longitudinal shape
def shower_depth(showers: NDArray[Any], det: Detector, *, unit: str = "layer") -> Array:
    """Energy-weighted mean depth, (N,): in readout-layer index (``unit="layer"``) or in
    radiation lengths at the centre of each readout layer (``unit="x0"``)."""
    if unit not in ("layer", "x0"):
        raise ValueError(f"unit must be 'layer' or 'x0', not {unit!r}")
    e = layer_energies(showers, det)
    depth = np.arange(det.n_layers, dtype=np.float64) if unit == "layer" else det.readout_depth_x0
    return _safe_div(e @ depth, e.sum(axis=1))


def shower_depth_width(showers: NDArray[Any], det: Detector, *, unit: str = "layer") -> Array:
    """Energy-weighted standard deviation of the depth (second moment), (N,)."""
    e = layer_energies(showers, det)
    depth = np.arange(det.n_layers, dtype=np.float64) if unit == "layer" else det.readout_depth_x0
    tot = e.sum(axis=1)
    m1 = _safe_div(e @ depth, tot)
    m2 = _safe_div(e @ depth**2, tot)
    return np.sqrt(np.clip(m2 - m1**2, 0.0, None))


def shower_start(showers: NDArray[Any], det: Detector, *, fraction: float = 0.01) -> Array:
    """First readout layer holding more than ``fraction`` of the shower's energy, (N,);
    -1 for empty showers."""
    f = layer_fractions(showers, det)
    above = f > fraction
    return np.where(above.any(axis=1), np.argmax(above, axis=1), -1).astype(np.float64)


# ---------------------------------------------------------------------------------------
# sparsity and cells
def n_hits(showers: NDArray[Any], threshold: float = 0.0) -> Array:
    """Number of cells with energy above ``threshold`` MeV, (N,)."""
    return (np.asarray(showers) > threshold).sum(axis=1).astype(np.float64)


def n_hits_per_layer(showers: NDArray[Any], det: Detector, threshold: float = 0.0) -> Array:
    """Number of cells above ``threshold`` MeV in each readout layer, (N, n_layers)."""
    return _per_layer((_check(showers, det) > threshold).astype(np.float64), det)


def cell_spectrum(
    showers: NDArray[Any],
    threshold: float = 0.0,
    edges: NDArray[Any] = SPECTRUM_EDGES,
) -> NDArray[np.int64]:
    """Histogram of the energies of cells above ``threshold`` MeV on log ``edges``."""
    v = np.asarray(showers).ravel()
    return np.histogram(v[v > threshold], bins=edges)[0].astype(np.int64)


def cell_mean_std(showers: NDArray[Any]) -> tuple[Array, Array]:
    """Per-cell mean and standard deviation over the sample, MeV, two (n_voxels,) arrays."""
    s = np.asarray(showers, dtype=np.float64)
    return s.mean(axis=0), s.std(axis=0)


# ---------------------------------------------------------------------------------------
# direction
def principal_axis(showers: NDArray[Any], det: Detector) -> Array:
    """Shower axis from a principal-component fit of the energy-weighted cell positions.

    The axis is the eigenvector of the largest eigenvalue of the energy-weighted covariance
    of (x, y, z) (z: depth of the readout layer's centre), oriented along +z.

    Returns:
        (N, 3) unit vectors; (0, 0, 1) for showers with fewer than two layers hit.
    """
    s = _check(showers, det)
    g = cell_geometry(det)
    pos = np.stack([g.x, g.y, g.z], axis=1)
    w = _safe_div(s, s.sum(axis=1, keepdims=True))
    mean = w @ pos
    cov = np.einsum("nv,vi,vj->nij", w, pos, pos) - mean[:, :, None] * mean[:, None, :]
    _, vecs = np.linalg.eigh(cov)
    axis = vecs[:, :, -1]
    axis *= np.where(axis[:, 2:3] < 0, -1.0, 1.0)
    degenerate = (s > 0).astype(np.float64) @ np.eye(det.n_layers)[det.voxel_layer]
    flat = (degenerate > 0).sum(axis=1) < 2
    axis[flat] = (0.0, 0.0, 1.0)
    return axis


def incidence_angle(showers: NDArray[Any], det: Detector) -> Array:
    """Polar angle of the principal axis with respect to +z, rad, (N,)."""
    return np.arccos(np.clip(principal_axis(showers, det)[:, 2], -1.0, 1.0))


def angle_to_direction(showers: NDArray[Any], det: Detector, direction: NDArray[Any]) -> Array:
    """Angle between the reconstructed principal axis and the true incidence direction, rad."""
    d = np.asarray(direction, dtype=np.float64)
    d = d / np.linalg.norm(d, axis=1, keepdims=True)
    return np.arccos(np.clip(np.abs((principal_axis(showers, det) * d).sum(axis=1)), -1.0, 1.0))


# ---------------------------------------------------------------------------------------
# the vector of high-level observables
def high_level_observables(
    showers: NDArray[Any],
    incident_energy: NDArray[Any],
    det: Detector,
    *,
    threshold: float = 0.0,
) -> dict[str, Array]:
    """Named high-level observables per shower: each value is an (N,) array.

    This is the vector used by the Fréchet/kernel physics distances and by the
    high-level two-sample classifier. Per-layer names end in ``_<layer>``.

    Arguments:
        showers: (N, n_voxels) MeV.
        incident_energy: (N,) MeV.
        det: the detector of the showers.
        threshold: hit threshold in MeV for the hit counts.
    """
    s = _check(showers, det)
    e_inc = np.asarray(incident_energy, dtype=np.float64).reshape(-1)
    if len(e_inc) != len(s):
        raise ValueError(f"{len(e_inc)} incident energies for {len(s)} showers")
    e_layer = _per_layer(s, det)
    e_vis = e_layer.sum(axis=1)
    frac = _safe_div(e_layer, e_vis[:, None])
    cx, cy = layer_centroids(s, det)
    wx, wy = layer_widths(s, det)
    hits = n_hits_per_layer(s, det, threshold)
    out: dict[str, Array] = {
        "e_vis": e_vis,
        "e_ratio": e_vis / e_inc,
        "depth": shower_depth(s, det),
        "depth_x0": shower_depth(s, det, unit="x0"),
        "depth_width": shower_depth_width(s, det),
        "start_layer": shower_start(s, det),
        "n_hits": hits.sum(axis=1),
        "radial_width": radial_width(s, det),
        "pca_angle": incidence_angle(s, det),
    }
    for i in range(det.n_layers):
        out[f"frac_{i}"] = frac[:, i]
        out[f"cx_{i}"] = cx[:, i]
        out[f"cy_{i}"] = cy[:, i]
        out[f"wx_{i}"] = wx[:, i]
        out[f"wy_{i}"] = wy[:, i]
        out[f"n_hits_{i}"] = hits[:, i]
    return out


# ---------------------------------------------------------------------------------------
# energy response and resolution
@dataclass(frozen=True)
class Response:
    """Energy response (mean of E_vis/E_inc) and resolution (sigma/mean) per energy bin.

    Every attribute is an array over bins; ``*_err`` are one-sigma errors. ``method`` says
    per bin whether the Gaussian-core fit converged (``"fit"``) or moments were used.
    """

    energy: Array
    energy_lo: Array
    energy_hi: Array
    n: NDArray[np.int64]
    mean: Array
    mean_err: Array
    sigma: Array
    sigma_err: Array
    resolution: Array
    resolution_err: Array
    method: tuple[str, ...]

    def to_dict(self) -> dict[str, list[float] | list[str] | list[int]]:
        return {
            k: (list(v) if isinstance(v, tuple) else np.asarray(v).tolist())
            for k, v in vars(self).items()
        }


def gaussian_core(
    values: NDArray[Any], *, n_sigma: float = 2.0
) -> tuple[float, float, float, float, str]:
    """Fit a Gaussian to the core (within ``n_sigma`` of an iteratively clipped mean).

    Returns:
        (mean, mean_err, sigma, sigma_err, method): ``method`` is ``"fit"`` for a
        converged least-squares fit of the binned core, ``"moments"`` for the clipped
        moments (fewer than 50 values or a failed fit).
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    n = len(v)
    if n == 0:
        return float("nan"), float("nan"), float("nan"), float("nan"), "empty"
    mu, sd = float(np.median(v)), float(v.std())
    for _ in range(5):
        core = v[np.abs(v - mu) <= n_sigma * sd] if sd > 0 else v
        if len(core) < 2:
            break
        mu, sd = float(core.mean()), float(core.std())
    moments = (mu, sd / np.sqrt(max(n, 1)), sd, sd / np.sqrt(max(2 * (n - 1), 1)), "moments")
    if n < 50 or sd <= 0:
        return moments
    from scipy.optimize import curve_fit

    lo, hi = mu - n_sigma * sd, mu + n_sigma * sd
    counts, edges = np.histogram(v, bins=max(10, min(40, int(np.sqrt(n)))), range=(lo, hi))
    centres = 0.5 * (edges[1:] + edges[:-1])

    def gauss(x: Array, a: float, m: float, s: float) -> Array:
        return a * np.exp(-0.5 * ((x - m) / s) ** 2)

    try:
        p, cov = curve_fit(
            gauss,
            centres,
            counts,
            p0=(counts.max(), mu, sd),
            sigma=np.sqrt(np.maximum(counts, 1.0)),
            absolute_sigma=True,
            maxfev=2000,
        )
    except (RuntimeError, ValueError):
        return moments
    err = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    if not np.all(np.isfinite(err)) or abs(p[2]) <= 0 or abs(p[1] - mu) > 3 * sd:
        return moments
    return float(p[1]), float(err[1]), float(abs(p[2])), float(err[2]), "fit"


def _energy_groups(
    e: Array, bins: NDArray[Any] | int | None
) -> list[tuple[float, float, NDArray[np.bool_]]]:
    """(lo, hi, rows) per energy bin: ``bins`` as in :func:`energy_response`."""
    uniq = np.unique(e)
    if bins is None and len(uniq) <= 20:
        return [(float(u), float(u), e == u) for u in uniq]
    if bins is None or isinstance(bins, int):
        nb = 8 if bins is None else int(bins)
        edges = np.geomspace(e.min(), e.max() * (1 + 1e-9), nb + 1)
    else:
        edges = np.asarray(bins, dtype=np.float64)
    idx = np.searchsorted(edges, e, side="right") - 1
    return [(float(edges[i]), float(edges[i + 1]), idx == i) for i in range(len(edges) - 1)]


def energy_moments(
    incident_energy: NDArray[Any],
    ratio: NDArray[Any],
    bins: NDArray[Any] | int | None = None,
) -> dict[str, list[float] | list[int]]:
    """Plain mean of E_vis/E_inc and its relative spread (standard deviation / mean) per
    energy bin (the bins of :func:`energy_response`), every shower counted: the response
    of showers whose distribution is no Gaussian (hadrons, most of whose energy may leave
    the calorimeter), where a Gaussian-core fit picks one of several peaks.

    Returns:
        ``energy_lo``, ``energy_hi``, ``n``, ``mean``, ``mean_err`` (standard error),
        ``std``, ``resolution`` per bin (NaN for an empty bin, and the spread of one
        shower).
    """
    e = np.asarray(incident_energy, dtype=np.float64).reshape(-1)
    r = np.asarray(ratio, dtype=np.float64).reshape(-1)
    out: dict[str, list[Any]] = {
        k: [] for k in ("energy_lo", "energy_hi", "n", "mean", "mean_err", "std", "resolution")
    }
    for lo, hi, sel in _energy_groups(e, bins):
        v = r[sel]
        n = len(v)
        mean = float(v.mean()) if n else math.nan
        std = float(v.std(ddof=1)) if n > 1 else math.nan
        out["energy_lo"].append(lo)
        out["energy_hi"].append(hi)
        out["n"].append(n)
        out["mean"].append(mean)
        out["mean_err"].append(std / math.sqrt(n) if n > 1 else math.nan)
        out["std"].append(std)
        out["resolution"].append(std / mean if n > 1 and mean else math.nan)
    return out


def energy_response(
    incident_energy: NDArray[Any],
    ratio: NDArray[Any],
    bins: NDArray[Any] | int | None = None,
) -> Response:
    """Response and resolution of E_vis/E_inc versus incident energy.

    Arguments:
        incident_energy: (N,) MeV.
        ratio: (N,) visible over incident energy.
        bins: edges (MeV), a number of log-spaced bins, or ``None``: one bin per discrete
            energy when the sample has at most 20 distinct energies, else 8 log bins.
    """
    e = np.asarray(incident_energy, dtype=np.float64).reshape(-1)
    r = np.asarray(ratio, dtype=np.float64).reshape(-1)
    rows = []
    for lo, hi, sel in _energy_groups(e, bins):
        m, me, s, se, how = gaussian_core(r[sel])
        centre = float(np.sqrt(lo * hi)) if sel.sum() == 0 else float(np.exp(np.log(e[sel]).mean()))
        res = s / m if m else float("nan")
        res_err = res * np.hypot(se / s if s else 0.0, me / m if m else 0.0)
        rows.append((centre, lo, hi, int(sel.sum()), m, me, s, se, res, res_err, how))
    cols: list[Any] = list(zip(*rows, strict=True)) if rows else [()] * 11
    f = [np.asarray(c, dtype=np.float64) for c in cols[:10]]
    return Response(
        f[0],
        f[1],
        f[2],
        np.asarray(cols[3], dtype=np.int64),
        f[4],
        f[5],
        f[6],
        f[7],
        f[8],
        f[9],
        tuple(cols[10]),
    )


# ---------------------------------------------------------------------------------------
# streaming summary of a file
@dataclass(frozen=True)
class SampleSummary:
    """What the evaluation keeps of a (possibly larger than memory) sample.

    Attributes:
        n: number of showers.
        energy: (n,) incident energies, MeV.
        features: high-level observables, name -> (n,) array.
        cell_mean, cell_std: (n_voxels,) per-cell mean and standard deviation, MeV.
        spectrum: (2, len(SPECTRUM_EDGES) - 1) cell-energy counts above the threshold, for
            even and odd rows separately (their sum is the whole sample's spectrum).
        radial_mean: (n_bins,) mean energy per radial bin (edges ``radial_edges``), MeV.
        radial_edges: radial bin edges, mm.
        direction_angle: (n,) angle between the principal axis and the true direction, rad.
    """

    n: int
    energy: Array
    features: dict[str, Array]
    cell_mean: Array
    cell_std: Array
    spectrum: NDArray[np.int64]
    radial_mean: Array
    radial_edges: Array
    direction_angle: Array

    def select(self, index: NDArray[np.int64]) -> SampleSummary:
        """Per-shower parts restricted to ``index`` (per-cell sums are kept as they are)."""
        return SampleSummary(
            len(index),
            self.energy[index],
            {k: v[index] for k, v in self.features.items()},
            self.cell_mean,
            self.cell_std,
            self.spectrum,
            self.radial_mean,
            self.radial_edges,
            self.direction_angle[index],
        )


def summarise_arrays(
    showers: NDArray[Any], cond: Conditions, det: Detector, *, threshold: float = 0.0
) -> SampleSummary:
    """:class:`SampleSummary` of showers already in memory."""
    s = _check(showers, det)
    edges = radial_bins(det)
    spec = np.stack([cell_spectrum(s[0::2], threshold), cell_spectrum(s[1::2], threshold)])
    mean, std = cell_mean_std(s)
    return SampleSummary(
        len(s),
        cond.energy.astype(np.float64),
        high_level_observables(s, cond.energy, det, threshold=threshold),
        mean,
        std,
        spec,
        radial_profile(s, det, edges).mean(axis=0),
        edges,
        angle_to_direction(s, det, cond.direction),
    )


def summarise(
    data: ShowerFile,
    *,
    threshold: float = 0.0,
    max_showers: int | None = None,
    chunk_size: int = 10_000,
) -> SampleSummary:
    """Stream a shower file in chunks of ``chunk_size`` into a :class:`SampleSummary`.

    Memory is bounded by one chunk of voxels plus the per-shower observables.
    """
    det = data.detector
    n_total = len(data) if max_showers is None else min(len(data), max_showers)
    edges = radial_bins(det)
    feats: list[dict[str, Array]] = []
    energies, angles = [], []
    s1 = np.zeros(det.n_voxels)
    s2 = np.zeros(det.n_voxels)
    spec = np.zeros((2, len(SPECTRUM_EDGES) - 1), dtype=np.int64)
    radial = np.zeros(len(edges) - 1)
    for start in range(0, n_total, chunk_size):
        stop = min(start + chunk_size, n_total)
        s = data.showers(start, stop).astype(np.float64)
        cond = data.conditions(start, stop)
        feats.append(high_level_observables(s, cond.energy, det, threshold=threshold))
        energies.append(cond.energy)
        angles.append(angle_to_direction(s, det, cond.direction))
        s1 += s.sum(axis=0)
        s2 += (s**2).sum(axis=0)
        first = start % 2  # row parity of s[0]
        spec[first] += cell_spectrum(s[0::2], threshold)
        spec[1 - first] += cell_spectrum(s[1::2], threshold)
        radial += radial_profile(s, det, edges).sum(axis=0)
        log.debug("%s: observables of rows %d-%d", data.paths[0], start, stop)
    mean = s1 / n_total
    std = np.sqrt(np.clip(s2 / n_total - mean**2, 0.0, None))
    return SampleSummary(
        n_total,
        np.concatenate(energies),
        {k: np.concatenate([f[k] for f in feats]) for k in feats[0]},
        mean,
        std,
        spec,
        radial / n_total,
        edges,
        np.concatenate(angles),
    )


__all__ = [
    "SPECTRUM_EDGES",
    "CellGeometry",
    "Response",
    "SampleSummary",
    "angle_to_direction",
    "cell_geometry",
    "cell_mean_std",
    "cell_spectrum",
    "energy_moments",
    "energy_ratio",
    "energy_response",
    "gaussian_core",
    "high_level_observables",
    "incidence_angle",
    "layer_centroids",
    "layer_energies",
    "layer_fractions",
    "layer_widths",
    "n_hits",
    "n_hits_per_layer",
    "principal_axis",
    "radial_bins",
    "radial_profile",
    "radial_width",
    "shower_depth",
    "shower_depth_width",
    "shower_start",
    "summarise",
    "summarise_arrays",
    "total_energy",
    "transverse_radius",
]
