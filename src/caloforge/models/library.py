"""``library``: the frozen-shower library, the baseline every ML family must beat.

Stored full-simulation showers are looked up by the nearest conditions (standardised
condition features that vary in the stored data: the incident energy, and the impact point
and angles when present) and rescaled by ``E_requested / E_stored``; with ``k_nearest`` >
1 one of the k nearest is drawn at random. Its memory cost is the stored showers
(``describe()["stored_bytes"]``, logged at training and written in the checkpoint). It
copies its training showers: a memorisation check flags it.

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

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LibraryConfig(ModelConfig):
    """Hyper-parameters of ``library``.

    Arguments:
        max_showers: showers stored (0: all training showers; else a random subset).
        k_nearest: draw the stored shower among the k nearest in condition space.
        rescale: multiply the stored shower by ``E_requested / E_stored``.
    """

    conditions: tuple[str, ...] = ("log_energy", "theta", "phi", "impact_x", "impact_y")
    max_showers: int = 0
    k_nearest: int = 1
    rescale: bool = True

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
        self.features = self.cond_scaler(self.condition_tensor(conditions.select(sel)).to(device))
        log.info(
            "shower library: %d showers, %.1f MB", len(sel), self.describe()["stored_bytes"] / 1e6
        )

    def describe(self) -> dict[str, Any]:
        stored = sum(
            t.numel() * t.element_size() for t in (self.showers, self.features, self.energies)
        )
        return {"parameters": 0, "stored_bytes": int(stored), "stored_showers": len(self.showers)}

    def generate(self, cond: Tensor, energy: Tensor, generator: torch.Generator) -> Tensor:
        if len(self.showers) == 0:
            raise RuntimeError("the shower library is empty (train it on a data file first)")
        active = ~self.cond_scaler.constant
        query, keys = cond[:, active], self.features[:, active]
        k = min(self.config.k_nearest, len(keys))
        dist = torch.cdist(query, keys)
        nearest = dist.topk(k, dim=1, largest=False).indices
        pick = torch.randint(k, (len(cond),), generator=generator, device=cond.device)
        idx = nearest[torch.arange(len(cond), device=cond.device), pick]
        out = self.showers[idx]
        if self.config.rescale:
            out = out * (energy / self.energies[idx]).unsqueeze(1)
        return out

    def get_extra_state(self) -> dict[str, Any]:
        return {
            "showers": self.showers.cpu(),
            "features": self.features.cpu(),
            "energies": self.energies.cpu(),
        }

    def set_extra_state(self, state: dict[str, Any]) -> None:
        device = self.device
        self.showers = state["showers"].float().to(device)
        self.features = state["features"].float().to(device)
        self.energies = state["energies"].float().to(device)

    def _apply(self, fn: Any, recurse: bool = True) -> ShowerLibrary:  # follow .to(device)
        super()._apply(fn, recurse)
        self.showers, self.features, self.energies = (
            fn(self.showers),
            fn(self.features),
            fn(self.energies),
        )
        return self


__all__ = ["LibraryConfig", "ShowerLibrary"]
