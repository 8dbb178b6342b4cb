"""Photon cross sections from a kept data library, for the offline Geant4 tables.

With the ``photon-data`` extra (``xraydb``, MIT licence), the offline photo-effect and
Rayleigh tables come from the Elam, Ravel and Sieber tables that ``xraydb`` ships
(photo-absorption and coherent scattering per element, Z = 1-98, 100 eV-800 keV) instead
of Geant4's Sandia parameterisation and a Rayleigh cross section of zero. Above the
library's top energy the Rayleigh cross section falls as 1/E^2 (its high-energy limit)
and the photo-effect continues with the Sandia parameterisation, joined continuously.
Without the extra the offline tables are those of the Sandia parameterisation, with
Rayleigh scattering off; :func:`photon_data_source` says which, and the generated data
record it.

References:
    W. T. Elam, B. D. Ravel, J. R. Sieber, Radiat. Phys. Chem. 63 (2002) 121;
    xraydb, https://xraydb.xrayabsorption.org.
"""

from __future__ import annotations

import importlib.util
from importlib import metadata

import numpy as np
from numpy.typing import NDArray

from caloforge._optional import require

LIBRARY_EMAX = 0.8
"""Top energy of the library's tables, MeV."""
LIBRARY_Z_MAX = 98
"""Heaviest element of the library."""
AVOGADRO = 6.02214076e23


def photon_data_source() -> str:
    """``"xraydb-elam <version>"`` when the library is installed, else ``"sandia"``."""
    if importlib.util.find_spec("xraydb") is None:
        return "sandia"
    return f"xraydb-elam {metadata.version('xraydb')}"


def library_xs(z: int, energy: NDArray[np.float64], kind: str) -> NDArray[np.float64]:
    """Cross section per atom in barn of element ``z`` at ``energy`` (MeV, at most
    :data:`LIBRARY_EMAX`); ``kind``: ``"photo"`` or ``"coh"`` (Rayleigh)."""
    xraydb = require("xraydb")
    if not 1 <= z <= LIBRARY_Z_MAX:
        raise ValueError(f"Z={z} is outside the photon library (1-{LIBRARY_Z_MAX})")
    if np.any(energy > LIBRARY_EMAX * (1 + 1e-9)):
        raise ValueError(f"energies above {LIBRARY_EMAX} MeV are outside the photon library")
    symbol = xraydb.atomic_symbol(z)
    mu_rho = np.asarray(xraydb.mu_elam(symbol, np.asarray(energy) * 1e6, kind=kind), dtype=float)
    return mu_rho * xraydb.atomic_mass(z) / AVOGADRO * 1e24  # cm^2/g -> barn per atom


def edges(z: int) -> NDArray[np.float64]:
    """Absorption-edge energies of element ``z`` in the library, MeV (ascending)."""
    xraydb = require("xraydb")
    found = [e.energy * 1e-6 for e in xraydb.xray_edges(xraydb.atomic_symbol(z)).values()]
    return np.array(sorted(found))
