"""Geant4 data: mode selection, generated tables and their physics."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from caloforge.data.hdf5 import ShowerFile
from caloforge.simulate import g4data, offline_tables
from caloforge.simulate.g4data import G4DataError, resolve_g4data
from caloforge.simulate.offline_tables import brem_sb_table, tsai_k_dsigma_dk

from .conftest import needs_geant4

AVOGADRO = 6.02214076e23


def test_brems_reaches_e_over_x0_at_high_energy() -> None:
    """Integral of k dsigma/dk over y = k/E gives E/X0: Pb X0 = 6.37 g/cm^2 (PDG)."""
    e = 1e5  # 100 GeV: complete screening, the regime where X0 is defined
    y = np.linspace(1e-6, 1 - 1e-9, 20001)
    kds = tsai_k_dsigma_dk(82, np.full_like(y, e), y * (e + offline_tables.ELECTRON_MASS))
    inv_x0 = np.trapezoid(kds, y) * 1e-27 * AVOGADRO / 207.2  # mb -> cm^2, per g/cm^2
    assert 1 / inv_x0 == pytest.approx(6.37, rel=0.02)


def test_coulomb_correction_fades_in_between_2_and_50_mev(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    weight = offline_tables.coulomb_weight(np.array([0.5, 2.0, 10.0, 50.0, 1e4]))
    assert weight[0] == 0.0 and weight[1] == 0.0
    assert weight[2] == pytest.approx(np.log(5) / np.log(25))
    assert weight[3] == pytest.approx(1.0) and weight[4] == 1.0
    y = np.array([0.3])
    faded = {t: tsai_k_dsigma_dk(82, np.array([t]), y * t)[0] for t in (5.0, 500.0)}
    monkeypatch.setattr(offline_tables, "coulomb_weight", lambda t: np.ones_like(t))
    full = {t: tsai_k_dsigma_dk(82, np.array([t]), y * t)[0] for t in (5.0, 500.0)}
    # the correction lowers the cross section: less so at 5 MeV, unchanged above 50 MeV
    assert faded[5.0] > 1.05 * full[5.0]
    assert faded[500.0] == pytest.approx(full[500.0])


def test_brem_table_format() -> None:
    lines = brem_sb_table(82).splitlines()
    assert lines[0] == f"2 {len(offline_tables.SB_KAPPA)} {len(offline_tables.SB_LOG_T)}"
    table = np.array([[float(v) for v in line.split()] for line in lines[3:]])
    assert table.shape == (len(offline_tables.SB_LOG_T), len(offline_tables.SB_KAPPA))
    assert np.all(np.isfinite(table)) and np.all(table >= 0)
    # chi = beta^2/Z^2 k dsigma/dk: a few mb at high energy for Pb (Seltzer-Berger: ~5-12)
    assert 3.0 < table[-1, 0] < 15.0


def _official_layout(root: Path, skip: tuple[str, ...] = ()) -> Path:
    """Empty data-set directories named as the official Geant4 distribution names them."""
    _, names = g4data.dataset_names()
    for var, name in names.items():
        if var not in skip:
            (root / name).mkdir(parents=True)
    return root


def test_explicit_dir_is_official(tmp_path: Path) -> None:
    setup = resolve_g4data(_official_layout(tmp_path))
    _, names = g4data.dataset_names()
    assert setup.mode == "official"
    assert setup.env["G4LEDATA"] == str(tmp_path / names["G4LEDATA"])
    with pytest.raises(ValueError, match="not a directory"):
        resolve_g4data(tmp_path / "missing")


@pytest.mark.parametrize("variable", ["G4LEDATA", "G4ENSDFSTATEDATA"])
def test_official_dir_without_an_em_data_set_is_refused(tmp_path: Path, variable: str) -> None:
    _official_layout(tmp_path, skip=(variable,))
    _, names = g4data.dataset_names()
    with pytest.raises(ValueError, match=rf"missing .*{names[variable]}"):
        resolve_g4data(tmp_path)


def test_hadronic_data_sets_are_needed_only_for_hadrons(tmp_path: Path) -> None:
    _official_layout(tmp_path, skip=("G4PARTICLEXSDATA",))
    assert resolve_g4data(tmp_path).mode == "official"
    with pytest.raises(ValueError, match=r"missing .*G4PARTICLEXS"):
        resolve_g4data(tmp_path, hadronic=True)


def test_geant4_data_dir_is_official(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEANT4_DATA_DIR", str(_official_layout(tmp_path)))
    setup = resolve_g4data(hadronic=True)  # hadrons allowed with official data
    assert setup.mode == "official" and setup.env["GEANT4_DATA_DIR"] == str(tmp_path)


def test_a_variable_overrides_the_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _official_layout(tmp_path / "root", skip=("G4LEDATA",))
    (tmp_path / "emlow").mkdir()
    monkeypatch.setenv("GEANT4_DATA_DIR", str(tmp_path / "root"))
    monkeypatch.setenv("G4LEDATA", str(tmp_path / "emlow"))
    assert resolve_g4data().env["G4LEDATA"] == str(tmp_path / "emlow")


def test_all_twelve_variables_are_official(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, names = g4data.dataset_names()
    for var, name in names.items():
        (tmp_path / name).mkdir()
        monkeypatch.setenv(var, str(tmp_path / name))
    assert resolve_g4data().mode == "official"


def test_offline_hadrons_are_refused_with_the_data_sets_named() -> None:
    with pytest.raises(ValueError, match=r"G4PARTICLEXS.*G4NDL.*approximate_hadronic"):
        resolve_g4data(hadronic=True)


def test_real_data_is_never_overwritten(tmp_path: Path) -> None:
    real = tmp_path / "real"
    (real / "G4EMLOW8.8").mkdir(parents=True)
    with pytest.raises(G4DataError, match="refusing to overwrite"):
        g4data.ensure_offline_data(real)
    assert sorted(p.name for p in real.iterdir()) == ["G4EMLOW8.8"]


@needs_geant4
def test_offline_generation(g4cache: Path) -> None:
    setup = resolve_g4data()
    assert setup.mode == "offline" and setup.root == g4cache
    marker = json.loads((g4cache / g4data.MARKER).read_text())
    assert marker["generator_version"] == g4data.GENERATOR_VERSION
    assert (g4cache / "G4ENSDFSTATE3.0" / "ENSDFSTATE.dat").read_text() == ""
    phot = g4cache / "G4EMLOW8.8" / "epics2017" / "phot" / "pe-cs-82.dat"
    rows = np.loadtxt(phot, skiprows=2)
    e, sigma_e3 = rows[:, 0], rows[:, 1]
    # Pb photo-effect at 100 keV: XCOM 5.23 cm^2/g (from G4SandiaTable, within 3%)
    mu = np.interp(0.1, e, sigma_e3) / 0.1**3 * 1e-24 * AVOGADRO / 207.2
    assert mu == pytest.approx(5.23, rel=0.03)
    # a second call reuses the cache (no regeneration)
    stamp = (g4cache / g4data.MARKER).stat().st_mtime_ns
    assert resolve_g4data().root == g4cache
    assert (g4cache / g4data.MARKER).stat().st_mtime_ns == stamp


@needs_geant4
def test_approximate_hadronic_adds_placeholders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALOFORGE_G4DATA_CACHE", str(tmp_path / "hcache"))
    setup = resolve_g4data(hadronic=True, approximate_hadronic=True)
    assert setup.mode == "offline" and setup.approximate_hadronic
    assert (tmp_path / "hcache" / "G4PARTICLEXS4.2" / "neutron" / "inel26").exists()


@needs_geant4
def test_official_data_run_from_the_command_line(g4cache: Path, tmp_path: Path) -> None:
    """A directory laid out as the official data sets (here the generated tables copied
    under their official names, without caloforge's marker) runs through ``--g4-data``:
    the file records official mode, and the same tables give the same showers."""
    resolve_g4data()  # make sure the offline data exist
    official = tmp_path / "geant4-data"
    shutil.copytree(g4cache, official, ignore=shutil.ignore_patterns(g4data.MARKER))
    _, names = g4data.dataset_names()
    assert sorted(p.name for p in official.iterdir()) == sorted(names.values())
    exe = Path(sys.executable).parent / "caloforge"
    common = ["simulate", "-d", "atlas-pblar", "--particle", "e-", "--energy", "1GeV", "-n", "3"]
    outputs = {}
    for mode, extra in (("official", ["--g4-data", str(official)]), ("offline", [])):
        out = tmp_path / f"{mode}.h5"
        proc = subprocess.run(
            [str(exe), *common, *extra, "-q", "-o", str(out)],
            env=os.environ,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr
        outputs[mode] = ShowerFile(out)
    generator = json.loads(outputs["official"].attrs["generator"])
    assert generator["g4data"]["mode"] == "official"
    assert generator["g4data"]["root"] == str(official)
    assert generator["approximate"] is False
    np.testing.assert_array_equal(
        outputs["official"].read("showers"), outputs["offline"].read("showers")
    )
    assert outputs["official"].read("showers").sum() > 0


def test_official_dir_lacking_g4emlow_is_one_line(tmp_path: Path) -> None:
    _official_layout(tmp_path, skip=("G4LEDATA",))
    exe = Path(sys.executable).parent / "caloforge"
    proc = subprocess.run(
        [
            str(exe),
            "simulate",
            "-d",
            "atlas-pblar",
            "-n",
            "1",
            "--g4-data",
            str(tmp_path),
            "-q",
            "-o",
            str(tmp_path / "out.h5"),
        ],
        env=os.environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "G4EMLOW" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
