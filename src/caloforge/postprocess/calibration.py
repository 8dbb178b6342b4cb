"""Per-voxel quantile calibration: a post-processor that gives every voxel the energy
distribution of the training data, keeping the model's correlations between voxels.

A generative model gets two things to learn: the distribution of each voxel on its own
(the marginals: how often a cell is hit, the spectrum of its deposits, down to the tail of
tiny ones) and how voxels vary together (the copula: shower shape, fluctuations). Models
trained on a CPU budget get the second roughly right long before the first, and a voxel
classifier sees marginal errors cell by cell. This module fixes the marginals after
training, the way the BIB-AE post-processor (arXiv:2005.05334) does with a network, but
with no training: in ``n_bins`` bins of log incident energy, the cumulative distribution
of every voxel's ``E_voxel / E_inc`` in the model's showers (``F_model``) and the quantile
function of the same quantity in the training showers (``Q_data``) are tabulated, and a
generated value ``x`` becomes ``Q_data(F_model(x))``. The map is monotone per voxel, so the
ranks of the voxels inside a shower, hence the model's correlations, are kept.

Details:
* Empty cells are an atom at zero: a generated zero gets a uniform rank inside the
  model's zero fraction (the randomised probability integral transform, one uniform number
  per voxel), and a rank below the data's zero fraction gives an empty cell. The hit
  fraction of every cell thus becomes the data's. With ``cluster_hits`` the ranks of the
  cells come from a Gaussian random field over each layer instead
  (:mod:`~caloforge.postprocess.rank_field`): the hit fractions stay the data's, and the
  hits the map adds to cells the model left empty lie next to each other as the data's do.
* ``Q_data`` is tabulated at ``n_levels`` equally spaced levels and ``F_model`` on
  ``n_grid`` points equally spaced in ``log10(E_voxel / E_inc)`` between the smallest and
  the largest deposit the model put in that voxel and bin (a narrow core cell gets a fine
  grid, a cell of the tail a wide one). Both look-ups are then an arithmetic index, a
  gather and a linear interpolation: no search, no data-dependent control flow; it runs
  batched and exports to ONNX.
* Between the centres of neighbouring energy bins a shower takes the map of one of the two,
  at random with weights linear in ``log E``: the calibrated marginals then change
  smoothly with energy (no jumps at bin edges) and no cell gets the average of an empty
  and a hit cell.
* With ``keep_layers`` each readout layer of the calibrated shower is rescaled to the
  energy the model gave it (a layer the calibration emptied keeps the model's cells): the
  voxel distributions are then calibrated up to that factor, and the layer energies, the
  total energy and its resolution stay exactly the model's.
  This is the mode for models whose layer energies are already right (a stage-1 flow:
  ``flow``, ``diffusion``, ``layer_stage=true``); without it the calibration also moves
  the mean layer energies onto the data's.
* It stores ``n_bins x n_voxels x (n_grid + n_levels)`` numbers, no showers: it cannot
  copy training showers. It does not fix correlations: what a classifier still sees after
  it is the model's.

It is the post-processor ``calibration`` (state keys ``postprocessing.calibration.*`` in
the checkpoint); :func:`caloforge.postprocess.calibrate` (``caloforge calibrate``) fits it
on a trained checkpoint. It exports: the ranks are standard normal noise turned into
uniform numbers inside the graph.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor, nn

from caloforge.postprocess import rank_field
from caloforge.postprocess.base import FitSamples, GeneratedBatch, PostProcessor

if TYPE_CHECKING:
    from caloforge.models.base import ShowerModel

log = logging.getLogger(__name__)
_TINY = 1e-30


@dataclass(frozen=True)
class CalibrationSettings:
    """Settings of the quantile calibration.

    Arguments:
        bins / levels / grid: energy bins, quantile levels of the data's table and points
            of the model's CDF table.
        keep_layers: rescale each calibrated layer to the model's layer energy (for models
            whose layer energies are already right, e.g. with a stage-1 flow).
        cluster_hits: draw the ranks of the cells the model leaves empty from a Gaussian
            random field over each layer, its strength fitted to the data's hit clustering
            (:mod:`~caloforge.postprocess.rank_field`), instead of independently.
    """

    bins: int = 8
    levels: int = 257
    grid: int = 1024
    keep_layers: bool = False
    cluster_hits: bool = False

    def __post_init__(self) -> None:
        QuantileCalibration(1, self.bins, self.levels, self.grid)  # checks the sizes


class QuantileCalibration(PostProcessor):
    """Per-voxel, energy-binned quantile map ``x -> Q_data(F_model(x))`` (see module doc).

    Arguments:
        n_voxels: voxels per shower.
        n_bins: bins of log incident energy (equal width over the training range).
        n_levels: quantile levels of the data's table (including 0 and 1).
        n_grid: points of the model's CDF table.
        layer_of_voxel: (V,) readout layer of each voxel; needed by ``keep_layers``.
        keep_layers: rescale each calibrated layer to the model's layer energy.
        field_neighbours: cells of the rank field's kernel (0: independent ranks; the
            buffers ``field_index`` and ``field_weight``, the mixed kernel, one row per
            neighbour: (field_neighbours, V), exist only with a field).
    """

    name: ClassVar[str] = "calibration"
    summary: ClassVar[str] = (
        "per-voxel quantile map onto the training data's distributions, binned in energy"
    )
    done: ClassVar[str] = "calibrated"
    settings_class: ClassVar[type[Any]] = CalibrationSettings
    layer_map: Tensor
    keep_layers: Tensor
    log_energy_centres: Tensor
    model_cdf: Tensor
    voxel_params: Tensor
    data_quantiles: Tensor
    field_index: Tensor | None
    field_weight: Tensor | None

    def __init__(
        self,
        n_voxels: int,
        n_bins: int = 8,
        n_levels: int = 257,
        n_grid: int = 1024,
        *,
        layer_of_voxel: Sequence[int] | None = None,
        keep_layers: bool = False,
        field_neighbours: int = 0,
    ) -> None:
        super().__init__()
        if n_bins < 1 or n_levels < 2 or n_grid < 2:
            raise ValueError(
                "calibration needs n_bins >= 1, n_levels >= 2 and n_grid >= 2 "
                f"(got {n_bins}, {n_levels}, {n_grid})"
            )
        register_layer_buffers(self, n_voxels, layer_of_voxel, keep_layers)
        self.register_buffer("log_energy_centres", torch.zeros(n_bins))
        self.register_buffer("model_cdf", torch.zeros(n_bins, n_voxels, n_grid))
        # per (bin, voxel): lowest log10 x of the CDF grid, grid points per decade, the
        # model's and the data's fractions of empty cells
        self.register_buffer("voxel_params", torch.zeros(n_bins, n_voxels, 4))
        self.register_buffer("data_quantiles", torch.zeros(n_bins, n_voxels, n_levels))
        # the rank field's kernel and mixing; None (not in the state) without a field
        shape = (field_neighbours, n_voxels)
        field = bool(field_neighbours)
        self.register_buffer("field_index", torch.zeros(shape, dtype=torch.long) if field else None)
        self.register_buffer("field_weight", torch.zeros(shape) if field else None)

    @classmethod
    def from_state(cls, state: Mapping[str, Tensor]) -> QuantileCalibration:
        n_bins, n_voxels, n_grid = state["model_cdf"].shape
        return cls(
            int(n_voxels),
            int(n_bins),
            int(state["data_quantiles"].shape[2]),
            int(n_grid),
            **layer_arguments(state),
            field_neighbours=int(state["field_index"].shape[0]) if "field_index" in state else 0,
        )

    @classmethod
    def fit_to(
        cls, model: ShowerModel, samples: FitSamples, settings: Any, *, seed: int = 0
    ) -> tuple[QuantileCalibration, dict[str, Any]]:
        """Tabulate the model's and the training showers' voxel distributions."""
        s: CalibrationSettings = settings
        det = model.detector
        kernel = rank_field.neighbour_kernel(det) if s.cluster_hits else None
        calib = cls(
            model.n_voxels,
            s.bins,
            s.levels,
            s.grid,
            layer_of_voxel=det.voxel_layer.tolist(),
            keep_layers=s.keep_layers,
            field_neighbours=0 if kernel is None else kernel[0].shape[1],
        )
        energy = samples.conditions.energy
        from caloforge.postprocess.axis_calibration import conditions_spread  # (imports this)

        if conditions_spread(samples.conditions):
            log.warning(
                "the training conditions spread the impact point or the angle: tables binned "
                "in energy alone mix showers centred on a cell with showers that touch it; "
                "the axis-frame calibration (--mode axis) follows the track"
            )
        calib.fit(samples.generated, energy, samples.showers, energy)
        record: dict[str, Any] = {"kind": "quantile", **asdict(s)}
        if kernel is not None:
            record["rank_field"] = calib.fit_field(
                kernel, det.voxel_layer, samples.generated, energy, samples.showers, seed=seed
            )
        return calib, record

    @property
    def noise_size(self) -> int:
        """A rank per voxel (with a rank field: the field's normal number) and the choice
        between neighbouring energy bins."""
        return int(self.model_cdf.shape[1]) + 1

    def process(self, showers: Tensor, batch: GeneratedBatch) -> Tensor:
        uniform = self._draw_uniform(len(showers), batch.generator, showers.device)
        return self(showers, batch.energy, uniform)

    def _draw_uniform(self, size: int, gen: torch.Generator, dev: torch.device) -> Tensor:
        """The (size, V + 1) uniform numbers of :meth:`forward`: independent ranks, or the
        rank field's."""
        if self.field_index is None:
            return torch.rand(size, self.noise_size, generator=gen, device=dev)
        normal = torch.randn(size, self.noise_size - 1, generator=gen, device=dev)
        choice = torch.rand(size, 1, generator=gen, device=dev)
        return torch.cat([self._field_ranks(normal), choice], dim=1)

    def process_noise(self, showers: Tensor, energy: Tensor, noise: Tensor) -> Tensor:
        if self.field_index is None:
            uniform = rank_field.normal_cdf(noise)
        else:
            choice = rank_field.normal_cdf(noise[:, -1:])
            uniform = torch.cat([self._field_ranks(noise[:, :-1]), choice], 1)
        return self(showers, energy, uniform)

    def _field_ranks(self, normal: Tensor) -> Tensor:
        assert self.field_index is not None and self.field_weight is not None  # (callers check)
        return rank_field.field_ranks(normal, self.field_index, self.field_weight)

    def fit_field(
        self,
        kernel: tuple[NDArray[np.int64], NDArray[np.float32], NDArray[np.bool_]],
        layer_of_voxel: NDArray[np.integer],
        model_showers: NDArray[np.floating],
        energy: NDArray[np.floating],
        data_showers: NDArray[np.floating],
        *,
        seed: int = 0,
        batch_size: int = 4096,
    ) -> dict[str, Any]:
        """Set the rank field's kernel and fit the mixing of every layer
        (:func:`~caloforge.postprocess.rank_field.fit_mixing`) on the model's showers at the
        training energies, calibrated by this (fitted) module; returns the fit's record.
        The first showers of both samples are used, up to
        :data:`~caloforge.postprocess.rank_field.FIT_CELLS` cells (all 20,000 of a
        504-voxel detector, 3,086 of a 6,480-voxel one)."""
        index, weight, adjacent = kernel
        if self.field_index is None or self.field_weight is None:
            raise ValueError("this calibration was built without a rank field")
        mixed = self.field_weight
        layers = np.asarray(layer_of_voxel)

        def set_mixing(mixing_of_voxel: NDArray[np.floating]) -> None:
            with torch.no_grad():
                mixed.copy_(torch.as_tensor(rank_field.mixed_weights(weight, mixing_of_voxel).T))

        with torch.no_grad():
            self.field_index.copy_(torch.as_tensor(index.T))
        n = min(len(model_showers), len(data_showers), rank_field.fit_showers(len(index)))
        shower_t = torch.as_tensor(np.asarray(model_showers[:n]), dtype=torch.float32)
        energy_t = torch.as_tensor(np.asarray(energy[:n]), dtype=torch.float32)

        def calibrated(mixing: float) -> NDArray[np.floating]:
            set_mixing(np.full(len(layers), mixing))
            gen = torch.Generator().manual_seed(seed)
            out = []
            with torch.no_grad():
                for a in range(0, len(shower_t), batch_size):
                    x, e = shower_t[a : a + batch_size], energy_t[a : a + batch_size]
                    out.append(self(x, e, self._draw_uniform(len(x), gen, x.device)).numpy())
            return np.concatenate(out)

        mixing, record = rank_field.fit_mixing(
            calibrated, np.asarray(data_showers[:n]), index, adjacent, layers
        )
        set_mixing(mixing[layers])
        return {**record, "showers": n}

    # ---- fitting -------------------------------------------------------------------------
    def fit(
        self,
        model_showers: NDArray[np.floating],
        model_energy: NDArray[np.floating],
        data_showers: NDArray[np.floating],
        data_energy: NDArray[np.floating],
        *,
        min_per_bin: int = 50,
    ) -> None:
        """Tabulate both samples (showers and incident energies in MeV).

        Raises:
            ValueError: shapes disagree, or an energy bin holds fewer than ``min_per_bin``
                showers of either sample.
        """
        n_bins, n_voxels, n_grid = self.model_cdf.shape
        n_levels = self.data_quantiles.shape[2]
        samples = {"model": (model_showers, model_energy), "data": (data_showers, data_energy)}
        for what, (s, e) in samples.items():
            if s.ndim != 2 or s.shape[1] != n_voxels or len(e) != len(s):
                raise ValueError(
                    f"calibration: {what} showers {s.shape} / energies {np.shape(e)} do not fit "
                    f"{n_voxels} voxels"
                )
        log_e = np.log(data_energy)
        edges = np.linspace(log_e.min(), log_e.max(), n_bins + 1)
        levels = np.linspace(0.0, 1.0, n_levels)
        span = np.linspace(0.0, 1.0, n_grid)
        cdf = np.zeros((n_bins, n_voxels, n_grid))
        log_range = np.zeros((n_bins, n_voxels, 2))
        quantiles = np.zeros((n_bins, n_voxels, n_levels))
        zeros = {w: np.zeros((n_bins, n_voxels)) for w in samples}
        bin_of = {  # energy bin of every shower of each sample
            w: np.clip(np.searchsorted(edges, np.log(e), side="right") - 1, 0, n_bins - 1)
            for w, (_, e) in samples.items()
        }
        for k in range(n_bins):
            rel = {}
            for what, (s, e) in samples.items():
                sel = bin_of[what] == k
                if sel.sum() < min_per_bin:
                    raise ValueError(
                        f"calibration: energy bin {k} ({np.exp(edges[k]):.4g}-"
                        f"{np.exp(edges[k + 1]):.4g} MeV) holds {int(sel.sum())} {what} "
                        f"showers, fewer than {min_per_bin}; use fewer bins or more showers"
                    )
                rel[what] = np.asarray(s[sel], dtype=np.float64) / np.asarray(e[sel])[:, None]
                zeros[what][k] = (rel[what] <= 0).mean(0)
            quantiles[k] = np.quantile(rel["data"], levels, axis=0).T
            xm = np.sort(rel["model"], axis=0)
            smallest = np.where(xm > 0, xm, np.inf).min(axis=0)
            lo = np.log10(np.where(np.isfinite(smallest), smallest, _TINY))
            hi = np.maximum(np.log10(np.maximum(xm[-1], _TINY)), lo + 1e-6)
            log_range[k] = np.stack([lo, hi], axis=1)
            for i in range(n_voxels):
                grid = 10.0 ** (lo[i] + (hi[i] - lo[i]) * span)
                cdf[k, i] = np.searchsorted(xm[:, i], grid, side="right") / len(xm)

        params = np.stack(
            [
                log_range[..., 0],
                (n_grid - 1) / (log_range[..., 1] - log_range[..., 0]),
                zeros["model"],
                zeros["data"],
            ],
            axis=-1,
        )
        with torch.no_grad():
            self.log_energy_centres.copy_(torch.as_tensor(0.5 * (edges[:-1] + edges[1:])))
            self.model_cdf.copy_(torch.as_tensor(cdf))
            self.voxel_params.copy_(torch.as_tensor(params))
            self.data_quantiles.copy_(torch.as_tensor(quantiles))

    # ---- applying ------------------------------------------------------------------------
    def forward(self, showers: Tensor, energy: Tensor, uniform: Tensor) -> Tensor:
        """Calibrated showers.

        Arguments:
            showers: (B, V) non-negative model showers, MeV.
            energy: (B,) incident energies, MeV.
            uniform: (B, V + 1) uniform numbers in [0, 1): ranks inside the zero atom of
                each voxel, and (last column) the choice between neighbouring energy bins.
        """
        k = energy_bin(self.log_energy_centres, energy, uniform[:, -1])
        uniform = uniform[:, :-1]
        # (1-D index_select is the fast gather on CPU, in PyTorch and ONNX Runtime alike)
        params = torch.index_select(self.voxel_params, 0, k)  # (B, V, 4): whole rows
        x = showers / energy[:, None]
        look_up = self._dense if torch.jit.is_tracing() else self._sparse
        out = look_up(x, k, uniform, params)
        out = out * energy[:, None]
        if bool(self.keep_layers):  # a constant of the module: traces as one branch
            out = keep_layer_energies(showers, out, self.layer_map)
        return out

    def _dense(self, x: Tensor, k: Tensor, uniform: Tensor, params: Tensor) -> Tensor:
        """Both look-ups for every cell (the exported graph: no data-dependent shapes).
        ``x``: (B, V) E_voxel / E_inc; ``k``: (B,) energy bins; ``uniform``: (B, V) ranks;
        ``params``: (B, V, 4) the cells' rows of ``voxel_params``."""
        log_lo, per_step, p0_model, p0_data = params.unbind(-1)
        _, n_voxels, n_grid = self.model_cdf.shape
        n_levels = self.data_quantiles.shape[2]
        voxel = torch.arange(n_voxels, device=x.device)[None, :]
        row = k[:, None] * n_voxels + voxel  # (B, V) rows of the (bins x voxels) tables
        # u = F_model(x): position on the cell's log grid
        t = ((torch.log10(x.clamp(min=_TINY)) - log_lo) * per_step).clamp(0, n_grid - 1)
        u = _lookup(self.model_cdf, n_grid, row, t)
        u = torch.where(x <= 0, uniform * p0_model, torch.maximum(u, p0_model))
        # Q_data(u), an empty cell below the data's zero fraction (its look-up is pointed at
        # the row's first entry: most cells are empty, and the same entry stays in cache)
        empty = u < p0_data
        v = _lookup(self.data_quantiles, n_levels, row, torch.where(empty, 0.0, u * (n_levels - 1)))
        return torch.where(empty, torch.zeros_like(v), v)

    def _sparse(self, x: Tensor, k: Tensor, uniform: Tensor, params: Tensor) -> Tensor:
        """The same numbers as :meth:`_dense`, with each look-up done only where it is
        needed: ``F_model`` for the model's hits, ``Q_data`` for the calibrated hits (most
        cells are empty, so this is several times fewer random reads)."""
        log_lo, per_step, p0_model, p0_data = params.unbind(-1)
        _, n_voxels, n_grid = self.model_cdf.shape
        n_levels = self.data_quantiles.shape[2]
        flat_x = x.reshape(-1)
        u = (uniform * p0_model).reshape(-1)  # the rank of an empty cell
        hit = torch.nonzero(flat_x > 0).squeeze(1)
        row = k[hit // n_voxels] * n_voxels + hit % n_voxels
        t = torch.log10(flat_x[hit].clamp(min=_TINY)) - log_lo.reshape(-1)[hit]
        t = (t * per_step.reshape(-1)[hit]).clamp(0, n_grid - 1)
        u_hit = _lookup(self.model_cdf, n_grid, row, t)
        u[hit] = torch.maximum(u_hit, p0_model.reshape(-1)[hit])
        keep = torch.nonzero(u >= p0_data.reshape(-1)).squeeze(1)
        row = k[keep // n_voxels] * n_voxels + keep % n_voxels
        v = _lookup(self.data_quantiles, n_levels, row, u[keep] * (n_levels - 1))
        return torch.zeros_like(flat_x).index_put_((keep,), v).view_as(x)


def energy_bin(centres: Tensor, energy: Tensor, choice: Tensor) -> Tensor:
    """(B,) energy bin of each shower: one of the two bins whose ``centres`` (log MeV,
    equally spaced) enclose ``log(energy)``, the nearer more often (weights linear in log E,
    decided by the uniform numbers ``choice``); traceable."""
    n_bins = centres.shape[0]
    if n_bins == 1:
        return torch.zeros_like(energy, dtype=torch.long)
    span = centres[-1] - centres[0]
    pos = ((torch.log(energy) - centres[0]) / span * (n_bins - 1)).clamp(0, n_bins - 1)
    k0 = torch.floor(pos).clamp(max=n_bins - 2)
    return (k0 + (choice < pos - k0).to(k0.dtype)).long()


def register_layer_buffers(
    module: nn.Module, n_voxels: int, layer_of_voxel: Sequence[int] | None, keep_layers: bool
) -> None:
    """Give ``module`` the buffers of :func:`keep_layer_energies`: ``layer_map`` (V, L),
    the one-hot readout layer of each voxel (one layer without ``layer_of_voxel``), and
    ``keep_layers``, whether to rescale the calibrated layers.

    Raises:
        ValueError: ``keep_layers`` without ``layer_of_voxel``, or not ``n_voxels`` of them.
    """
    if keep_layers and layer_of_voxel is None:
        raise ValueError("keep_layers needs the readout layer of each voxel")
    layers = torch.zeros(n_voxels, dtype=torch.long)
    if layer_of_voxel is not None:
        layers = torch.as_tensor(list(layer_of_voxel), dtype=torch.long)
        if layers.shape != (n_voxels,):
            raise ValueError(f"layer_of_voxel has {len(layers)} entries, not {n_voxels}")
    module.register_buffer("layer_map", nn.functional.one_hot(layers).float())
    module.register_buffer("keep_layers", torch.tensor(keep_layers))


def layer_arguments(state: Mapping[str, Tensor]) -> dict[str, Any]:
    """The keyword arguments ``layer_of_voxel`` and ``keep_layers`` that rebuild the
    buffers of :func:`register_layer_buffers` stored in ``state``."""
    return {
        "layer_of_voxel": state["layer_map"].argmax(dim=1).tolist(),
        "keep_layers": bool(state["keep_layers"]),
    }


def keep_layer_energies(before: Tensor, after: Tensor, layer_map: Tensor) -> Tensor:
    """``after`` (B, V) with each readout layer rescaled to its energy in ``before``;
    ``layer_map``: (V, L) one-hot readout layer of each voxel. A layer that ``after`` left
    empty takes its cells in ``before``: every layer keeps its energy, so the total does
    too (the calibration empties the sparse deep layers of low-energy showers often enough
    to move the mean response by a percent)."""
    e_before = before @ layer_map
    e_after = after @ layer_map
    factor = torch.where(e_after > 0, e_before / e_after.clamp(min=_TINY), e_after.new_ones(()))
    emptied = ((e_after <= 0) & (e_before > 0)).to(after.dtype) @ layer_map.T
    return after * (factor @ layer_map.T) + before * emptied


def _lookup(table: Tensor, size: int, row: Tensor, position: Tensor) -> Tensor:
    """Linear interpolation at ``position`` in row ``row`` of ``table`` (rows of ``size``
    entries, any leading shape; ``row`` and ``position`` of one shape)."""
    i = torch.floor(position).clamp(max=size - 2)
    flat = (row * size + i.long()).reshape(-1)
    a = torch.index_select(table.reshape(-1), 0, flat).view_as(position)
    b = torch.index_select(table.reshape(-1), 0, flat + 1).view_as(position)
    return a + (b - a) * (position - i)


__all__ = [
    "CalibrationSettings",
    "QuantileCalibration",
    "energy_bin",
    "keep_layer_energies",
    "layer_arguments",
    "register_layer_buffers",
]
