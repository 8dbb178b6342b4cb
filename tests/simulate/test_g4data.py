"""Geant4 data: mode selection, generated tables and their physics."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from caloforge.data.hdf5 import ShowerFile
from caloforge.simulate import g4data, offline_tables, photon_library
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


def _physics_2d_vector(text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read ``text`` as G4Physics2DVector::Retrieve does: a token stream of type, nx, ny,
    the x nodes, the y nodes, then the values, x fastest."""
    tokens = iter(text.split())
    kind, nx, ny = (int(next(tokens)) for _ in range(3))
    assert kind == 2
    x = np.array([float(next(tokens)) for _ in range(nx)])
    y = np.array([float(next(tokens)) for _ in range(ny)])
    values = np.array([float(next(tokens)) for _ in range(nx * ny)]).reshape(ny, nx)
    assert next(tokens, None) is None
    return x, y, values


def test_brem_table_is_the_published_table_below_z_93() -> None:
    kappa, log_t, chi = _physics_2d_vector(brem_sb_table(82))
    assert kappa == pytest.approx(offline_tables.SB_KAPPA, rel=1e-6)
    assert log_t == pytest.approx(offline_tables.SB_LOG_T, rel=1e-6)
    assert chi == pytest.approx(offline_tables.seltzer_berger_chi(82), rel=1e-6)
    # Pb at 10 GeV, k/T = 0.5, and at 1 MeV, k -> 0: the published values, in mb
    assert chi[-1, 12] == pytest.approx(7.34717, rel=1e-6)
    assert chi[24, 0] == pytest.approx(11.8851, rel=1e-6)
    # no published table above Z = 92: the formula
    assert brem_sb_table(100) == offline_tables.formula_brem_table(100)
    with pytest.raises(ValueError, match=r"1\.\.92"):
        offline_tables.seltzer_berger_chi(93)


def test_kept_table_grid_is_the_table_grid() -> None:
    with np.load(offline_tables.SB_TABLE) as data:
        assert np.log(data["kinetic_mev"]) == pytest.approx(offline_tables.SB_LOG_T, abs=1e-6)
        assert data["kappa"][0] == 0.0
        assert data["kappa"][1:] == pytest.approx(offline_tables.SB_KAPPA[1:], abs=1e-7)
        assert data["chi_mb"].shape == (92, 57, 32)
    t = np.exp(offline_tables.SB_LOG_T)
    assert t[:9] == pytest.approx([1e-3, 1.5e-3, 2e-3, 3e-3, 4e-3, 5e-3, 6e-3, 8e-3, 1e-2])


KEPT_TABLE_SHA256 = {
    4: "0c79277b280f92736e053918fab16001617d6bd046ce31d18aa4628e493feb50",
}
"""SHA-256 of the kept Seltzer-Berger table's arrays by offline tables version."""


def _kept_table_sha256() -> str:
    digest = hashlib.sha256()
    with np.load(offline_tables.SB_TABLE) as data:
        for name in sorted(data.files):
            array = np.ascontiguousarray(data[name])
            digest.update(f"{name} {array.dtype.str} {array.shape}".encode())
            digest.update(array.tobytes())
    return digest.hexdigest()


def test_kept_table_changes_with_the_tables_version() -> None:
    """A changed seltzer_berger.npz is other physics: caches (marker) and resume keys know
    the tables only by GENERATOR_VERSION, so the table's content is pinned to it."""
    assert KEPT_TABLE_SHA256.get(g4data.GENERATOR_VERSION) == _kept_table_sha256(), (
        "the kept Seltzer-Berger table differs from the one of offline tables version "
        f"{g4data.GENERATOR_VERSION}: bump g4data.GENERATOR_VERSION and pin the new hash here"
    )


def _build_table(
    nist: Path, out: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str]:
    """Exit code and stderr of ``benchmarks/seltzer_berger_table.py NIST --out OUT``."""
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "seltzer_berger_table.py"
    monkeypatch.setattr(sys, "argv", [str(script), str(nist), "--out", str(out)])
    code = 0
    try:
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as stop:
        code = int(stop.code or 0)
    return code, capsys.readouterr().err


