"""``library``: the frozen-shower library, the baseline every ML family must beat.

Stored full-simulation showers are looked up by the nearest conditions (standardised
condition features that vary in the stored data: the incident energy, and the impact point
and angles when present), among the stored showers of the requested particle (when the
stored data hold several), and rescaled by ``E_requested / E_stored``; with ``k_nearest`` >
1 one of the k nearest is drawn at random. Its memory cost is the stored showers
(``describe()["stored_bytes"]``, logged at training and written in the checkpoint). It
copies its training showers: a memorisation check flags it.

**Moving a shower** (``move``, for spread impact points and angles): the stored shower is
moved from its own track to the requested one, layer by layer. In readout layer ``l``
(depth ``z_l``) a track crosses ``impact + z_l tan(theta) (cos phi, sin phi)``; on a
Cartesian layer the stored deposits are shifted by the difference of the two crossings,
in cells: by whole cells, and the remaining fraction ``f`` of a cell (per axis) is shared
linearly, ``1 - f`` of a deposit to the cell it lands in and ``f`` to the next one
(bilinear in x and y). The sharing keeps each layer's energy-weighted centre exactly on
the requested track (within the grid) and widens the shower by at most one cell, which a
nearest stored shower makes small (it was stored near the requested point). Deposits moved
off the grid are lost, as a shower entering near the edge leaks. Cylindrical layers are
centred on the particle axis already and hexagonal layers are not moved. Without the
impact point among the model's conditions nothing moves; without the angles the stored
shower keeps its own.

References:
    Frozen showers as used in ATLAS fast simulation: E. Barberio et al., Fast shower
    simulation in the ATLAS calorimeter, J. Phys. Conf. Ser. 119 (2008) 032008.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from caloforge.data import Conditions
from caloforge.models.base import ModelConfig, ShowerModel
from caloforge.postprocess.axis_calibration import AxisFrame, track_positions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LibraryConfig(ModelConfig):
    """Hyper-parameters of ``library``.

    Arguments:
        max_showers: showers stored (0: all training showers; else a random subset).
        k_nearest: draw the stored shower among the k nearest in condition space.
        rescale: multiply the stored shower by ``E_requested / E_stored``.
        move: move the stored shower onto the requested track (Cartesian layers; see the
            module docstring).
    """

    conditions: tuple[str, ...] = (
        "log_energy",
        "particle",
        "theta",
        "phi",
        "impact_x",
        "impact_y",
    )
    max_showers: int = 0
    k_nearest: int = 1
    rescale: bool = True
    move: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.k_nearest < 1:
            raise ValueError(f"k_nearest must be >= 1, got {self.k_nearest}")


class ShowerLibrary(ShowerModel):
    """Nearest-condition frozen-shower library; see the module docstring."""

    name: ClassVar[str] = "library"
    summary: ClassVar[str] = (
        "frozen-shower library: stored full-simulation showers looked up by nearest "
        "conditions and rescaled to the requested energy (baseline)"
    )
    references: ClassVar[tuple[str, ...]] = ()
    config_class: ClassVar[type[ModelConfig]] = LibraryConfig
    trainable: ClassVar[bool] = False
    export_note: ClassVar[str] = (
        "a shower library is a data lookup (nearest stored training showers, rescaled), "
        "not a network; ship the training file instead of a graph"
    )
    config: LibraryConfig

    def build(self) -> None:
        self.showers = torch.zeros(0, self.n_voxels)
        self.features = torch.zeros(0, self.n_cond)
        self.energies = torch.zeros(0)
        self.tracks = torch.zeros(0, self.detector.n_layers, 2)  # (N, L, 2) mm; empty: not moved

    def fit_data(
        self, showers: NDArray[np.float32], conditions: Conditions, generator: torch.Generator
    ) -> None:
        n = len(showers)
        idx = torch.arange(n)
        if 0 < self.config.max_showers < n:
            idx = torch.randperm(n, generator=generator)[: self.config.max_showers].sort().values
        sel = idx.numpy()
        device = self.device
        self.showers = torch.as_tensor(showers[sel], dtype=torch.float32).to(device)
        self.energies = torch.as_tensor(conditions.energy[sel], dtype=torch.float32).to(device)
        stored = conditions.select(sel)
        self.features = self.cond_scaler(self.condition_tensor(stored).to(device))
        depth = AxisFrame.of(self.detector).depth
        self.tracks = torch.as_tensor(track_positions(stored, depth), dtype=torch.float32)
        self.tracks = self.tracks.to(device)
        log.info(
            "shower library: %d showers, %.1f MB", len(sel), self.describe()["stored_bytes"] / 1e6
        )

    def describe(self) -> dict[str, Any]:
        stored = sum(
            t.numel() * t.element_size()
            for t in (self.showers, self.features, self.energies, self.tracks)
        )
        return {"parameters": 0, "stored_bytes": int(stored), "stored_showers": len(self.showers)}

    def generate(self, cond: Tensor, energy: Tensor, generator: torch.Generator) -> Tensor:
        if len(self.showers) == 0:
            raise RuntimeError("the shower library is empty (train it on a data file first)")
        active = ~self.cond_scaler.constant
        query, keys = cond[:, active], self.features[:, active]
        k = min(self.config.k_nearest, len(keys))
        dist = torch.cdist(query, keys)
        if "particle" in self.condition_names:  # only showers of the requested particle
            p = self.condition_names.index("particle")
            rank = self.cond_scaler.inverse(cond)[:, p]
            stored = self.cond_scaler.inverse(self.features)[:, p]
            other = (rank[:, None] - stored[None, :]).abs() > 0.5
            dist = dist.masked_fill(other, torch.inf)
        nearest = dist.topk(k, dim=1, largest=False).indices
        pick = torch.randint(k, (len(cond),), generator=generator, device=cond.device)
        idx = nearest[torch.arange(len(cond), device=cond.device), pick]
        out = self.showers[idx]
        if self.config.move and len(self.tracks) and "impact_x" in self.condition_names:
            out = self._moved(out, self.tracks[idx], self._requested_tracks(cond, idx))
        if self.config.rescale:
            out = out * (energy / self.energies[idx]).unsqueeze(1)
        return out

    def _requested_tracks(self, cond: Tensor, idx: Tensor) -> Tensor:
        """(B, L, 2) where the requested tracks cross the readout layers, mm (the stored
        showers' angles where the model's conditions have none)."""
        raw = self.cond_scaler.inverse(cond)
        names = self.condition_names
        impact = raw[:, [names.index("impact_x"), names.index("impact_y")]]
        depth = torch.as_tensor(AxisFrame.of(self.detector).depth, dtype=raw.dtype)
        depth = depth.to(raw.device)
        if "theta" in names and "phi" in names:
            theta, phi = raw[:, names.index("theta")], raw[:, names.index("phi")]
            slope = torch.tan(theta)[:, None] * torch.stack([torch.cos(phi), torch.sin(phi)], 1)
        else:  # the stored track's slope: its crossings at two depths
            stored = self.tracks[idx]
            span = depth[-1] - depth[0] if len(depth) > 1 else depth.new_ones(())
            slope = (stored[:, -1] - stored[:, 0]) / span.clamp(min=1e-9)
        return impact[:, None, :] + depth[None, :, None] * slope[:, None, :]

    def _moved(self, showers: Tensor, stored: Tensor, requested: Tensor) -> Tensor:
        """``showers`` (B, V) moved per Cartesian layer from the ``stored`` to the
        ``requested`` track crossings (B, L, 2), mm."""
        out = showers.clone()
        frame = AxisFrame.of(self.detector)
        for layer, sl in enumerate(self.detector.layer_slices):
            if not frame.cartesian[layer]:
                continue
            nx, ny = int(frame.nx[layer]), int(frame.ny[layer])
            pitch = torch.as_tensor(frame.pitch[layer], dtype=showers.dtype).to(showers.device)
            cells = (requested[:, layer] - stored[:, layer]) / pitch
            cells = torch.round(cells * 1e4) / 1e4  # float32 noise of the features: no shift
            grid = showers[:, sl].reshape(-1, nx, ny)
            grid = shift_cells(shift_cells(grid, cells[:, 0], 1), cells[:, 1], 2)
            out[:, sl] = grid.reshape(len(showers), -1)
        return out

    def get_extra_state(self) -> dict[str, Any]:
        return {
            "showers": self.showers.cpu(),
            "features": self.features.cpu(),
            "energies": self.energies.cpu(),
            "tracks": self.tracks.cpu(),
        }

    def set_extra_state(self, state: dict[str, Any]) -> None:
        device = self.device
        self.showers = state["showers"].float().to(device)
        self.features = state["features"].float().to(device)
        self.energies = state["energies"].float().to(device)
        tracks = state.get("tracks", torch.zeros(0, self.detector.n_layers, 2))
        self.tracks = tracks.float().to(device)  # libraries stored without them do not move

    def _apply(self, fn: Any, recurse: bool = True) -> ShowerLibrary:  # follow .to(device)
        super()._apply(fn, recurse)
        self.showers, self.features, self.energies, self.tracks = (
            fn(self.showers),
            fn(self.features),
            fn(self.energies),
            fn(self.tracks),
        )
        return self


def shift_cells(grid: Tensor, cells: Tensor, dim: int) -> Tensor:
    """``grid`` (B, nx, ny) moved by ``cells`` (B,) cells along ``dim`` (1: x, 2: y): by
    whole cells, the remaining fraction ``f`` shared as ``1 - f`` to the cell a deposit
    lands in and ``f`` to the next; deposits moved off the grid are dropped."""
    n = grid.shape[dim]
    whole = torch.floor(cells)
    frac = (cells - whole).to(grid.dtype)
    index = torch.arange(n, device=grid.device)
    out = torch.zeros_like(grid)
    for step, weight in ((0, 1.0 - frac), (1, frac)):
        source = index[None, :] - whole.long()[:, None] - step  # (B, n)
        inside = (source >= 0) & (source < n)
        source = source.clamp(0, n - 1)
        if dim == 1:
            taken = grid.gather(1, source[:, :, None].expand(-1, -1, grid.shape[2]))
            inside = inside[:, :, None]
        else:
            taken = grid.gather(2, source[:, None, :].expand(-1, grid.shape[1], -1))
            inside = inside[:, None, :]
        out = out + weight[:, None, None] * torch.where(inside, taken, torch.zeros_like(taken))
    return out


__all__ = ["LibraryConfig", "ShowerLibrary", "shift_cells"]
