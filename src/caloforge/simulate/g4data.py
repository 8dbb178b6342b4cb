"""Geant4 data sets: official ones when the user has them, generated stand-ins otherwise.

Geant4 reads ~2 GB of data sets (cross sections, de-excitation, ...) that the PyPI wheel
does not ship and that cannot be downloaded offline. This module chooses between two
modes, and the choice is recorded in every output file:

``official``
    ``g4_data=DIR``, ``GEANT4_DATA_DIR`` or all twelve ``G4*DATA`` variables point to
    existing directories: they are used as they are (FTFP_BERT allowed, EM option 0 or 4).
``offline``
    caloforge generates, once, in a cache folder it owns (default
    ``~/.cache/caloforge/g4data-<geant4 version>``, or ``$CALOFORGE_G4DATA_CACHE``), the
    minimal data that ``G4EmStandardPhysics`` (option 0) insists on reading, from physics
    formulas and Geant4's own data-free parameterisations:

    * ``G4EMLOW/brem_SB/br{Z}``: Seltzer-Berger bremsstrahlung tables replaced by Tsai's
      screened Bethe-Heitler cross section with Thomas-Fermi screening (the physics of
      ``G4eBremsstrahlungRelModel`` without LPM); the Coulomb correction, a high-energy
      correction, is faded in between 2 and 50 MeV as in Seltzer and Berger's own
      interpolation (see :func:`coulomb_weight`);
    * ``G4EMLOW/epics2017/phot/pe-*``: photo-effect cross section from Geant4's Sandia
      parameterisation (``G4SandiaTable``), one shell, always tabulated;
    * ``G4EMLOW/epics2017/rayl/re-cs-{Z}.dat``: Rayleigh scattering with zero cross
      section (switched off);
    * ``G4ENSDFSTATE/ENSDFSTATE.dat``: empty; every other data set: an empty directory;
    * with ``approximate_hadronic``: ``G4PARTICLEXS`` placeholder cross sections
      (geometric, energy independent), enough for FTFP_BERT to run qualitatively.

    Hadrons are refused in offline mode unless ``approximate_hadronic=True``.

Geant4 must see the variables before ``import geant4_pybind`` (the import otherwise asks
on stdin whether to download the data): :func:`apply_environment` sets them, and is
called in the worker processes before the import. The calling process never imports
Geant4.

References:
    Y.-S. Tsai, Rev. Mod. Phys. 46 (1974) 815; F. Biggs, R. Lighthill, Sandia report
    SAND 87-0070 (1988); Geant4 Physics Reference Manual, "Bremsstrahlung" and
    "Photoelectric effect".
"""

from __future__ import annotations

import json
import logging
import math
import multiprocessing as mp
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Literal

import numpy as np

logger = logging.getLogger(__name__)

GENERATOR_VERSION = 2
"""Version of the generated tables; a cache with another version is regenerated."""

MARKER = "caloforge-g4data.json"
"""File that marks a directory as generated (and owned) by caloforge."""

Mode = Literal["official", "offline"]

# geant4-pybind version -> (Geant4 version, {environment variable: data-set directory})
_DATASETS: dict[str, tuple[str, dict[str, str]]] = {
    "0.1.3": (
        "11.4.p01",
        {
            "G4NEUTRONHPDATA": "G4NDL4.7.1",
            "G4LEDATA": "G4EMLOW8.8",
            "G4LEVELGAMMADATA": "PhotonEvaporation6.1.2",
            "G4RADIOACTIVEDATA": "RadioactiveDecay6.1.2",
            "G4PARTICLEXSDATA": "G4PARTICLEXS4.2",
            "G4PIIDATA": "G4PII1.3",
            "G4REALSURFACEDATA": "RealSurface2.2",
            "G4SAIDXSDATA": "G4SAIDDATA2.0",
            "G4ABLADATA": "G4ABLA3.3",
            "G4INCLDATA": "G4INCL1.3",
            "G4ENSDFSTATEDATA": "G4ENSDFSTATE3.0",
            "G4CHANNELINGDATA": "G4CHANNELING2.0",
        },
    )
}

