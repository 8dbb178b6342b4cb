"""Geant4 geometry of a caloforge :class:`~caloforge.geometry.Detector`.

Imported only in worker processes (it needs ``geant4_pybind``, passed in as ``g4``).

Layout: a vacuum world; sampling layer ``l`` is an absorber plate (copy number ``l``)
followed by an active gap (copy number ``l``), the front face at z = 0. Every active gap
is divided by replicas into the fine scoring grid: gap -> ``nx`` slabs along x -> ``ny``
cells along y. One :class:`G4MultiFunctionalDetector` with a ``G4PSEnergyDeposit3D``
scorer (indices: gap copy, x copy, y copy) is attached to the cells, and one with a
``G4PSEnergyDeposit`` scorer to the absorbers; hits maps are read once per event.
"""

from __future__ import annotations

from typing import Any

from caloforge.geometry import Detector, get_material
from caloforge.simulate.scoring import FineGrid

ACTIVE_SD = "caloforge_active"
ABSORBER_SD = "caloforge_absorber"
ACTIVE_HC = f"{ACTIVE_SD}/edep"
ABSORBER_HC = f"{ABSORBER_SD}/edep"


def make_detector_construction(g4: Any, det: Detector, grid: FineGrid, margin_z: float) -> Any:
    """A ``G4VUserDetectorConstruction`` building ``det`` with the fine grid ``grid``.

    Arguments:
        g4: the ``geant4_pybind`` module.
        det: the detector.
        grid: fine scoring grid (one per active gap).
        margin_z: room upstream of the front face for the gun, mm.
    """

    class DetectorConstruction(g4.G4VUserDetectorConstruction):
        def __init__(self) -> None:
            super().__init__()
            self.keep: list[Any] = []  # Geant4 objects must outlive the run
            self.cell_lvs: list[Any] = []
            self.absorber_lvs: list[Any] = []

        def _mat(self, name: str) -> Any:
            return g4.G4NistManager.Instance().FindOrBuildMaterial(get_material(name).geant4_name)

        def Construct(self) -> Any:
            mm = g4.mm
            depth = det.depth
            half_x = det.size_x / 2 + 1000.0
            half_y = det.size_y / 2 + 1000.0
            half_z = depth + margin_z + 10.0
            vacuum = g4.G4NistManager.Instance().FindOrBuildMaterial("G4_Galactic")
            world_s = g4.G4Box("World", half_x * mm, half_y * mm, half_z * mm)
            world_lv = g4.G4LogicalVolume(world_s, vacuum, "World")
            world_pv = g4.G4PVPlacement(None, g4.G4ThreeVector(), world_lv, "World", None, False, 0)
            self.keep += [world_s, world_lv, world_pv]
            gap_cache: dict[tuple[str, float], Any] = {}
            abs_cache: dict[tuple[str, float], Any] = {}
            hx, hy = det.size_x / 2, det.size_y / 2
            for index, layer in enumerate(det.layers):
                z_front, z_gap = det.layer_z[index]
                if layer.absorber is not None and layer.absorber_thickness > 0:
                    key = (layer.absorber, layer.absorber_thickness)
                    if key not in abs_cache:
                        s = g4.G4Box(
                            "Absorber", hx * mm, hy * mm, layer.absorber_thickness / 2 * mm
                        )
                        lv = g4.G4LogicalVolume(
                            s, self._mat(layer.absorber), f"Absorber_{len(abs_cache)}"
                        )
                        self.keep += [s, lv]
                        self.absorber_lvs.append(lv)
                        abs_cache[key] = lv
                    pos = g4.G4ThreeVector(0, 0, (z_front + layer.absorber_thickness / 2) * mm)
                    self.keep.append(
                        g4.G4PVPlacement(
                            None, pos, abs_cache[key], "Absorber", world_lv, False, index
                        )
                    )
                key = (layer.active, layer.active_thickness)
                if key not in gap_cache:
                    gap_cache[key] = self._gap(layer.active, layer.active_thickness, len(gap_cache))
                pos = g4.G4ThreeVector(0, 0, (z_gap + layer.active_thickness / 2) * mm)
                self.keep.append(
                    g4.G4PVPlacement(None, pos, gap_cache[key], "Gap", world_lv, False, index)
                )
            return world_pv

        def _gap(self, material: str, thickness: float, n: int) -> Any:
            """Gap logical volume holding the replicated fine cells."""
            mm = g4.mm
            mat = self._mat(material)
            hz = thickness / 2
            hx, hy = det.size_x / 2, det.size_y / 2
            gap_s = g4.G4Box("Gap", hx * mm, hy * mm, hz * mm)
            gap_lv = g4.G4LogicalVolume(gap_s, mat, f"Gap_{n}")
            row_s = g4.G4Box("Row", grid.pitch_x / 2 * mm, hy * mm, hz * mm)
            row_lv = g4.G4LogicalVolume(row_s, mat, f"Row_{n}")
            cell_s = g4.G4Box("Cell", grid.pitch_x / 2 * mm, grid.pitch_y / 2 * mm, hz * mm)
            cell_lv = g4.G4LogicalVolume(cell_s, mat, f"Cell_{n}")
            rows = g4.G4PVReplica(
                "Row", row_lv, gap_lv, g4.EAxis.kXAxis, grid.nx, grid.pitch_x * mm
            )
            cells = g4.G4PVReplica(
                "Cell", cell_lv, row_lv, g4.EAxis.kYAxis, grid.ny, grid.pitch_y * mm
            )
            self.keep += [gap_s, gap_lv, row_s, row_lv, cell_s, cell_lv, rows, cells]
            self.cell_lvs.append(cell_lv)
            return gap_lv

        def ConstructSDandField(self) -> None:
            sdm = g4.G4SDManager.GetSDMpointer()
            active = g4.G4MultiFunctionalDetector(ACTIVE_SD)
            sdm.AddNewDetector(active)
            scorer = g4.G4PSEnergyDeposit3D("edep", grid.n_gaps, grid.nx, grid.ny, 2, 1, 0)
            active.RegisterPrimitive(scorer)
            for lv in self.cell_lvs:
                self.SetSensitiveDetector(lv, active)
            self.keep += [active, scorer]
            if self.absorber_lvs:
                absorber = g4.G4MultiFunctionalDetector(ABSORBER_SD)
                sdm.AddNewDetector(absorber)
                abs_scorer = g4.G4PSEnergyDeposit("edep", 0)
                absorber.RegisterPrimitive(abs_scorer)
                for lv in self.absorber_lvs:
                    self.SetSensitiveDetector(lv, absorber)
                self.keep += [absorber, abs_scorer]

    return DetectorConstruction()