def test_table_build_refuses_bad_nist_files_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kept table is rebuilt from the NIST files only when their grids are the package's."""
    t = np.exp(offline_tables.SB_LOG_T)
    kappa = np.append(0.0, offline_tables.SB_KAPPA[1:])
    grid = tmp_path / "nist_brems_grid"
    body = " ".join(f"{v:.8g}" for v in (*t, *kappa))
    cases = {
        "header": (f"92 57 31 {body}", {}, "nist_brems_grid: header 92 57 31, not 92 57 32"),
        "count": (f"92 57 32 {body}", {2: "1 2 3"}, "nist_brems_2: 3 numbers, not 1824"),
        "grid": (f"92 57 32 {body.replace('0.025', '0.03', 1)}", {}, "differ from SB_KAPPA"),
    }
    chi = " ".join(["1.5"] * (57 * 32))
    for z in range(1, 93):
        (tmp_path / f"nist_brems_{z}").write_text(chi)
    out = tmp_path / "table.npz"
    for name, (grid_text, replaced, message) in cases.items():
        grid.write_text(grid_text)
        for z, text in replaced.items():
            (tmp_path / f"nist_brems_{z}").write_text(text)
        code, err = _build_table(tmp_path, out, capsys, monkeypatch)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1, (name, err)
        assert lines[0].startswith("error: ") and message in lines[0], name
        assert not out.exists()
        for z in replaced:
            (tmp_path / f"nist_brems_{z}").write_text(chi)
    grid.write_text(f"92 57 32 {body}")
    code, err = _build_table(tmp_path, out, capsys, monkeypatch)
    assert code == 0, err
    with np.load(out) as data:
        assert data["chi_mb"].shape == (92, 57, 32) and np.all(data["chi_mb"] == 1.5)


def test_published_table_gives_e_over_x0_at_high_energy() -> None:
    """Pb at 10 GeV: radiative stopping power (T + m)/X0, X0 = 6.37 g/cm^2 (PDG)."""
    t = 1e4
    xs = offline_tables.energy_loss_xs(offline_tables.seltzer_berger_chi(82), 82, t)
    dedx = xs * 1e-27 * AVOGADRO / 207.2
    assert dedx == pytest.approx((t + offline_tables.ELECTRON_MASS) / 6.37, rel=0.01)
    # water at 1 MeV: 0.0128 MeV cm^2/g (Seltzer and Berger's radiative stopping power)
    water = sum(
        w / a * offline_tables.energy_loss_xs(offline_tables.seltzer_berger_chi(z), z, 1.0)
        for z, a, w in ((1, 1.008, 0.111894), (8, 15.999, 0.888106))
    )
    assert water * 1e-27 * AVOGADRO == pytest.approx(0.0128, rel=0.02)


def test_photon_number_integral_of_a_flat_table() -> None:
    """chi = 1 mb: (Z^2/beta^2) ln(T/k_cut) photons above k_cut, T Z^2/beta^2 of energy."""
    flat = np.ones((len(offline_tables.SB_LOG_T), len(offline_tables.SB_KAPPA)))
    t, m = 10.0, offline_tables.ELECTRON_MASS
    beta2 = t * (t + 2 * m) / (t + m) ** 2
    assert offline_tables.photon_xs(flat, 2, t, 0.1) == pytest.approx(4 / beta2 * np.log(100))
    assert offline_tables.energy_loss_xs(flat, 2, t) == pytest.approx(4 / beta2 * t)
    assert offline_tables.photon_xs(flat, 2, t, 20.0) == 0.0


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


BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def test_resolve_offline_refuses_official_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEANT4_DATA_DIR", str(_official_layout(tmp_path)))
    with pytest.raises(ValueError, match=r"official Geant4 data .*unset GEANT4_DATA_DIR"):
        g4data.resolve_offline(tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize("args", [["brems_tables.py"], ["brems_variants.py", "ref.h5"]])
def test_table_benchmarks_refuse_official_data(tmp_path: Path, args: list[str]) -> None:
    """They measure the offline tables: official data in the environment is one line."""
    src = Path(g4data.__file__).resolve().parents[2]
    env = {
        **os.environ,
        "GEANT4_DATA_DIR": str(_official_layout(tmp_path / "g4")),
        "PYTHONPATH": str(src),
        "OMP_NUM_THREADS": "1",
    }
    script, *rest = args
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *rest, "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: the environment selects official")
    assert str(tmp_path / "g4") in lines[0]


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


HAS_XRAYDB = importlib.util.find_spec("xraydb") is not None
needs_xraydb = pytest.mark.skipif(not HAS_XRAYDB, reason="needs the photon-data extra (xraydb)")


def test_without_the_photon_library_rayleigh_is_off() -> None:
    rows = np.loadtxt(io.StringIO(offline_tables.rayleigh_table(None)), skiprows=2)
    assert np.all(rows[:, 1] == 0)


def test_the_cache_follows_the_photon_data_source(
    g4cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cache written with another photo-effect/Rayleigh source is not reused."""
    g4cache.mkdir(parents=True, exist_ok=True)
    marker = {"generator_version": g4data.GENERATOR_VERSION, "photon_data": "sandia"}
    other = g4cache.parent / "other"
    other.mkdir(exist_ok=True)
    (other / g4data.MARKER).write_text(json.dumps(marker))
    monkeypatch.setattr(g4data, "photon_data_source", lambda: "sandia")
    assert g4data._usable(other, hadronic=False)
    monkeypatch.setattr(g4data, "photon_data_source", lambda: "xraydb-elam 4.5.8")
    assert not g4data._usable(other, hadronic=False)


@needs_xraydb
def test_rayleigh_table_units_and_high_energy_limit() -> None:
    """E^2 sigma in MeV^2 mm^2: Pb coherent at 100 keV is 0.2127 cm^2/g (Elam; XCOM
    0.2122), i.e. 73.2 barn per atom; constant E^2 sigma above the library (1/E^2)."""
    rows = np.loadtxt(io.StringIO(offline_tables.rayleigh_table(82)), skiprows=2)
    e, value = rows[:, 0], rows[:, 1]
    sigma_barn = np.interp(0.1, e, value) / 0.1**2 / offline_tables.BARN_MM2
    assert sigma_barn * AVOGADRO * 1e-24 / 207.2 == pytest.approx(0.2125, rel=0.01)
    assert value[-1] == value[-2] and e[-1] == offline_tables.PE_EMAX


@needs_xraydb
def test_library_photo_effect_joins_sandia_continuously() -> None:
    energy = offline_tables.photo_energies(82, np.geomspace(1e-3, 1e5, 241))
    edge_k = 0.088005
    assert np.any(np.isclose(energy, edge_k * (1 - 1e-4))) and np.all(np.diff(energy) > 0)
    top = photon_library.LIBRARY_EMAX
    at_top = photon_library.library_xs(82, np.array([top]), "photo")[0]
    sandia = 1.05 * at_top * (top / energy) ** 2.5  # a smooth stand-in, 5% high at the top
    joined = offline_tables.join_library_photo(82, energy, sandia)
    above = np.searchsorted(energy, top, side="right")
    # continuous at the top (the next point is 7% higher in energy), unscaled from 10 MeV
    assert joined[above] == pytest.approx(at_top * (top / energy[above]) ** 2.5, rel=0.01)
    assert joined[energy >= 10] == pytest.approx(sandia[energy >= 10])
    below, above = np.interp([edge_k * (1 - 1e-4), edge_k * (1 + 1e-4)], energy, joined)
    assert above / below > 4  # the K edge of lead (jump ratio 4.7)