HADRONIC_DATASETS = (
    "G4PARTICLEXS",
    "G4NDL",
    "PhotonEvaporation",
    "G4ENSDFSTATE",
    "G4INCL",
    "G4ABLA",
)
"""Data sets that hadronic physics (FTFP_BERT) needs, named in the offline refusal."""

Z_MAX = 100
"""Tables are generated for Z = 1..100 (all elements Geant4's NIST manager knows)."""


class G4DataError(RuntimeError):
    """The Geant4 data sets cannot be set up (unknown Geant4 build, real data in the way, ...)."""


@dataclass(frozen=True)
class G4DataSetup:
    """Resolved Geant4 data configuration, passed to the worker processes.

    Arguments:
        mode: ``"official"`` or ``"offline"``.
        root: the directory holding the data sets.
        env: environment variables to set before importing Geant4.
        geant4_version: Geant4 version of the installed wheel.
        approximate_hadronic: offline placeholder hadronic cross sections are in use.
    """

    mode: Mode
    root: Path
    env: dict[str, str] = field(default_factory=dict)
    geant4_version: str = ""
    approximate_hadronic: bool = False

    def describe(self) -> dict[str, str | bool | int]:
        """A JSON-friendly summary, written into output files."""
        return {
            "mode": self.mode,
            "root": str(self.root),
            "geant4_version": self.geant4_version,
            "approximate_hadronic": self.approximate_hadronic,
            "generator_version": GENERATOR_VERSION if self.mode == "offline" else "",
        }


# ---------------------------------------------------------------------------------------
# versions and locations
# ---------------------------------------------------------------------------------------
def geant4_pybind_version() -> str:
    """Version of the installed ``geant4-pybind`` wheel (without importing it)."""
    try:
        return metadata.version("geant4-pybind")
    except metadata.PackageNotFoundError:
        raise ImportError(
            "Geant4 simulation needs the geant4 extra: pip install 'caloforge[geant4]'"
        ) from None


def dataset_names() -> tuple[str, dict[str, str]]:
    """(Geant4 version, {variable: directory name}) expected by the installed wheel."""
    version = geant4_pybind_version()
    if version not in _DATASETS:
        known = ", ".join(sorted(_DATASETS))
        raise G4DataError(
            f"geant4-pybind {version} is not known to caloforge's offline data generator "
            f"(known: {known}); use official Geant4 data (GEANT4_DATA_DIR or --g4-data DIR)"
        )
    return _DATASETS[version]


def default_cache_dir() -> Path:
    """Cache folder of the generated data: ``$CALOFORGE_G4DATA_CACHE`` or ``~/.cache/...``."""
    env = os.environ.get("CALOFORGE_G4DATA_CACHE")
    if env:
        return Path(env).expanduser()
    g4version, _ = dataset_names()
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "caloforge" / f"g4data-{g4version}"


# ---------------------------------------------------------------------------------------
# mode selection
# ---------------------------------------------------------------------------------------
def _official_from_dir(root: Path, names: dict[str, str]) -> dict[str, str]:
    env = {"GEANT4_DATA_DIR": str(root)}
    for var, name in names.items():
        path = root / name
        if path.is_dir():
            env[var] = str(path)
    return env


