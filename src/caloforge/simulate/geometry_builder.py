"""Geant4 geometry of a caloforge :class:`~caloforge.geometry.Detector`.

Imported only in worker processes (it needs ``geant4_pybind``, passed in as ``g4``).

Mass geometry: a vacuum world; sampling layer ``l`` is an absorber plate (copy number
``l``) followed by its active material, the front face at z = 0.

Readout: the fine scoring grid (``nx x ny`` cells in every active gap, indices: gap copy,
x copy, y copy) is scored by one :class:`G4MultiFunctionalDetector` with a
``G4PSEnergyDeposit3D`` scorer; one with a ``G4PSEnergyDeposit`` scorer is attached to the
absorbers. Hits maps are read once per event. Three scoring modes (:data:`SCORING_MODES`):

``parallel``
    The cells live in a parallel world (``G4ParallelWorldPhysics``) and the mass geometry
    holds one volume per material block: consecutive absorber-free layers of the same
    material (a homogeneous calorimeter) are one volume. The readout segmentation adds
    no boundary to the mass geometry, so it cannot change the multiple-scattering steps.
    The parallel world repeats the absorber plates as empty boxes, so that a point in an
    absorber is inside a box there too instead of among the gaps at the level of the
    parallel world (a few per cent less CPU time, the same showers).
``replica`` (default)
    The cells are replicas inside every active gap of the mass geometry (one volume per
    layer). Cheaper than ``parallel`` (docs/simulation.md, "Readout scoring: physics and
    cost"); no change of the shower observables between the two was measured.
``steps``
    No readout volume at all: the mass geometry of ``parallel`` (one volume per material
    block), with a Python sensitive detector on the active blocks that records each step's
    deposit at its midpoint (:mod:`caloforge.simulate.step_scoring`, read from
    :attr:`step_record` once per event); the points are binned into the fine cells of
    ``replica`` afterwards (:class:`~caloforge.simulate.scoring.StepBinner`). Nothing but
    physics and the material faces ends a step.

``scoring=None`` builds the mass geometry of ``parallel`` without the readout world: no
readout cell anywhere, for a caller that scores the steps itself (a user stepping action;
``benchmarks/core_energy.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from caloforge.geometry import SCORING_MODES, Detector, ScoringMode, get_material
from caloforge.simulate.scoring import FineGrid
from caloforge.simulate.step_scoring import StepRecord, make_step_detector

READOUT_WORLD = "caloforge_readout"
"""Name of the parallel world holding the readout cells (and of its process)."""

READOUT_WORLD_LAYOUT = 2
"""Version of the ``parallel`` readout world: 2 = with the absorber plates as empty boxes
(1: the gaps alone). Layouts give the same showers only up to the rounding of the step
points, not the same events bit for bit, so it enters the resume key and the files'
``generator`` record."""

ACTIVE_SD = "caloforge_active"
ABSORBER_SD = "caloforge_absorber"
ACTIVE_HC = f"{ACTIVE_SD}/edep"
ABSORBER_HC = f"{ABSORBER_SD}/edep"


@dataclass(frozen=True)
class Block:
    """A box of one material spanning ``[z_front, z_front + thickness]`` (mm)."""

    material: str
    z_front: float
    thickness: float


def active_blocks(det: Detector) -> list[Block]:
    """The active material of ``det`` as mass volumes: consecutive layers without an
    absorber and with the same active material merge into one block."""
    blocks: list[Block] = []
    for index, layer in enumerate(det.layers):
        z_gap = float(det.layer_z[index][1])
        has_absorber = layer.absorber is not None and layer.absorber_thickness > 0
        last = blocks[-1] if blocks else None
        if (
            last is not None
            and not has_absorber
            and last.material == layer.active
            and abs(last.z_front + last.thickness - z_gap) < 1e-9
        ):
            blocks[-1] = Block(last.material, last.z_front, last.thickness + layer.active_thickness)
        else:
            blocks.append(Block(layer.active, z_gap, layer.active_thickness))
    return blocks


def _material(g4: Any, name: str) -> Any:
    return g4.G4NistManager.Instance().FindOrBuildMaterial(get_material(name).geant4_name)


def _world_half(det: Detector, margin_z: float) -> tuple[float, float, float]:
    return det.size_x / 2 + 1000.0, det.size_y / 2 + 1000.0, det.depth + margin_z + 10.0


def _cells(
    g4: Any, det: Detector, grid: FineGrid, material: Any, thickness: float, n: int, keep: list[Any]
) -> tuple[Any, Any]:
    """(gap logical volume holding the replicated fine cells, cell logical volume)."""
    mm = g4.mm
    hz = thickness / 2
    hx, hy = det.size_x / 2, det.size_y / 2
    gap_s = g4.G4Box("Gap", hx * mm, hy * mm, hz * mm)
    gap_lv = g4.G4LogicalVolume(gap_s, material, f"Gap_{n}")
    row_s = g4.G4Box("Row", grid.pitch_x / 2 * mm, hy * mm, hz * mm)
    row_lv = g4.G4LogicalVolume(row_s, material, f"Row_{n}")
    cell_s = g4.G4Box("Cell", grid.pitch_x / 2 * mm, grid.pitch_y / 2 * mm, hz * mm)
    cell_lv = g4.G4LogicalVolume(cell_s, material, f"Cell_{n}")
    rows = g4.G4PVReplica("Row", row_lv, gap_lv, g4.EAxis.kXAxis, grid.nx, grid.pitch_x * mm)
    cells = g4.G4PVReplica("Cell", cell_lv, row_lv, g4.EAxis.kYAxis, grid.ny, grid.pitch_y * mm)
    keep += [gap_s, gap_lv, row_s, row_lv, cell_s, cell_lv, rows, cells]
    return gap_lv, cell_lv


class Absorbers:
    """Places absorber plates (copy number of a plate = its layer index); their logical
    volumes, one per material and thickness, are collected in :attr:`lvs`."""

    def __init__(self, g4: Any, det: Detector, keep: list[Any]) -> None:
        self.g4, self.det, self.keep = g4, det, keep
        self.cache: dict[tuple[str, float], Any] = {}
        self.lvs: list[Any] = []

    def place(self, index: int, mother: Any) -> None:
        g4, det = self.g4, self.det
        layer = det.layers[index]
        if layer.absorber is None or layer.absorber_thickness <= 0:
            return
        mm = g4.mm
        key = (layer.absorber, layer.absorber_thickness)
        if key not in self.cache:
            hz = layer.absorber_thickness / 2
            s = g4.G4Box("Absorber", det.size_x / 2 * mm, det.size_y / 2 * mm, hz * mm)
            lv = g4.G4LogicalVolume(s, _material(g4, layer.absorber), f"Absorber_{len(self.cache)}")
            self.keep += [s, lv]
            self.lvs.append(lv)
            self.cache[key] = lv
        z = det.layer_z[index][0] + layer.absorber_thickness / 2
        pos = g4.G4ThreeVector(0, 0, z * mm)
        lv = self.cache[key]
        self.keep.append(g4.G4PVPlacement(None, pos, lv, "Absorber", mother, False, index))


class GriddedGaps:
    """Places active gaps divided into the fine cells (copy number of a gap = its layer
    index); the cell logical volumes are collected in :attr:`cell_lvs`."""

    def __init__(self, g4: Any, det: Detector, grid: FineGrid, keep: list[Any]) -> None:
        self.g4, self.det, self.grid, self.keep = g4, det, grid, keep
        self.cache: dict[tuple[str, float], Any] = {}
        self.cell_lvs: list[Any] = []

    def place(self, index: int, mother: Any) -> None:
        g4, det = self.g4, self.det
        layer = det.layers[index]
        key = (layer.active, layer.active_thickness)
        if key not in self.cache:
            mat = _material(g4, layer.active)
            gap_lv, cell_lv = _cells(
                g4, det, self.grid, mat, layer.active_thickness, len(self.cache), self.keep
            )
            self.cache[key] = gap_lv
            self.cell_lvs.append(cell_lv)
        z = det.layer_z[index][1] + layer.active_thickness / 2
        pos = g4.G4ThreeVector(0, 0, z * g4.mm)
        self.keep.append(g4.G4PVPlacement(None, pos, self.cache[key], "Gap", mother, False, index))


def _active_scorer(g4: Any, grid: FineGrid, keep: list[Any]) -> Any:
    sdm = g4.G4SDManager.GetSDMpointer()
    active = g4.G4MultiFunctionalDetector(ACTIVE_SD)
    sdm.AddNewDetector(active)
    scorer = g4.G4PSEnergyDeposit3D("edep", grid.n_gaps, grid.nx, grid.ny, 2, 1, 0)
    active.RegisterPrimitive(scorer)
    keep += [active, scorer]
    return active


def make_readout_world(g4: Any, det: Detector, grid: FineGrid) -> Any:
    """A ``G4VUserParallelWorld`` named :data:`READOUT_WORLD` holding the fine cells of
    every active gap and empty boxes at the absorber plates (for the ``parallel``
    scoring mode)."""

    class ReadoutWorld(g4.G4VUserParallelWorld):
        def __init__(self) -> None:
            super().__init__(READOUT_WORLD)
            self.keep: list[Any] = []
            self.cell_lvs: list[Any] = []

        def Construct(self) -> None:
            world_lv = self.GetWorld().GetLogicalVolume()
            plates = Absorbers(g4, det, self.keep)  # no detector: for the navigation only
            gaps = GriddedGaps(g4, det, grid, self.keep)
            for index in range(len(det.layers)):
                plates.place(index, world_lv)
                gaps.place(index, world_lv)
            self.cell_lvs = gaps.cell_lvs

        def ConstructSD(self) -> None:
            active = _active_scorer(g4, grid, self.keep)
            for lv in self.cell_lvs:
                self.SetSensitiveDetector(lv, active)

    return ReadoutWorld()


def make_detector_construction(
    g4: Any,
    det: Detector,
    grid: FineGrid,
    margin_z: float,
    scoring: ScoringMode | None = "replica",
) -> Any:
    """A ``G4VUserDetectorConstruction`` building ``det`` with the fine grid ``grid``.

    Arguments:
        g4: the ``geant4_pybind`` module.
        det: the detector.
        grid: fine scoring grid (one per active gap).
        margin_z: room upstream of the front face for the gun, mm.
        scoring: where the fine cells live (:data:`SCORING_MODES`); with ``"parallel"``
            the physics list must hold ``G4ParallelWorldPhysics(READOUT_WORLD)``;
            ``"steps"``: nowhere, the active blocks record their steps into the
            construction's ``step_record``; ``None``: nowhere and nothing recorded (the
            mass geometry of ``"parallel"``, no readout world).
    """
    if scoring is not None and scoring not in SCORING_MODES:
        raise ValueError(f"scoring={scoring!r} is not one of {', '.join(SCORING_MODES)}")

    class DetectorConstruction(g4.G4VUserDetectorConstruction):
        def __init__(self) -> None:
            super().__init__()
            self.keep: list[Any] = []  # Geant4 objects must outlive the run
            self.cell_lvs: list[Any] = []
            self.absorber_lvs: list[Any] = []
            self.block_lvs: list[Any] = []
            self.step_record = StepRecord()  # filled in the steps mode only
            if scoring == "parallel":
                self.readout_world = make_readout_world(g4, det, grid)
                self.RegisterParallelWorld(self.readout_world)

        def Construct(self) -> Any:
            mm = g4.mm
            half_x, half_y, half_z = _world_half(det, margin_z)
            vacuum = g4.G4NistManager.Instance().FindOrBuildMaterial("G4_Galactic")
            world_s = g4.G4Box("World", half_x * mm, half_y * mm, half_z * mm)
            world_lv = g4.G4LogicalVolume(world_s, vacuum, "World")
            world_pv = g4.G4PVPlacement(None, g4.G4ThreeVector(), world_lv, "World", None, False, 0)
            self.keep += [world_s, world_lv, world_pv]
            gaps = GriddedGaps(g4, det, grid, self.keep)
            plates = Absorbers(g4, det, self.keep)
            for index in range(len(det.layers)):  # placement order of earlier versions
                plates.place(index, world_lv)
                if scoring == "replica":
                    gaps.place(index, world_lv)
            self.cell_lvs = gaps.cell_lvs
            self.absorber_lvs = plates.lvs
            if scoring != "replica":
                self._blocks(world_lv)
            return world_pv

        def _blocks(self, world_lv: Any) -> None:
            """The active material, one volume per block (:func:`active_blocks`)."""
            mm = g4.mm
            hx, hy = det.size_x / 2, det.size_y / 2
            for n, block in enumerate(active_blocks(det)):
                s = g4.G4Box("Active", hx * mm, hy * mm, block.thickness / 2 * mm)
                lv = g4.G4LogicalVolume(s, _material(g4, block.material), f"Active_{n}")
                pos = g4.G4ThreeVector(0, 0, (block.z_front + block.thickness / 2) * mm)
                self.keep += [s, lv, g4.G4PVPlacement(None, pos, lv, "Active", world_lv, False, n)]
                self.block_lvs.append(lv)

        def ConstructSDandField(self) -> None:
            if self.cell_lvs:
                active = _active_scorer(g4, grid, self.keep)
                for lv in self.cell_lvs:
                    self.SetSensitiveDetector(lv, active)
            if scoring == "steps":
                steps = make_step_detector(g4, self.step_record)
                g4.G4SDManager.GetSDMpointer().AddNewDetector(steps)
                for lv in self.block_lvs:
                    self.SetSensitiveDetector(lv, steps)
                self.keep.append(steps)
            if self.absorber_lvs:
                sdm = g4.G4SDManager.GetSDMpointer()
                absorber = g4.G4MultiFunctionalDetector(ABSORBER_SD)
                sdm.AddNewDetector(absorber)
                abs_scorer = g4.G4PSEnergyDeposit("edep", 0)
                absorber.RegisterPrimitive(abs_scorer)
                for lv in self.absorber_lvs:
                    self.SetSensitiveDetector(lv, absorber)
                self.keep += [absorber, abs_scorer]

    return DetectorConstruction()
