"""Material table: element and compound properties used by detector descriptions.

Element constants are the PDG "Atomic and nuclear properties" values (radiation length
and nuclear interaction length in g/cm^2, critical energy for electrons in MeV).
Compound and stack values follow the PDG mixture rules:

* ``1/X0 = sum_j w_j / X0_j``          (w_j: mass fractions)
* ``1/lambda_I = sum_j w_j / lambda_j``
* ``1/R_M = (1/E_s) sum_j w_j E_c,j / X0_j`` with ``E_s = 21.2052 MeV``

References:
    PDG, Review of Particle Physics, "Passage of particles through matter" (2024),
    sections 34.4.2 and 34.5; https://pdg.lbl.gov/AtomicNuclearProperties/
"""

from __future__ import annotations

from dataclasses import dataclass

ES_MEV = 21.2052
"""Scale energy E_s = m_e c^2 sqrt(4 pi / alpha) of multiple scattering, MeV."""


@dataclass(frozen=True)
class Element:
    """A chemical element with its PDG shower constants.

    Arguments:
        symbol: chemical symbol.
        z: atomic number.
        a: atomic mass, g/mol.
        x0: radiation length, g/cm^2.
        lambda_i: nuclear interaction length, g/cm^2.
        ec: critical energy for electrons, MeV (PDG, Rossi definition).
    """

    symbol: str
    z: int
    a: float
    x0: float
    lambda_i: float
    ec: float


ELEMENTS: dict[str, Element] = {
    e.symbol: e
    for e in (
        Element("H", 1, 1.008, 63.04, 52.0, 344.8),
        Element("C", 6, 12.011, 42.70, 85.8, 81.74),
        Element("N", 7, 14.007, 37.99, 89.7, 87.62),
        Element("O", 8, 15.999, 34.24, 90.1, 78.60),
        Element("Si", 14, 28.0855, 21.82, 108.4, 40.19),
        Element("Ar", 18, 39.948, 19.55, 119.7, 32.84),
        Element("Fe", 26, 55.845, 13.84, 132.1, 21.68),
        Element("Cu", 29, 63.546, 12.86, 137.3, 19.42),
        Element("W", 74, 183.84, 6.76, 191.9, 7.97),
        Element("Pb", 82, 207.2, 6.37, 199.6, 7.43),
    )
}


@dataclass(frozen=True)
class Material:
    """A detector material.

    Arguments:
        name: the name used in detector files.
        geant4_name: the Geant4 NIST material it is built from.
        density: g/cm^3.
        composition: element symbol -> mass fraction (sums to 1).
    """

    name: str
    geant4_name: str
    density: float
    composition: tuple[tuple[str, float], ...]

    @property
    def x0_gcm2(self) -> float:
        """Radiation length, g/cm^2."""
        return 1.0 / sum(w / ELEMENTS[s].x0 for s, w in self.composition)

    @property
    def lambda_i_gcm2(self) -> float:
        """Nuclear interaction length, g/cm^2."""
        return 1.0 / sum(w / ELEMENTS[s].lambda_i for s, w in self.composition)

    @property
    def inverse_moliere_gcm2(self) -> float:
        """1 / Moliere radius, cm^2/g (additive over mass fractions)."""
        return sum(w * ELEMENTS[s].ec / ELEMENTS[s].x0 for s, w in self.composition) / ES_MEV

    @property
    def x0(self) -> float:
        """Radiation length, mm."""
        return 10.0 * self.x0_gcm2 / self.density

    @property
    def lambda_i(self) -> float:
        """Nuclear interaction length, mm."""
        return 10.0 * self.lambda_i_gcm2 / self.density

    @property
    def moliere_radius(self) -> float:
        """Moliere radius, mm."""
        return 10.0 / (self.inverse_moliere_gcm2 * self.density)

    @property
    def critical_energy(self) -> float:
        """Critical energy, MeV (E_s X0 / R_M, which equals E_c for an element)."""
        return ES_MEV * self.x0_gcm2 * self.inverse_moliere_gcm2


def _mass_fractions(atoms: dict[str, int]) -> tuple[tuple[str, float], ...]:
    total = sum(ELEMENTS[s].a * n for s, n in atoms.items())
    return tuple((s, ELEMENTS[s].a * n / total) for s, n in atoms.items())


MATERIALS: dict[str, Material] = {
    m.name: m
    for m in (
        Material("Pb", "G4_Pb", 11.35, (("Pb", 1.0),)),
        Material("W", "G4_W", 19.30, (("W", 1.0),)),
        Material("Fe", "G4_Fe", 7.874, (("Fe", 1.0),)),
        Material("Cu", "G4_Cu", 8.96, (("Cu", 1.0),)),
        Material("Si", "G4_Si", 2.33, (("Si", 1.0),)),
        Material("LAr", "G4_lAr", 1.396, (("Ar", 1.0),)),
        Material("PbWO4", "G4_PbWO4", 8.28, _mass_fractions({"Pb": 1, "W": 1, "O": 4})),
        Material("Polystyrene", "G4_POLYSTYRENE", 1.06, _mass_fractions({"C": 8, "H": 8})),
    )
}
ALIASES = {"Scintillator": "Polystyrene", "lAr": "LAr", "Lead": "Pb", "Tungsten": "W"}


def get_material(name: str) -> Material:
    """Return the material called ``name`` (or one of its aliases).

    Raises:
        KeyError: with the list of known materials, if ``name`` is unknown.
    """
    key = ALIASES.get(name, name)
    try:
        return MATERIALS[key]
    except KeyError:
        known = ", ".join(sorted([*MATERIALS, *ALIASES]))
        raise KeyError(f"unknown material {name!r}; known materials: {known}") from None