def resolve_g4data(
    g4_data: str | Path | None = None,
    *,
    hadronic: bool = False,
    approximate_hadronic: bool = False,
    cache_dir: str | Path | None = None,
) -> G4DataSetup:
    """Choose the data mode and make sure the data exist.

    Arguments:
        g4_data: a directory with the official data sets (forces ``official`` mode).
        hadronic: the job needs hadronic physics (a hadron gun or FTFP_BERT).
        approximate_hadronic: in offline mode, accept placeholder hadronic cross sections
            (the output is then marked approximate).
        cache_dir: where to generate offline data (default :func:`default_cache_dir`).

    Returns:
        The resolved setup; in offline mode the data have been generated if needed.

    Raises:
        ValueError: ``g4_data`` is not a directory, or hadrons were asked for offline
            without ``approximate_hadronic``.
    """
    g4version, names = dataset_names()
    if g4_data is not None:
        root = Path(g4_data).expanduser()
        if not root.is_dir():
            raise ValueError(f"g4_data={str(g4_data)!r} is not a directory")
        return G4DataSetup("official", root, _official_from_dir(root, names), g4version)
    env_root = os.environ.get("GEANT4_DATA_DIR")
    if env_root and Path(env_root).is_dir() and not (Path(env_root) / MARKER).exists():
        root = Path(env_root)
        env = _official_from_dir(root, names)
        env.update({v: os.environ[v] for v in names if os.environ.get(v)})
        return G4DataSetup("official", root, env, g4version)
    given = {v: os.environ.get(v, "") for v in names}
    if all(p and Path(p).is_dir() for p in given.values()):
        root = Path(os.path.commonpath(list(given.values())))
        if not (Path(given["G4LEDATA"]).parent / MARKER).exists():
            return G4DataSetup("official", root, {"GEANT4_DATA_DIR": str(root), **given}, g4version)

    if hadronic and not approximate_hadronic:
        raise ValueError(
            "hadronic physics needs the official Geant4 data sets ("
            + ", ".join(HADRONIC_DATASETS)
            + "); set GEANT4_DATA_DIR or pass g4_data=DIR (--g4-data), or pass "
            "approximate_hadronic=True (--approximate-hadronic) to run with placeholder "
            "cross sections and mark the output as approximate"
        )
    root = ensure_offline_data(cache_dir, hadronic=hadronic and approximate_hadronic)
    env = {"GEANT4_DATA_DIR": str(root)}
    env.update({var: str(root / name) for var, name in names.items()})
    return G4DataSetup("offline", root, env, g4version, approximate_hadronic=hadronic)


def apply_environment(setup: G4DataSetup) -> None:
    """Set the Geant4 data variables in this process; call before ``import geant4_pybind``."""
    os.environ.update(setup.env)


# ---------------------------------------------------------------------------------------
# generation
# ---------------------------------------------------------------------------------------
def _read_marker(root: Path) -> dict[str, object] | None:
    try:
        return dict(json.loads((root / MARKER).read_text()))
    except (OSError, ValueError):
        return None


def _usable(root: Path, hadronic: bool) -> bool:
    marker = _read_marker(root)
    if marker is None or marker.get("generator_version") != GENERATOR_VERSION:
        return False
    return bool(marker.get("hadronic")) or not hadronic


def ensure_offline_data(cache_dir: str | Path | None = None, *, hadronic: bool = False) -> Path:
    """Generate the offline data in ``cache_dir`` unless a usable copy is already there.

    The data are written into a temporary sibling directory and renamed into place, so a
    concurrent or interrupted generation never leaves a half-written cache. A directory
    without caloforge's marker file (e.g. real Geant4 data) is never touched.

    Returns:
        The data directory.
    """
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    if _usable(root, hadronic):
        return root
    if root.exists() and _read_marker(root) is None:
        raise G4DataError(
            f"{root} exists and was not generated by caloforge (no {MARKER}); refusing to "
            "overwrite it. Use it as official data (GEANT4_DATA_DIR) or choose another "
            "cache folder (CALOFORGE_G4DATA_CACHE)"
        )
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.tmp-", dir=root.parent))
    try:
        logger.info("generating offline Geant4 data in %s (once)", root)
        ctx = mp.get_context("spawn")
        proc = ctx.Process(target=_generate_in_child, args=(str(tmp), hadronic))
        proc.start()
        proc.join()
        if proc.exitcode != 0:
            raise G4DataError(f"offline Geant4 data generation failed (exit code {proc.exitcode})")
        g4version, _ = dataset_names()
        marker = {
            "generator": "caloforge.simulate.g4data",
            "generator_version": GENERATOR_VERSION,
            "geant4_version": g4version,
            "geant4_pybind_version": geant4_pybind_version(),
            "hadronic": hadronic,
            "z_max": Z_MAX,
        }
        (tmp / MARKER).write_text(json.dumps(marker, indent=2) + "\n")
        if root.exists():  # an older caloforge-generated copy: move it away, then swap
            old = Path(tempfile.mkdtemp(prefix=f".{root.name}.old-", dir=root.parent))
            os.rename(root, old / "data")
            shutil.rmtree(old, ignore_errors=True)
        try:
            os.rename(tmp, root)
        except OSError:
            if not _usable(root, hadronic):  # not a concurrent winner: a real failure
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root


