"""Quantile calibration in a frame that follows the shower axis: the per-voxel quantile map
of :mod:`~caloforge.postprocess.calibration` made correct for showers that move and tilt.

The energy-binned calibration gives every voxel the training data's distribution of
``E_voxel / E_inc``, pooled over all impact points and angles. When the conditions spread,
that pooled distribution mixes showers centred on the cell with showers that only touch
it: a model that places its showers wrongly (a layer centre following the impact point
too little) has the same pooled marginals as the data, so the map leaves the error in
place, and a map fitted where the cell is the core is applied where it is the tail.

Here the tables are indexed by where a cell lies relative to the particle's track, not
by the cell itself:

* **Axis frame.** In readout layer ``l`` (depth ``z_l``, the depth of the layer's active
  gaps used by the validation), the track crosses ``a_l = impact + z_l * (d_x, d_y) / d_z``
  (``impact + z_l tan(theta) (cos phi, sin phi)``). On a Cartesian layer of ``nx x ny``
  cells the axis lies in cell ``(sx, sy)`` (clipped to the grid); cell ``(ix, iy)`` gets
  the frame position ``(ix - sx, iy - sy)``, one of ``(2 nx - 1) x (2 ny - 1)``
  positions. Cylindrical layers are centred on the particle axis already and hexagonal ones
  are not moved: their frame position is the cell itself.
* **Sub-cell offset.** Where inside its cell the axis crosses still moves the marginals
  (an axis at a cell edge shares its core between two cells): the fractional position of
  ``a_l`` inside the cell, per axis, falls in one of ``offset_bins`` bins, giving
  ``offset_bins**2`` offset classes per layer.
* **Energy.** ``bins`` bins of log incident energy, neighbouring bins chosen at random
  between their centres as in the energy-binned calibration
  (:func:`~caloforge.postprocess.calibration.energy_bin`).

Each (energy bin, offset class, frame position) group holds ``F_model`` on ``grid``
points (log-spaced between the model's smallest and largest deposit there) and ``Q_data``
at ``levels`` levels, the same look-ups and zero-atom treatment as the energy-binned
calibration; a deposit ``x`` becomes ``Q_data(F_model(x))`` of its group, so within a
group the map is monotone and a shower's voxel ranks are kept. Groups with fewer than
``min_samples`` deposits of either sample (frame positions far from the axis, reached
only by showers at the detector's edge) pass their deposits through unchanged. With
``keep_layers`` each layer is rescaled to the model's layer energy afterwards.

**Table size**: ``bins * offset_bins**2 * F * (grid + levels + 5)`` float32 numbers, where
``F`` is the frame positions of all layers, ``sum (2 nx - 1)(2 ny - 1)`` over Cartesian
layers plus the cells of the others. For ``atlas-pblar`` (3 x 96, 12 x 12, 12 x 6 cells:
``F = 955 + 529 + 253 = 1737``) the defaults (4 energy bins, 2 x 2 offset classes, 256 + 65
points) give 16 x 1737 x 326 = 9.1 million numbers, 36 MB; the record of the fit states
the size and the fraction of groups that were calibrated.

It is the post-processor ``axis_calibration`` (``caloforge calibrate --mode axis``, and
``--mode auto`` when the training conditions spread the impact point or the angle on a
detector with a Cartesian layer: :func:`calibration_mode`). It does not export: the frame
depends on the impact point and direction, which the exported graph does not hand to its
post-processors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from caloforge.data import Conditions
from caloforge.evaluate.observables import cell_geometry
from caloforge.geometry import CartesianSegmentation, Detector
from caloforge.postprocess.base import FitSamples, GeneratedBatch, PostProcessor
from caloforge.postprocess.calibration import (
    _lookup,
    energy_bin,
    keep_layer_energies,
    layer_arguments,
    register_layer_buffers,
)

if TYPE_CHECKING:
    from caloforge.models.base import ShowerModel

_TINY = 1e-30
SPREAD_MM = 1e-3
"""Impact points spread by more than this (mm), or any direction off the z axis, make
the training conditions spread for :func:`calibration_mode`."""


@dataclass(frozen=True)
class AxisCalibrationSettings:
    """Settings of the axis-frame calibration.

    Arguments:
        bins: bins of log incident energy.
        offset_bins: bins per axis of the track's position inside its cell.
        levels / grid: quantile levels of the data's tables and points of the model's CDF
            tables, per group.
        min_samples: fewest deposits of each sample for a group to be calibrated.
        keep_layers: rescale each calibrated layer to the model's layer energy.
    """

    bins: int = 4
    offset_bins: int = 2
    levels: int = 65
    grid: int = 256
    min_samples: int = 20
    keep_layers: bool = False

    def __post_init__(self) -> None:
        for key, value, least in (
            ("bins", self.bins, 1),
            ("offset_bins", self.offset_bins, 1),
            ("levels", self.levels, 2),
            ("grid", self.grid, 2),
            ("min_samples", self.min_samples, 1),
        ):
            if value < least:
                raise ValueError(f"axis calibration: {key} must be >= {least}, got {value}")


@dataclass(frozen=True)
class AxisFrame:
    """Where every voxel of a detector lies in the axis frame.

    Arguments:
        layer: (V,) readout layer of each voxel.
        cartesian: (L,) whether a layer is Cartesian (moved with the axis).
        ix / iy: (V,) cell column and row on Cartesian layers (0 elsewhere).
        cell: (V,) the cell's index inside its layer.
        nx / ny: (L,) grid size of Cartesian layers (1 elsewhere).
        lower / pitch: (L, 2) lower grid edge and cell size, mm (Cartesian layers).
        base: (V,) first frame position of the voxel's layer.
        size: frame positions of all layers.
        depth: (L,) depth of each readout layer, mm.
    """

    layer: NDArray[np.int64]
    cartesian: NDArray[np.bool_]
    ix: NDArray[np.int64]
    iy: NDArray[np.int64]
    cell: NDArray[np.int64]
    nx: NDArray[np.int64]
    ny: NDArray[np.int64]
    lower: NDArray[np.float64]
    pitch: NDArray[np.float64]
    base: NDArray[np.int64]
    size: int
    depth: NDArray[np.float64]

    @classmethod
    def of(cls, det: Detector) -> AxisFrame:
        """The frame of ``det`` (cached per detector)."""
        return _frame(det)

    def positions(
        self, cond: Conditions, offset_bins: int
    ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """(N, V) frame position and (N, V) offset class of every voxel of N showers."""
        track = track_positions(cond, self.depth)  # (N, L, 2)
        rel = (track - self.lower[None]) / self.pitch[None]
        axis_cell = np.floor(rel)
        offset = np.clip(np.floor((rel - axis_cell) * offset_bins), 0, offset_bins - 1)
        axis_cell = np.clip(axis_cell, 0, np.stack([self.nx, self.ny], 1)[None] - 1)
        sx = axis_cell[:, self.layer, 0].astype(np.int64)
        sy = axis_cell[:, self.layer, 1].astype(np.int64)
        moved = self.cartesian[self.layer]
        span = 2 * self.ny[self.layer] - 1
        shifted = (self.ix - sx + self.nx[self.layer] - 1) * span + self.iy - sy
        shifted += self.ny[self.layer] - 1
        frame = self.base + np.where(moved, shifted, self.cell)
        klass = (offset[..., 0] * offset_bins + offset[..., 1]).astype(np.int64)
        return frame, np.where(moved, klass[:, self.layer], 0)


@lru_cache(maxsize=8)
def _frame(det: Detector) -> AxisFrame:
    layer = det.voxel_layer.astype(np.int64)
    n_layers = det.n_layers
    cart = np.zeros(n_layers, dtype=bool)
    nx, ny = np.ones(n_layers, np.int64), np.ones(n_layers, np.int64)
    lower, pitch = np.zeros((n_layers, 2)), np.ones((n_layers, 2))
    ix, iy, cell, sizes = [], [], [], []
    for i, r in enumerate(det.readout):
        seg = r.segmentation
        local = np.arange(seg.n_cells)
        cell.append(local)
        if isinstance(seg, CartesianSegmentation):
            cart[i] = True
            nx[i], ny[i] = seg.nx, seg.ny
            hx, hy = seg.extent
            lower[i] = (-hx, -hy)
            pitch[i] = (seg.cell_x, seg.cell_y)
            ix.append(local // seg.ny)
            iy.append(local % seg.ny)
            sizes.append((2 * seg.nx - 1) * (2 * seg.ny - 1))
        else:
            ix.append(np.zeros_like(local))
            iy.append(np.zeros_like(local))
            sizes.append(seg.n_cells)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    return AxisFrame(
        layer=layer,
        cartesian=cart,
        ix=np.concatenate(ix).astype(np.int64),
        iy=np.concatenate(iy).astype(np.int64),
        cell=np.concatenate(cell).astype(np.int64),
        nx=nx,
        ny=ny,
        lower=lower,
        pitch=pitch,
        base=starts[layer],
        size=int(sum(sizes)),
        depth=cell_geometry(det).z[det.layer_offsets[:-1]],
    )


def track_positions(cond: Conditions, depth: NDArray[np.float64]) -> NDArray[np.float64]:
    """(N, L, 2) where the straight track of each shower crosses the depths ``depth`` (L,)
    mm: ``impact + z (d_x, d_y) / d_z``."""
    d = np.asarray(cond.direction, dtype=np.float64)
    slope = d[:, :2] / d[:, 2:3]
    return np.asarray(cond.impact, np.float64)[:, None, :2] + depth[None, :, None] * slope[:, None]


def track_cell_fraction(
    showers: NDArray[np.floating], cond: Conditions, det: Detector
) -> NDArray[np.float64]:
    """(L,) mean fraction of each readout layer's energy in the cell the track crosses
    (showers with energy in the layer; NaN for a layer without any): the marginal the
    axis frame calibrates and tables binned in energy alone cannot."""
    frame = AxisFrame.of(det)
    positions, _ = frame.positions(cond, 1)
    centre = (
        (frame.nx[frame.layer] - 1) * (2 * frame.ny[frame.layer] - 1) + frame.ny[frame.layer] - 1
    )
    on_track = (positions - frame.base[None] == centre[None]) & frame.cartesian[frame.layer][None]
    s = np.asarray(showers, np.float64)
    out = np.full(det.n_layers, np.nan)
    for layer, sl in enumerate(det.layer_slices):
        total = s[:, sl].sum(1)
        hit = total > 0
        if hit.any() and frame.cartesian[layer]:
            out[layer] = float(((s * on_track)[:, sl].sum(1)[hit] / total[hit]).mean())
    return out


def conditions_spread(cond: Conditions) -> bool:
    """Whether impact points spread by more than :data:`SPREAD_MM` or a direction is
    off the z axis."""
    impact = np.asarray(cond.impact, np.float64)[:, :2]
    off_axis = np.abs(np.asarray(cond.direction, np.float64)[:, :2]).max(initial=0.0) > 1e-6
    return bool(off_axis or (len(impact) and np.ptp(impact, axis=0).max() > SPREAD_MM))


def calibration_mode(cond: Conditions, det: Detector) -> str:
    """The calibration ``--mode auto`` picks: ``axis`` when the training conditions spread
    (:func:`conditions_spread`) and ``det`` has a Cartesian layer, else ``energy``."""
    spread = conditions_spread(cond) and bool(AxisFrame.of(det).cartesian.any())
    return "axis" if spread else "energy"


class AxisCalibration(PostProcessor):
    """Quantile map per (energy bin, sub-cell offset, position relative to the track);
    see the module docstring.

    Arguments:
        n_voxels: voxels per shower.
        n_frame: frame positions of the detector (:attr:`AxisFrame.size`).
        n_bins / offset_bins / n_levels / n_grid: table sizes (settings).
        layer_of_voxel: (V,) readout layer of each voxel.
        keep_layers: rescale each calibrated layer to the model's layer energy.
    """

    name: ClassVar[str] = "axis_calibration"
    summary: ClassVar[str] = (
        "per-voxel quantile map in a frame centred on the track, binned in energy and "
        "sub-cell offset (spread impact points and angles)"
    )
    done: ClassVar[str] = "calibrated"
    settings_class: ClassVar[type[Any]] = AxisCalibrationSettings
    export_note: ClassVar[str] = (
        "the axis-frame calibration needs each shower's impact point and direction, which "
        "the exported graph does not pass to post-processors; export the uncalibrated or "
        "energy-calibrated checkpoint"
    )
    layer_map: Tensor
    keep_layers: Tensor
    offset_bins: Tensor
    log_energy_centres: Tensor
    model_cdf: Tensor
    group_params: Tensor
    data_quantiles: Tensor

    def __init__(
        self,
        n_voxels: int,
        n_frame: int,
        n_bins: int = 4,
        offset_bins: int = 2,
        n_levels: int = 65,
        n_grid: int = 256,
        *,
        layer_of_voxel: Sequence[int],
        keep_layers: bool = False,
    ) -> None:
        super().__init__()
        n_groups = n_bins * offset_bins**2 * n_frame
        register_layer_buffers(self, n_voxels, layer_of_voxel, keep_layers)
        self.register_buffer("offset_bins", torch.tensor(offset_bins))
        self.register_buffer("log_energy_centres", torch.zeros(n_bins))
        self.register_buffer("model_cdf", torch.zeros(n_groups, n_grid))
        # per group: lowest log10 x of the CDF grid, grid points per decade, the model's
        # and the data's fractions of empty cells, 1 where the group is calibrated
        self.register_buffer("group_params", torch.zeros(n_groups, 5))
        self.register_buffer("data_quantiles", torch.zeros(n_groups, n_levels))

    @property
    def n_frame(self) -> int:
        """Frame positions of the detector."""
        per_frame = self.log_energy_centres.shape[0] * int(self.offset_bins) ** 2
        return int(self.model_cdf.shape[0]) // per_frame

    @classmethod
    def from_state(cls, state: Mapping[str, Tensor]) -> AxisCalibration:
        n_groups, n_grid = state["model_cdf"].shape
        n_bins = int(state["log_energy_centres"].shape[0])
        offset_bins = int(state["offset_bins"])
        return cls(
            int(state["layer_map"].shape[0]),
            int(n_groups) // (n_bins * offset_bins**2),
            n_bins,
            offset_bins,
            int(state["data_quantiles"].shape[1]),
            int(n_grid),
            **layer_arguments(state),
        )

    @classmethod
    def fit_to(
        cls, model: ShowerModel, samples: FitSamples, settings: Any, *, seed: int = 0
    ) -> tuple[AxisCalibration, dict[str, Any]]:
        """Tabulate the model's and the training showers' deposits per group."""
        s: AxisCalibrationSettings = settings
        det = model.detector
        calib = cls(
            model.n_voxels,
            AxisFrame.of(det).size,
            s.bins,
            s.offset_bins,
            s.levels,
            s.grid,
            layer_of_voxel=det.voxel_layer.tolist(),
            keep_layers=s.keep_layers,
        )
        calibrated = calib.fit(
            samples.generated, samples.showers, samples.conditions, det, s.min_samples
        )
        size = sum(t.numel() for t in calib.buffers())
        record = {
            "kind": "axis-quantile",
            **asdict(s),
            "frame_positions": calib.n_frame,
            "groups": int(calib.model_cdf.shape[0]),
            "groups_calibrated": calibrated,
            "table_numbers": int(size),
        }
        return calib, record

    # ---- fitting -------------------------------------------------------------------------
    def rows(self, cond: Conditions, det: Detector, k: NDArray[np.int64]) -> NDArray[np.int64]:
        """(N, V) table row of every voxel of showers at ``cond`` in energy bins ``k``."""
        ob = int(self.offset_bins)
        frame, klass = AxisFrame.of(det).positions(cond, ob)
        return (k[:, None] * ob**2 + klass) * self.n_frame + frame

    def fit(
        self,
        model_showers: NDArray[np.floating],
        data_showers: NDArray[np.floating],
        cond: Conditions,
        det: Detector,
        min_samples: int = 20,
    ) -> int:
        """Tabulate both samples (showers in MeV at the same conditions ``cond``); returns
        the number of calibrated groups.

        Raises:
            ValueError: shapes disagree with the detector or the conditions.
        """
        n_groups, n_grid = self.model_cdf.shape
        n_levels = self.data_quantiles.shape[1]
        n_bins = self.log_energy_centres.shape[0]
        for what, s in (("model", model_showers), ("data", data_showers)):
            if s.ndim != 2 or s.shape != (len(cond), det.n_voxels):
                raise ValueError(
                    f"axis calibration: {what} showers {s.shape} do not fit {len(cond)} "
                    f"conditions and {det.n_voxels} voxels"
                )
        log_e = np.log(cond.energy)
        edges = np.linspace(log_e.min(), log_e.max(), n_bins + 1)
        k = np.clip(np.searchsorted(edges, log_e, side="right") - 1, 0, n_bins - 1)
        rows = self.rows(cond, det, k.astype(np.int64)).reshape(-1)
        scale = np.asarray(cond.energy, np.float64)[:, None]
        tables = {
            what: _grouped(rows, (np.asarray(s, np.float64) / scale).reshape(-1), n_groups)
            for what, s in (("model", model_showers), ("data", data_showers))
        }
        (xm, start_m, count_m), (xd, start_d, count_d) = tables["model"], tables["data"]
        ok = np.flatnonzero((count_m >= min_samples) & (count_d >= min_samples))
        params = np.zeros((n_groups, 5))
        cdf = np.zeros((n_groups, n_grid))
        quantiles = np.zeros((n_groups, n_levels))
        # Q_data at the levels: linear interpolation between order statistics
        pos = np.linspace(0.0, 1.0, n_levels)[None, :] * (count_d[ok, None] - 1)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, count_d[ok, None] - 1)
        a, b = xd[start_d[ok, None] + lo], xd[start_d[ok, None] + hi]
        quantiles[ok] = a + (b - a) * (pos - lo)
        span = np.linspace(0.0, 1.0, n_grid)
        for g in ok:
            values = xm[start_m[g] : start_m[g] + count_m[g]]
            hits = values[values > 0]
            lo_g = np.log10(hits[0]) if len(hits) else np.log10(_TINY)
            hi_g = max(np.log10(max(values[-1], _TINY)), lo_g + 1e-6)
            cdf[g] = np.searchsorted(values, 10.0 ** (lo_g + (hi_g - lo_g) * span), "right")
            cdf[g] /= len(values)
            params[g] = (
                lo_g,
                (n_grid - 1) / (hi_g - lo_g),
                1.0 - len(hits) / len(values),
                np.mean(xd[start_d[g] : start_d[g] + count_d[g]] <= 0),
                1.0,
            )
        with torch.no_grad():
            self.log_energy_centres.copy_(torch.as_tensor(0.5 * (edges[:-1] + edges[1:])))
            self.model_cdf.copy_(torch.as_tensor(cdf))
            self.group_params.copy_(torch.as_tensor(params))
            self.data_quantiles.copy_(torch.as_tensor(quantiles))
        return len(ok)

    # ---- applying ------------------------------------------------------------------------
    def process(self, showers: Tensor, batch: GeneratedBatch) -> Tensor:
        uniform = torch.rand(
            len(showers),
            showers.shape[1] + 1,
            generator=batch.generator,
            device=showers.device,
        )
        k = energy_bin(self.log_energy_centres, batch.energy, uniform[:, -1])
        rows = self.rows(batch.conditions, batch.detector, k.cpu().numpy())
        return self(showers, batch.energy, torch.as_tensor(rows, device=showers.device), uniform)

    def forward(self, showers: Tensor, energy: Tensor, rows: Tensor, uniform: Tensor) -> Tensor:
        """Calibrated showers.

        Arguments:
            showers: (B, V) non-negative model showers, MeV.
            energy: (B,) incident energies, MeV.
            rows: (B, V) table row of every voxel (:meth:`rows`).
            uniform: (B, V + 1) uniform numbers in [0, 1): ranks inside the zero atom of
                each voxel (the last column, the choice of energy bin, is not used here).
        """
        n_grid = self.model_cdf.shape[1]
        n_levels = self.data_quantiles.shape[1]
        x = (showers / energy[:, None]).reshape(-1)
        row = rows.reshape(-1)
        p0_model, p0_data, on = self.group_params[:, 2:][row].unbind(-1)
        u = uniform[:, :-1].reshape(-1) * p0_model  # the rank of an empty cell
        hit = torch.nonzero(x > 0).squeeze(1)
        log_lo, per_step = self.group_params[row[hit], :2].unbind(-1)  # hits only
        t = (torch.log10(x[hit].clamp(min=_TINY)) - log_lo) * per_step
        u_hit = _lookup(self.model_cdf, n_grid, row[hit], t.clamp(0, n_grid - 1))
        u[hit] = torch.maximum(u_hit, p0_model[hit])
        keep = torch.nonzero(u >= p0_data).squeeze(1)
        v = _lookup(self.data_quantiles, n_levels, row[keep], u[keep] * (n_levels - 1))
        out = torch.zeros_like(x).index_put_((keep,), v)
        out = torch.where(on > 0, out, x).view_as(showers) * energy[:, None]
        if bool(self.keep_layers):
            out = keep_layer_energies(showers, out, self.layer_map)
        return out


def _grouped(
    rows: NDArray[np.int64], values: NDArray[np.float64], n_groups: int
) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.int64]]:
    """``values`` sorted by (row, value), and the start and count of each row's run."""
    order = np.lexsort((values, rows))
    count = np.bincount(rows, minlength=n_groups).astype(np.int64)
    start = np.concatenate([[0], np.cumsum(count)[:-1]]).astype(np.int64)
    return values[order], start, count


__all__ = [
    "AxisCalibration",
    "AxisCalibrationSettings",
    "AxisFrame",
    "calibration_mode",
    "conditions_spread",
    "track_cell_fraction",
    "track_positions",
]
