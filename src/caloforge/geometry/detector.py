"""Detector descriptions: the sampling-layer stack, its readout segmentation and default gun.

A detector is pure data (frozen dataclasses); :mod:`caloforge.geometry.loader` builds it
from a TOML/YAML/JSON file and validates every field. Lengths are in mm, the front face
of the calorimeter is at z = 0 and the beam axis is +z.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from caloforge.geometry.materials import Material, get_material
from caloforge.geometry.segmentation import Segmentation

ScoringMode = Literal["parallel", "replica", "steps"]
SCORING_MODES: tuple[ScoringMode, ...] = ("parallel", "replica", "steps")
"""Where Geant4 scores the fine cells: in a parallel world, the mass geometry holding one
volume per material block (``parallel``); as replicas inside every active layer of the
mass geometry (``replica``); or nowhere: the mass geometry holds one volume per material
block and no readout volume, and each step's deposit is binned into the fine cells by the
position of its midpoint (``steps``); see :mod:`caloforge.simulate.geometry_builder`."""


class DetectorError(ValueError):
    """A detector description is invalid; the message names the file and field."""


@dataclass(frozen=True)
class SamplingLayer:
    """One sampling layer: an absorber plate followed by an active gap (mm).

    A homogeneous calorimeter slice has ``absorber=None`` and ``absorber_thickness=0``.
    """

    active: str
    active_thickness: float
    absorber: str | None = None
    absorber_thickness: float = 0.0

    @property
    def thickness(self) -> float:
        return self.absorber_thickness + self.active_thickness

    def materials(self) -> list[tuple[Material, float]]:
        """(material, thickness in mm) from front to back, skipping an absent absorber."""
        out = []
        if self.absorber is not None and self.absorber_thickness > 0:
            out.append((get_material(self.absorber), self.absorber_thickness))
        out.append((get_material(self.active), self.active_thickness))
        return out


@dataclass(frozen=True)
class ReadoutLayer:
    """Sampling layers ``first..last`` (inclusive) summed into one readout layer."""

    first: int
    last: int
    segmentation: Segmentation

    @property
    def n_sampling(self) -> int:
        return self.last - self.first + 1


@dataclass(frozen=True)
class Gun:
    """Default particle gun: particle name, start position (mm) and direction (unit vector)."""

    particle: str = "gamma"
    position: tuple[float, float, float] = (0.0, 0.0, -100.0)
    direction: tuple[float, float, float] = (0.0, 0.0, 1.0)


@dataclass(frozen=True)
class PhysicsSettings:
    """Full-simulation settings carried by a preset.

    Arguments:
        physics_list: ``"em_opt0"`` (G4EmStandardPhysics), ``"em_opt4"`` or ``"FTFP_BERT"``.
        production_cut: Geant4 range cut, mm.
        scoring_pitch: pitch of the fine scoring grid in the active gaps, mm
            (``None``: chosen by the simulation from the readout cells).
        scoring: the scoring mode a simulation uses unless told otherwise
            (:data:`SCORING_MODES`): ``"steps"`` where the replica cells' walls change
            the showers (thin active layers under fine cells), else ``"replica"``.
    """

    physics_list: str = "em_opt0"
    production_cut: float = 0.7
    scoring_pitch: float | None = None
    scoring: ScoringMode = "replica"


@dataclass(frozen=True)
class Detector:
    """A calorimeter: layer stack, transverse size, readout segmentation, gun, physics.

    Voxels are flattened readout layer by readout layer, each layer in its
    segmentation's cell order; ``layer_slices[i]`` selects readout layer ``i``.
    """

    name: str
    layers: tuple[SamplingLayer, ...]
    size_x: float
    size_y: float
    readout: tuple[ReadoutLayer, ...]
    gun: Gun = field(default_factory=Gun)
    physics: PhysicsSettings = field(default_factory=PhysicsSettings)
    description: str = ""

    # ---- voxel layout -------------------------------------------------------------------
    @property
    def n_layers(self) -> int:
        """Number of readout layers."""
        return len(self.readout)

    @cached_property
    def layer_sizes(self) -> tuple[int, ...]:
        """Number of cells in each readout layer."""
        return tuple(r.segmentation.n_cells for r in self.readout)

    @property
    def n_voxels(self) -> int:
        return sum(self.layer_sizes)

    @cached_property
    def layer_offsets(self) -> NDArray[np.int64]:
        """Start index of each readout layer in the flattened voxel vector (len n_layers+1)."""
        return np.concatenate([[0], np.cumsum(self.layer_sizes)]).astype(np.int64)

    @property
    def layer_slices(self) -> tuple[slice, ...]:
        off = self.layer_offsets
        return tuple(slice(int(off[i]), int(off[i + 1])) for i in range(self.n_layers))

    @cached_property
    def voxel_layer(self) -> NDArray[np.int64]:
        """Readout layer of each voxel, (n_voxels,)."""
        return np.repeat(np.arange(self.n_layers), self.layer_sizes)

    @cached_property
    def readout_of_sampling(self) -> NDArray[np.int64]:
        """Readout layer of each sampling layer, (len(layers),)."""
        out = np.full(len(self.layers), -1, dtype=np.int64)
        for i, r in enumerate(self.readout):
            out[r.first : r.last + 1] = i
        return out

    def voxel_index(
        self, sampling_layer: int, x: ArrayLike, y: ArrayLike, axis: ArrayLike = (0.0, 0.0)
    ) -> NDArray[np.int64]:
        """Flattened voxel index of positions in the active gap of ``sampling_layer``.

        Arguments:
            sampling_layer: index of the sampling layer (0 = front).
            x, y: transverse positions, mm (broadcast together).
            axis: (x, y) of the particle axis in that layer, mm; used by meshes centred
                on the particle (cylindrical), ignored by fixed grids.

        Returns:
            Voxel indices, -1 where the position is outside the readout cells.
        """
        ro = int(self.readout_of_sampling[sampling_layer])
        local = self.readout[ro].segmentation.cell_index(x, y, axis)
        return np.where(local >= 0, local + self.layer_offsets[ro], -1)

    # ---- longitudinal geometry ----------------------------------------------------------
    @property
    def depth(self) -> float:
        """Total depth of the stack, mm."""
        return float(sum(layer.thickness for layer in self.layers))

    @cached_property
    def layer_z(self) -> NDArray[np.float64]:
        """(n_sampling, 2): z of the front of each sampling layer and of its active gap, mm."""
        fronts = np.concatenate([[0.0], np.cumsum([la.thickness for la in self.layers])[:-1]])
        gaps = fronts + np.array([la.absorber_thickness for la in self.layers])
        return np.stack([fronts, gaps], axis=1)

    @cached_property
    def readout_depth_x0(self) -> NDArray[np.float64]:
        """Depth of the centre of each readout layer, in radiation lengths of the stack."""
        t_x0 = np.array([sum(t / m.x0 for m, t in la.materials()) for la in self.layers])
        start = np.concatenate([[0.0], np.cumsum(t_x0)])
        return np.array([0.5 * (start[r.first] + start[r.last + 1]) for r in self.readout])

    # ---- shower constants of the stack --------------------------------------------------
    def _slabs(self) -> list[tuple[Material, float]]:
        return [slab for layer in self.layers for slab in layer.materials()]

    @property
    def depth_x0(self) -> float:
        """Total depth in radiation lengths."""
        return float(sum(t / m.x0 for m, t in self._slabs()))

    @property
    def depth_lambda(self) -> float:
        """Total depth in nuclear interaction lengths."""
        return float(sum(t / m.lambda_i for m, t in self._slabs()))

    @property
    def x0(self) -> float:
        """Effective radiation length of the stack, mm (thickness-weighted harmonic mean)."""
        return self.depth / self.depth_x0

    @property
    def lambda_i(self) -> float:
        """Effective nuclear interaction length of the stack, mm."""
        return self.depth / self.depth_lambda

    @property
    def mean_density(self) -> float:
        """Mean density of the stack, g/cm^3."""
        return sum(m.density * t for m, t in self._slabs()) / self.depth

    @property
    def moliere_radius(self) -> float:
        """Effective Moliere radius of the stack, mm (PDG mass-fraction mixture rule)."""
        mass = [(m, m.density * t) for m, t in self._slabs()]
        total = sum(w for _, w in mass)
        inv = sum(w / total * m.inverse_moliere_gcm2 for m, w in mass)  # cm^2/g
        return 10.0 / (inv * self.mean_density)

    @property
    def critical_energy(self) -> float:
        """Effective critical energy of the stack, MeV (E_s X0 / R_M)."""
        from caloforge.geometry.materials import ES_MEV

        return ES_MEV * self.x0 / self.moliere_radius