def _generate_in_child(tmp: str, hadronic: bool) -> None:
    """Spawned process: point Geant4 at the (still empty) tree, import it, write tables."""
    root = Path(tmp)
    _, names = dataset_names()
    for var, name in names.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        os.environ[var] = str(root / name)
    os.environ["GEANT4_DATA_DIR"] = str(root)
    (root / names["G4ENSDFSTATEDATA"] / "ENSDFSTATE.dat").write_text("")
    write_em_tables(root / names["G4LEDATA"])
    if hadronic:
        write_particlexs_placeholders(root / names["G4PARTICLEXSDATA"])


def write_em_tables(g4ledata: Path, z_values: range = range(1, Z_MAX + 1)) -> None:
    """Write the brem_SB, photo-effect and Rayleigh tables for ``z_values`` (imports Geant4)."""
    import geant4_pybind as g4

    brem = g4ledata / "brem_SB"
    phot = g4ledata / "epics2017" / "phot"
    rayl = g4ledata / "epics2017" / "rayl"
    for d in (brem, phot, rayl):
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
        (brem / f"br{z}").write_text(brem_sb_table(z))
        energy = np.geomspace(PE_EMIN, PE_EMAX, 241)
        sigma_barn = photo_xs(z, energy) / g4.barn
        (phot / f"pe-cs-{z}.dat").write_text(_free_vector(energy, sigma_barn * energy**3))
        shell = _pe_param_file()
        (phot / f"pe-high-{z}.dat").write_text(shell)
        (phot / f"pe-low-{z}.dat").write_text(shell)
        # Rayleigh switched off: E^2 sigma in internal units (MeV^2 mm^2), zero
        rayl_e = np.geomspace(1e-4, 1e5, 4)
        (rayl / f"re-cs-{z}.dat").write_text(_free_vector(rayl_e, np.zeros_like(rayl_e)))


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
SB_LOG_T = np.log(np.geomspace(1e-3, 1e4, 57))
"""ln(T/MeV) of the tables: 1 keV to 10 GeV (Geant4 uses the table below 1 GeV)."""

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


def brem_sb_table(z: int) -> str:
    """The ``brem_SB/br{Z}`` file: G4Physics2DVector ascii of chi = beta^2/Z^2 k dsigma/dk (mb)."""
    t = np.exp(SB_LOG_T)[:, None]
    kappa = SB_KAPPA[None, :]
    beta2 = t * (t + 2 * ELECTRON_MASS) / (t + ELECTRON_MASS) ** 2
    chi = beta2 / z**2 * tsai_k_dsigma_dk(z, t, kappa * t)
    lines = [f"2 {len(SB_KAPPA)} {len(SB_LOG_T)}"]
    lines.append(" ".join(f"{x:.6e}" for x in SB_KAPPA))
    lines.append(" ".join(f"{x:.6e}" for x in SB_LOG_T))
    lines += [" ".join(f"{x:.6e}" for x in row) for row in chi]
    return "\n".join(lines) + "\n"


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
