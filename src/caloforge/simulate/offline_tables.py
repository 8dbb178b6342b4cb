"""The offline Geant4 data tables and the physics formulas they are computed from.

:func:`caloforge.simulate.g4data.ensure_offline_data` writes these, once, in place of the
official data sets that ``G4EmStandardPhysics`` (option 0) insists on reading, from physics
formulas and Geant4's own data-free parameterisations:

* ``G4EMLOW/brem_SB/br{Z}``: for Z <= 92 the published Seltzer-Berger tables themselves,
  kept in the package (``data/seltzer_berger.npz``, see :func:`seltzer_berger_chi`); for
  Z > 92 (no published table) Tsai's screened Bethe-Heitler cross section with
  Thomas-Fermi screening (the physics of ``G4eBremsstrahlungRelModel`` without LPM),
  the Coulomb correction, a high-energy correction, faded in between 2 and 50 MeV as in
  Seltzer and Berger's own interpolation (see :func:`coulomb_weight` and
  :func:`formula_brem_table`, which also gives the formula tables of every Z for
  comparison);
* ``G4EMLOW/epics2017/phot/pe-*``: photo-effect cross section from the photon library
  (:mod:`caloforge.simulate.photon_library`, the ``photon-data`` extra) up to 800 keV
  and Geant4's Sandia parameterisation (``G4SandiaTable``) above, or Sandia at every
  energy without the extra; one shell, always tabulated;
* ``G4EMLOW/epics2017/rayl/re-cs-{Z}.dat``: Rayleigh scattering from the photon
  library, or a zero cross section (switched off) without the extra;
* ``G4ENSDFSTATE/ENSDFSTATE.dat``: empty; every other data set: an empty directory;
* with ``approximate_hadronic``: ``G4PARTICLEXS`` placeholder cross sections
  (geometric, energy independent), enough for FTFP_BERT to run qualitatively.

References:
    S. M. Seltzer, M. J. Berger, At. Data Nucl. Data Tables 35 (1986) 345 and NIM B12
    (1985) 95; Y.-S. Tsai, Rev. Mod. Phys. 46 (1974) 815; F. Biggs, R. Lighthill, Sandia report
    SAND 87-0070 (1988); Geant4 Physics Reference Manual, "Bremsstrahlung" and
    "Photoelectric effect".
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from caloforge.simulate.photon_library import LIBRARY_EMAX, LIBRARY_Z_MAX, edges, library_xs

Z_MAX = 100
"""Tables are generated for Z = 1..100 (all elements Geant4's NIST manager knows)."""


def write_em_tables(
    g4ledata: Path, z_values: range = range(1, Z_MAX + 1), source: str = "sandia"
) -> None:
    """Write the brem_SB, photo-effect and Rayleigh tables for ``z_values`` (imports
    Geant4); ``source``: :func:`~caloforge.simulate.photon_library.photon_data_source`
    (``"sandia"``: no photon library, Rayleigh off)."""
    import geant4_pybind as g4

    write_brem_tables(g4ledata / "brem_SB", z_values=z_values)
    phot = g4ledata / "epics2017" / "phot"
    rayl = g4ledata / "epics2017" / "rayl"
    for d in (phot, rayl):
        d.mkdir(parents=True, exist_ok=True)
    # a material-bound G4SandiaTable: its constructor fills the static interval index
    # that GetSandiaCofPerAtom needs (the default constructor does not)
    sandia = g4.G4NistManager.Instance().FindOrBuildMaterial("G4_Pb").GetSandiaTable()
    coeff = g4.G4doubleVector([0.0] * 4)

    def photo_xs(z: int, energy: np.ndarray) -> np.ndarray:
        out = np.empty_like(energy)
        for i, e in enumerate(energy):
            sandia.GetSandiaCofPerAtom(z, float(e), coeff)
            c = list(coeff)
            out[i] = c[0] / e + c[1] / e**2 + c[2] / e**3 + c[3] / e**4
        return np.maximum(out, 0.0)

    for z in z_values:
        library = source != "sandia" and z <= LIBRARY_Z_MAX
        energy = np.geomspace(PE_EMIN, PE_EMAX, 241)
        if library:
            energy = photo_energies(z, energy)
        sigma_barn = photo_xs(z, energy) / g4.barn
        if library:
            sigma_barn = join_library_photo(z, energy, sigma_barn)
        (phot / f"pe-cs-{z}.dat").write_text(_free_vector(energy, sigma_barn * energy**3))
        shell = _pe_param_file()
        (phot / f"pe-high-{z}.dat").write_text(shell)
        (phot / f"pe-low-{z}.dat").write_text(shell)
        (rayl / f"re-cs-{z}.dat").write_text(rayleigh_table(z if library else None))


def photo_energies(z: int, grid: np.ndarray) -> np.ndarray:
    """``grid`` with points on both sides of every absorption edge of element ``z`` in the
    photon library (the table is interpolated linearly between its points)."""
    e = edges(z)
    e = e[(e > grid[0]) & (e < LIBRARY_EMAX)]
    return np.unique(np.concatenate([grid, e * (1 - 1e-4), e * (1 + 1e-4)]))


def join_library_photo(z: int, energy: np.ndarray, sandia_barn: np.ndarray) -> np.ndarray:
    """Photo-effect cross section (barn): the library up to its top energy, then the
    Sandia values scaled to join it there, the scale fading to 1 at 10 MeV (in ln E)."""
    out = sandia_barn.copy()
    low = energy <= LIBRARY_EMAX
    out[low] = library_xs(z, energy[low], "photo")
    top = library_xs(z, np.array([LIBRARY_EMAX]), "photo")[0]
    ratio = top / float(np.interp(LIBRARY_EMAX, energy, sandia_barn))
    high = ~low
    fade = np.clip(np.log(energy[high] / 10.0) / np.log(LIBRARY_EMAX / 10.0), 0.0, 1.0)
    out[high] = sandia_barn[high] * (1.0 + (ratio - 1.0) * fade)
    return out


BARN_MM2 = 1e-22
"""One barn in mm^2 (Geant4's internal area unit)."""


def rayleigh_table(z: int | None) -> str:
    """``re-cs-{Z}.dat``: E^2 sigma in Geant4's internal units (MeV^2 mm^2), from the
    photon library up to its top energy and constant above (sigma falling as 1/E^2);
    ``z=None``: zero (Rayleigh scattering off)."""
    if z is None:
        e = np.geomspace(1e-4, 1e5, 4)
        return _free_vector(e, np.zeros_like(e))
    e = np.geomspace(PE_EMIN, LIBRARY_EMAX, 160)
    value = e**2 * library_xs(z, e, "coh") * BARN_MM2
    return _free_vector(np.append(e, PE_EMAX), np.append(value, value[-1]))


PE_EMIN = 1.0e-3
"""Lowest photo-effect table energy and single-shell binding energy, MeV (1 keV)."""
PE_EMAX = 1.0e5
"""Highest photo-effect table energy, MeV."""


def _free_vector(energy: np.ndarray, value: np.ndarray) -> str:
    """G4PhysicsFreeVector ascii format: ``Emin Emax N``, ``N``, then ``E value`` lines."""
    lines = [f"{energy[0]:.8e} {energy[-1]:.8e} {len(energy)}", f"{len(energy)}"]
    lines += [f"{e:.8e} {v:.8e}" for e, v in zip(energy, value, strict=True)]
    return "\n".join(lines) + "\n"


def _pe_param_file() -> str:
    """A one-shell parameterisation whose thresholds are never reached.

    Format (per G4LivermorePhotoElectricModel::ReadData): ``n_shells n_shells_used
    threshold`` then per shell 7 numbers: binding energy (MeV) and 6 fit parameters. The
    threshold (1e30 MeV) keeps Geant4 on the tabulated cross section at every energy; the
    binding energy (1 keV) is the lowest table energy.
    """
    return f"1 1 1e30\n{PE_EMIN:.6e} 0 0 0 0 0 0\n"


# ---- bremsstrahlung ---------------------------------------------------------------------
ELECTRON_MASS = 0.51099895  # MeV
ALPHA = 1.0 / 137.035999084
CLASSIC_RADIUS_MB = 2.8179403262e-13**2 * 1e27  # r_e^2 in millibarn (cm^2 -> mb: 1e27)

SB_KAPPA = np.array(
    [1e-12, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55,
     0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.925, 0.95, 0.97, 0.99, 0.995, 0.999, 0.9995,
     0.9999, 0.99995, 0.99999, 1.0]
)  # fmt: skip
"""Reduced photon energies k/T of the tables (the Seltzer-Berger grid)."""
_SB_MANTISSAS = np.array([1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0])
SB_LOG_T = np.log(np.append((_SB_MANTISSAS * 10.0 ** np.arange(-3, 4)[:, None]).ravel(), 1e4))
"""ln(T/MeV) of the tables: 1 keV to 10 GeV at 1, 1.5, 2, 3, 4, 5, 6, 8 per decade (the
Seltzer-Berger grid; Geant4 uses the table below 1 GeV)."""

_KAPPA_FROM_0 = np.append(0.0, SB_KAPPA[1:])
"""The kappa grid with its first point at 0 (the tables' 1e-12), for integrals over kappa."""

SB_Z_MAX = 92
"""The published tables cover Z = 1..92."""
SB_TABLE = Path(__file__).parent / "data" / "seltzer_berger.npz"
"""The kept Seltzer-Berger table (built by ``benchmarks/seltzer_berger_table.py``)."""

_FEL_LOW = (0.0, 5.3104, 4.7935, 4.7402, 4.7112)  # Dirac-Fock L_el, Z < 5 (Geant4 values)
_FINEL_LOW = (0.0, 5.9173, 5.6125, 5.5377, 5.4728)  # Dirac-Fock L_inel, Z < 5


def coulomb_correction(z: int) -> float:
    """Davies-Bethe-Maximon Coulomb correction f(Z) (the Geant4 G4Element formula)."""
    az2 = (ALPHA * z) ** 2
    az4 = az2 * az2
    return (0.0083 * az4 + 0.20206 + 1.0 / (1.0 + az2)) * az2 - (0.0020 * az4 + 0.0369) * az4


COULOMB_T_LOW = 2.0
"""Electron kinetic energy (MeV) below which no Coulomb correction is applied."""
COULOMB_T_HIGH = 50.0
"""Electron kinetic energy (MeV) above which the full Coulomb correction is applied."""


def coulomb_weight(kinetic: np.ndarray) -> np.ndarray:
    """Weight of the Coulomb correction at electron kinetic energy ``kinetic`` (MeV).

    The Davies-Bethe-Maximon correction is a high-energy result; at a few MeV it lowers
    the Born cross section too much (Seltzer and Berger, NIM B12 (1985) 95, use it above
    50 MeV, Pratt's partial-wave results below 2 MeV, and interpolate between). Here the
    weight rises linearly in ln T from 0 at 2 MeV to 1 at 50 MeV. Measured effect: with
    the full correction at all energies, brems dE/dx in Pb is 0.36 / 0.69 x E/X0 at 1 /
    10 MeV and the atlas-pblar sampling fraction 0.5% above the reference data's; with
    the fade, 0.42 / 0.73 x E/X0 and within 0.2% (docs/simulation.md).
    """
    t = np.asarray(kinetic, dtype=float)
    span = math.log(COULOMB_T_HIGH / COULOMB_T_LOW)
    return np.clip(np.log(np.maximum(t, 1e-12) / COULOMB_T_LOW) / span, 0.0, 1.0)


def tsai_k_dsigma_dk(z: int, kinetic: np.ndarray, k: np.ndarray) -> np.ndarray:
    """k dsigma/dk for bremsstrahlung of an electron on an atom, millibarn.

    Tsai's screened Bethe-Heitler cross section (Rev. Mod. Phys. 46 (1974) 815, eqs.
    3.9, 3.38-3.41) with Thomas-Fermi screening functions and the Coulomb correction
    (weighted by :func:`coulomb_weight`), complete screening with Dirac-Fock radiation
    logarithms for Z < 5: Geant4's ``G4eBremsstrahlungRelModel`` formula without the
    LPM and dielectric suppression.

    Arguments:
        z: atomic number.
        kinetic: electron kinetic energy, MeV (broadcast with ``k``).
        k: photon energy, MeV.
    """
    total = kinetic + ELECTRON_MASS
    y = np.clip(k / total, 0.0, 1.0 - 1e-12)
    onemy = 1.0 - y
    dum0 = onemy + 0.75 * y * y
    logz = math.log(z)
    fc = coulomb_correction(z) * coulomb_weight(kinetic)
    if z < 5:
        f_el, f_inel = _FEL_LOW[z], _FINEL_LOW[z]
        bracket = dum0 * ((f_el - fc) + f_inel / z) + onemy * (1.0 + 1.0 / z) / 12.0
    else:
        z13 = z ** (1.0 / 3.0)
        dum1 = y / (total - k)
        gam = dum1 * 100.0 * ELECTRON_MASS / z13
        eps = dum1 * 100.0 * ELECTRON_MASS / (z13 * z13)
        phi1 = (
            16.863
            - 2.0 * np.log(1.0 + 0.311877 * gam**2)
            + 2.4 * np.exp(-0.9 * gam)
            + 1.6 * np.exp(-1.5 * gam)
        )
        phi1m2 = 2.0 / (3.0 + 19.5 * gam + 18.0 * gam**2)
        psi1 = (
            24.34
            - 2.0 * np.log(1.0 + 13.111641 * eps**2)
            + 2.8 * np.exp(-8.0 * eps)
            + 1.2 * np.exp(-29.2 * eps)
        )
        psi1m2 = 2.0 / (3.0 + 120.0 * eps + 1200.0 * eps**2)
        bracket = dum0 * ((0.25 * phi1 - logz / 3.0 - fc) + (0.25 * psi1 - 2.0 * logz / 3.0) / z)
        bracket = bracket + 0.125 * onemy * (phi1m2 + psi1m2 / z)
    factor = 16.0 / 3.0 * ALPHA * CLASSIC_RADIUS_MB * z * z
    return factor * np.maximum(bracket, 0.0)


@functools.cache
def _seltzer_berger() -> np.ndarray:
    with np.load(SB_TABLE) as data:
        chi = data["chi_mb"].astype(float)
    if chi.shape != (SB_Z_MAX, len(SB_LOG_T), len(SB_KAPPA)):
        raise ValueError(f"{SB_TABLE}: chi_mb has shape {chi.shape}")
    return chi


def seltzer_berger_chi(z: int) -> np.ndarray:
    """The published scaled cross section chi = (beta^2/Z^2) k dsigma/dk of element ``z``
    (1..92), millibarn, on the grid (:data:`SB_LOG_T`, :data:`SB_KAPPA`): shape (57, 32).

    Source: S. M. Seltzer (NBS, 1984), the tables of Seltzer and Berger, At. Data Nucl.
    Data Tables 35 (1986) 345, kept in float32 (``data/README.md``).
    """
    if not 1 <= z <= SB_Z_MAX:
        raise ValueError(f"Seltzer-Berger tables cover Z = 1..{SB_Z_MAX}, not {z}")
    return _seltzer_berger()[z - 1].copy()


def _beta2(kinetic: Any) -> Any:
    """(v/c)^2 of an electron of kinetic energy ``kinetic`` (MeV, a number or an array)."""
    return kinetic * (kinetic + 2 * ELECTRON_MASS) / (kinetic + ELECTRON_MASS) ** 2


def formula_chi(z: int) -> np.ndarray:
    """chi = (beta^2/Z^2) k dsigma/dk (mb) from :func:`tsai_k_dsigma_dk` on the table grid."""
    t = np.exp(SB_LOG_T)[:, None]
    kappa = SB_KAPPA[None, :]
    return _beta2(t) / z**2 * tsai_k_dsigma_dk(z, t, kappa * t)


def brem_sb_table(z: int) -> str:
    """The ``brem_SB/br{Z}`` file: the published table for Z <= 92, the formula above."""
    return physics_2d_vector(seltzer_berger_chi(z) if z <= SB_Z_MAX else formula_chi(z))


def formula_brem_table(z: int) -> str:
    """A ``brem_SB/br{Z}`` file from the formula (:func:`formula_chi`) at every Z."""
    return physics_2d_vector(formula_chi(z))


def write_brem_tables(
    folder: Path,
    table: Callable[[int], str] = brem_sb_table,
    z_values: Iterable[int] = range(1, Z_MAX + 1),
) -> None:
    """Write ``folder/br{Z}`` for ``z_values`` from ``table(z)`` (default the offline
    tables, :func:`brem_sb_table`; :func:`formula_brem_table` for the formula at every Z)."""
    folder.mkdir(parents=True, exist_ok=True)
    for z in z_values:
        (folder / f"br{z}").write_text(table(z))


def physics_2d_vector(chi: np.ndarray) -> str:
    """G4Physics2DVector ascii of ``chi`` (57 x 32) on the table grid, as Geant4 reads
    ``br{Z}``: ``2 n_kappa n_logT``, the kappa values, the ln T values, one row per T."""
    lines = [f"2 {len(SB_KAPPA)} {len(SB_LOG_T)}"]
    lines.append(" ".join(f"{x:.6e}" for x in SB_KAPPA))
    lines.append(" ".join(f"{x:.6e}" for x in SB_LOG_T))
    lines += [" ".join(f"{x:.6e}" for x in row) for row in chi]
    return "\n".join(lines) + "\n"


def _row(chi: np.ndarray, kinetic: float) -> np.ndarray:
    """chi at ``kinetic`` (MeV), linear in ln T between the table's rows (as Geant4)."""
    lt = math.log(kinetic)
    if not SB_LOG_T[0] <= lt <= SB_LOG_T[-1]:
        raise ValueError(f"kinetic energy {kinetic} MeV outside the table (1 keV-10 GeV)")
    i = min(int(np.searchsorted(SB_LOG_T, lt, side="right")) - 1, len(SB_LOG_T) - 2)
    w = (lt - SB_LOG_T[i]) / (SB_LOG_T[i + 1] - SB_LOG_T[i])
    return np.asarray((1 - w) * chi[i] + w * chi[i + 1])


def energy_loss_xs(chi: np.ndarray, z: int, kinetic: float) -> float:
    """Radiative energy-loss cross section of a table, MeV mb per atom: the integral of
    k dsigma/dk over 0 < k < T, = (Z^2/beta^2) T times the integral of chi over k/T
    (chi linear in k/T between grid points, as Geant4 interpolates it).

    Arguments:
        chi: a table on (:data:`SB_LOG_T`, :data:`SB_KAPPA`), e.g.
            :func:`seltzer_berger_chi`, mb.
        z: atomic number.
        kinetic: electron kinetic energy T, MeV.
    """
    integral = float(np.trapezoid(_row(chi, kinetic), _KAPPA_FROM_0))
    return z * z / _beta2(kinetic) * kinetic * integral


def photon_xs(chi: np.ndarray, z: int, kinetic: float, k_cut: float) -> float:
    """Bremsstrahlung cross section of a table for photons with k_cut < k < T, mb per
    atom: (Z^2/beta^2) times the integral of chi/kappa over k_cut/T < kappa < 1."""
    lo = k_cut / kinetic
    if lo >= 1.0:
        return 0.0
    kappa = _KAPPA_FROM_0
    x = np.unique(np.concatenate([np.geomspace(lo, 1.0, 4001), kappa[kappa > lo]]))
    value = np.interp(x, kappa, _row(chi, kinetic))
    return z * z / _beta2(kinetic) * float(np.trapezoid(value, np.log(x)))


# ---- hadronic placeholders --------------------------------------------------------------
def write_particlexs_placeholders(root: Path, z_values: range = range(1, Z_MAX + 1)) -> None:
    """Placeholder ``G4PARTICLEXS`` files: energy-independent geometric cross sections.

    Inelastic ~ 45 mb A^0.7, elastic ~ 0.75 x inelastic, capture 1 mb: enough for
    FTFP_BERT to run, not for quantitative hadronic showers (marked approximate).
    G4PhysicsVector ascii format in internal units (MeV, mm^2).
    """
    energy = np.array([1e-11, 1e-5, 1.0, 1e2, 1e5, 1e7])
    mm2_per_mb = 1e-25  # 1 mb = 1e-27 cm^2 = 1e-25 mm^2
    for sub in ("neutron", "gamma", "proton", "deuteron", "triton", "he3", "alpha"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for z in z_values:
        a = 1.0 if z == 1 else 2.5 * z
        inel = 45.0 * a**0.7 * mm2_per_mb
        files = {
            f"neutron/inel{z}": inel,
            f"neutron/el{z}": 0.75 * inel,
            f"neutron/cap{z}": 1.0 * mm2_per_mb,
            f"gamma/inel{z}": 0.005 * inel,
        }
        for sub in ("proton", "deuteron", "triton", "he3", "alpha"):
            files[f"{sub}/inel{z}"] = inel
            files[f"{sub}/el{z}"] = 0.75 * inel
        for name, value in files.items():
            (root / name).write_text(_free_vector(energy, np.full_like(energy, value)))
