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
    minimal data that ``G4EmStandardPhysics`` (option 0) insists on reading; the tables
    and the physics formulas behind them are in :mod:`caloforge.simulate.offline_tables`.
    Hadrons are refused in offline mode unless ``approximate_hadronic=True``.

Geant4 must see the variables before ``import geant4_pybind`` (the import otherwise asks
on stdin whether to download the data): :func:`apply_environment` sets them, and is
called in the worker processes before the import. The calling process never imports
Geant4.
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Literal

from caloforge.simulate.offline_tables import (
    Z_MAX,
    write_em_tables,
    write_particlexs_placeholders,
)
from caloforge.simulate.photon_library import photon_data_source

logger = logging.getLogger(__name__)

GENERATOR_VERSION = 4
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

EM_VARIABLES = ("G4LEDATA", "G4ENSDFSTATEDATA")
"""Data sets that every physics list reads (G4EMLOW and G4ENSDFSTATE)."""

HADRONIC_VARIABLES = (
    "G4PARTICLEXSDATA",
    "G4NEUTRONHPDATA",
    "G4LEVELGAMMADATA",
    "G4INCLDATA",
    "G4ABLADATA",
)
"""Further data sets read by hadronic physics lists."""


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
        photon_data: offline: where the photo-effect and Rayleigh tables come from
            (:func:`~caloforge.simulate.photon_library.photon_data_source`).
    """

    mode: Mode
    root: Path
    env: dict[str, str] = field(default_factory=dict)
    geant4_version: str = ""
    approximate_hadronic: bool = False
    photon_data: str = ""

    def describe(self) -> dict[str, str | bool | int]:
        """A JSON-friendly summary, written into output files."""
        return {
            "mode": self.mode,
            "root": str(self.root),
            "geant4_version": self.geant4_version,
            "approximate_hadronic": self.approximate_hadronic,
            "generator_version": GENERATOR_VERSION if self.mode == "offline" else "",
            "photon_data": self.photon_data,
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
def _official_from_dir(
    root: Path, names: dict[str, str], hadronic: bool, given: dict[str, str] | None = None
) -> dict[str, str]:
    """The variables of an official data directory laid out as Geant4 ships it (one
    sub-directory per data set, named with its version), ``given`` variables taking
    precedence; the data sets that the job reads must exist."""
    paths = {
        var: Path(given[var]) if given and given.get(var) else root / name
        for var, name in names.items()
    }
    needed = EM_VARIABLES + (HADRONIC_VARIABLES if hadronic else ())
    missing = [str(paths[v]) for v in needed if not paths[v].is_dir()]
    if missing:
        g4version = _DATASETS[geant4_pybind_version()][0]
        raise ValueError(
            f"Geant4 data directory {str(root)!r}: missing {', '.join(missing)} "
            f"(data sets of Geant4 {g4version} that this run reads)"
        )
    env = {"GEANT4_DATA_DIR": str(root)}
    env.update({var: str(path) for var, path in paths.items() if path.is_dir()})
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
        ValueError: ``g4_data`` is not a directory or lacks a data set the job reads, or
            hadrons were asked for offline without ``approximate_hadronic``.
    """
    g4version, names = dataset_names()
    if g4_data is not None:
        root = Path(g4_data).expanduser()
        if not root.is_dir():
            raise ValueError(f"g4_data={str(g4_data)!r} is not a directory")
        env = _official_from_dir(root, names, hadronic)
        return G4DataSetup("official", root, env, g4version)
    env_root = os.environ.get("GEANT4_DATA_DIR")
    if env_root and Path(env_root).is_dir() and not (Path(env_root) / MARKER).exists():
        root = Path(env_root)
        given = {v: os.environ[v] for v in names if os.environ.get(v)}
        env = _official_from_dir(root, names, hadronic, given)
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
    photon = str((_read_marker(root) or {}).get("photon_data", ""))
    return G4DataSetup("offline", root, env, g4version, hadronic, photon)


def resolve_offline(cache_dir: str | Path | None = None) -> G4DataSetup:
    """:func:`resolve_g4data` for a measurement of the offline tables themselves.

    Raises:
        ValueError: the environment selects official data (``GEANT4_DATA_DIR`` or the
            ``G4*DATA`` variables), which would be measured in their place.
    """
    setup = resolve_g4data(cache_dir=cache_dir)
    if setup.mode != "offline":
        raise ValueError(
            f"the environment selects official Geant4 data ({setup.root}); unset "
            "GEANT4_DATA_DIR and the G4*DATA variables to measure the offline tables"
        )
    return setup


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
    if marker.get("photon_data") != photon_data_source():  # the extra came or went
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
        source = photon_data_source()
        proc = ctx.Process(target=_generate_in_child, args=(str(tmp), hadronic, source))
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
            "photon_data": source,
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


def _generate_in_child(tmp: str, hadronic: bool, source: str) -> None:
    """Spawned process: point Geant4 at the (still empty) tree, import it, write tables."""
    root = Path(tmp)
    _, names = dataset_names()
    for var, name in names.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        os.environ[var] = str(root / name)
    os.environ["GEANT4_DATA_DIR"] = str(root)
    (root / names["G4ENSDFSTATEDATA"] / "ENSDFSTATE.dat").write_text("")
    write_em_tables(root / names["G4LEDATA"], source=source)
    if hadronic:
        write_particlexs_placeholders(root / names["G4PARTICLEXSDATA"])
