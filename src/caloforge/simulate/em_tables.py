"""Geant4's own cross sections and stopping powers, to validate the data in use.

:func:`em_tables` starts a spawned process that builds a tiny geometry with the requested
NIST materials, initialises ``G4EmStandardPhysics`` (option 0) with the current data
(official or generated), and asks ``G4EmCalculator`` for photon attenuation coefficients
per process, electron stopping powers and the number of bremsstrahlung photons above a
cut. Compare them with NIST XCOM / ESTAR and the Seltzer-Berger tables.
"""

from __future__ import annotations

import multiprocessing as mp
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from caloforge.simulate.g4data import G4DataSetup, apply_environment, resolve_g4data
from caloforge.simulate.worker import quiet_stdout

GAMMA_PROCESSES = ("phot", "compt", "conv", "Rayl")
ELECTRON_PROCESSES = ("eIoni", "eBrem")
BREM_PHOTON_CUT = 0.1
"""Default photon energy (MeV) above which bremsstrahlung photons are counted: about the
gamma production threshold of a 0.7 mm range cut in Pb."""


@dataclass(frozen=True)
class EmTables:
    """Per material (NIST name) and energy (MeV).

    Arguments:
        mu_rho: photon mass attenuation coefficients per process, cm^2/g:
            ``mu_rho[material][process][i]`` at ``energies[i]``.
        dedx: electron stopping power per process (restricted to no cut: total), MeV cm^2/g.
        density: g/cm^3 of each material.
        energies: the energies, MeV.
        data_mode: ``"offline"`` or ``"official"``.
        brem_photons: electron bremsstrahlung cross section per unit mass for photons
            above ``photon_cut``, cm^2/g (photons emitted per g/cm^2 of path).
        photon_cut: the photon energy of ``brem_photons``, MeV.
        atoms_per_gram: of each material, per atomic number.
    """

    mu_rho: dict[str, dict[str, list[float]]]
    dedx: dict[str, dict[str, list[float]]]
    density: dict[str, float]
    energies: tuple[float, ...]
    data_mode: str
    brem_photons: dict[str, list[float]] = field(default_factory=dict)
    photon_cut: float = BREM_PHOTON_CUT
    atoms_per_gram: dict[str, dict[int, float]] = field(default_factory=dict)

    def total_mu_rho(self, material: str) -> list[float]:
        """Total photon mass attenuation coefficient (all processes), cm^2/g."""
        parts = self.mu_rho[material]
        return [sum(parts[p][i] for p in parts) for i in range(len(self.energies))]


def em_tables(
    materials: tuple[str, ...] = ("G4_Pb",),
    energies: tuple[float, ...] = (0.1, 1.0, 10.0),
    *,
    g4_data: str | Path | None = None,
    setup: G4DataSetup | None = None,
    photon_cut: float = BREM_PHOTON_CUT,
) -> EmTables:
    """Compute Geant4's attenuation coefficients and stopping powers in a subprocess
    (``photon_cut``: MeV, of :attr:`EmTables.brem_photons`)."""
    setup = setup or resolve_g4data(g4_data)
    ctx = mp.get_context("spawn")
    with ctx.Pool(1) as pool:
        result: EmTables = pool.apply(_compute, (setup, materials, energies, photon_cut))
    return result


def _compute(
    setup: G4DataSetup,
    materials: tuple[str, ...],
    energies: tuple[float, ...],
    photon_cut: float,
) -> EmTables:
    quiet_stdout()
    apply_environment(setup)
    import geant4_pybind as g4

    nist = g4.G4NistManager.Instance()

    class Geometry(g4.G4VUserDetectorConstruction):
        def __init__(self) -> None:
            super().__init__()
            self.keep: list[Any] = []

        def Construct(self) -> Any:
            world_s = g4.G4Box("World", 1 * g4.m, 1 * g4.m, 1 * g4.m)
            world_lv = g4.G4LogicalVolume(world_s, nist.FindOrBuildMaterial("G4_Galactic"), "World")
            world_pv = g4.G4PVPlacement(None, g4.G4ThreeVector(), world_lv, "World", None, False, 0)
            self.keep += [world_s, world_lv, world_pv]
            for i, name in enumerate(materials):
                s = g4.G4Box(name, 1 * g4.cm, 1 * g4.cm, 1 * g4.cm)
                lv = g4.G4LogicalVolume(s, nist.FindOrBuildMaterial(name), name)
                pos = g4.G4ThreeVector(0, 0, (-50 + 5 * i) * g4.cm)
                self.keep += [s, lv, g4.G4PVPlacement(None, pos, lv, name, world_lv, False, i)]
            return world_pv

    class Primary(g4.G4VUserPrimaryGeneratorAction):
        def GeneratePrimaries(self, event: Any) -> None:
            pass

    rm = g4.G4RunManagerFactory.CreateRunManager(g4.G4RunManagerType.Serial)
    geometry = Geometry()
    rm.SetUserInitialization(geometry)
    physics = g4.G4VModularPhysicsList()
    physics.RegisterPhysics(g4.G4EmStandardPhysics())
    rm.SetUserInitialization(physics)
    primary = Primary()
    rm.SetUserAction(primary)
    rm.Initialize()
    rm.BeamOn(0)  # builds the physics tables
    calc = g4.G4EmCalculator()
    mu: dict[str, dict[str, list[float]]] = {}
    dedx: dict[str, dict[str, list[float]]] = {}
    density: dict[str, float] = {}
    photons: dict[str, list[float]] = {}
    atoms: dict[str, dict[int, float]] = {}
    for name in materials:
        material = nist.FindOrBuildMaterial(name)
        rho = material.GetDensity() / (g4.g / g4.cm3)
        density[name] = rho
        per_volume = list(material.GetVecNbOfAtomsPerVolume())
        atoms[name] = {
            round(material.GetElement(i).GetZ()): per_volume[i] * g4.cm3 / rho
            for i in range(material.GetNumberOfElements())
        }
        photons[name] = [
            calc.ComputeCrossSectionPerVolume(e * g4.MeV, "e-", "eBrem", name, photon_cut * g4.MeV)
            * g4.cm
            / rho
            for e in energies
        ]
        mu[name] = {
            p: [
                calc.ComputeCrossSectionPerVolume(e * g4.MeV, "gamma", p, name) * g4.cm / rho
                for e in energies
            ]
            for p in GAMMA_PROCESSES
        }
        dedx[name] = {
            p: [
                calc.ComputeDEDX(e * g4.MeV, "e-", p, name) / (g4.MeV / g4.cm) / rho
                for e in energies
            ]
            for p in ELECTRON_PROCESSES
        }
    return EmTables(mu, dedx, density, tuple(energies), setup.mode, photons, photon_cut, atoms)
