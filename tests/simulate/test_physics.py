"""Physics validation of the Geant4 backend (slow tier: ``make test-slow``).

Tests that would fail on a broken simulation: sampling fraction, energy conservation,
longitudinal shower maximum, lateral containment, stochastic resolution, photon
attenuation, and agreement with the shared reference showers. All simulation runs in
worker processes; the runs are sized to take about a minute on one core in total.
"""

from __future__ import annotations

import itertools
import math
import os
from pathlib import Path

import numpy as np
import pytest

from caloforge.data.hdf5 import ShowerFile
from caloforge.geometry import Detector, detector_from_dict, load_detector
from caloforge.simulate import offline_tables, physics_checks
from caloforge.simulate.em_tables import em_tables

from .conftest import needs_geant4

pytestmark = [pytest.mark.slow, needs_geant4]

ATLAS = load_detector(physics_checks.DETECTOR)
SHARED = Path(
    os.environ.get("CALOFORGE_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data")
)


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory) -> physics_checks.EnergyScan:
    """atlas-pblar, electrons at 1, 10 and 100 GeV."""
    return physics_checks.energy_scan(tmp_path_factory.mktemp("scan"))


def test_sampling_fraction_is_constant(scan: physics_checks.EnergyScan) -> None:
    fractions = scan.sampling_fractions()
    ref = fractions[1e4]
    assert 0.15 < ref < 0.22, fractions
    for f in fractions.values():
        assert f == pytest.approx(ref, rel=0.03), fractions


def test_stochastic_term(scan: physics_checks.EnergyScan) -> None:
    """sigma/E * sqrt(E/GeV): 5-15% for 2 mm Pb / 4 mm LAr (sampling-fluctuation estimate
    2.7% sqrt(d_active/f_mip) ~ 10%; ATLAS-like stacks measure ~10%)."""
    stochastic = scan.stochastic_terms()
    terms = [stochastic[1e3], stochastic[1e4]]
    assert all(0.05 < a < 0.15 for a in terms), terms
    assert terms[0] == pytest.approx(terms[1], rel=0.3), terms


def test_energy_is_conserved(tmp_path: Path) -> None:
    """Deposited (active + absorber) plus the energy escaping the world = incident, 1%."""
    balance = physics_checks.energy_balance(tmp_path)
    assert balance.total == pytest.approx(1.0, rel=0.01)
    assert np.all(balance.escaped > 0)


@pytest.mark.parametrize("particle", ["e-", "gamma"])
def test_longitudinal_maximum(tmp_path: Path, particle: str) -> None:
    maxima = physics_checks.shower_maxima(tmp_path, particle)
    for m in maxima:
        assert m.depth == pytest.approx(m.expected, abs=1.5), m
    depths = [m.depth for m in maxima]
    assert all(a < b for a, b in itertools.pairwise(depths)), (particle, depths)


def test_moliere_containment(tmp_path: Path) -> None:
    inside, _ = physics_checks.moliere_containment(tmp_path)
    assert 0.85 < inside < 0.97, inside


# NIST XCOM, Pb, total attenuation with coherent scattering, cm^2/g
XCOM_PB = {1.0: 0.07102, 10.0: 0.04972}


def test_photon_attenuation_in_lead() -> None:
    tables = em_tables(("G4_Pb",), tuple(XCOM_PB))
    for e, mu in zip(XCOM_PB, tables.total_mu_rho("G4_Pb"), strict=True):
        assert mu == pytest.approx(XCOM_PB[e], rel=0.10), (e, mu)


def test_lead_bremsstrahlung_follows_the_seltzer_berger_table() -> None:
    """e- in Pb at 10 MeV: Geant4's radiative dE/dx and photons above 100 keV within 3% of
    the published table's integrals (the offline data carry that table)."""
    tables = em_tables(("G4_Pb",), (10.0,), photon_cut=0.1)
    ((z, atoms),) = tables.atoms_per_gram["G4_Pb"].items()
    chi = offline_tables.seltzer_berger_chi(z)
    dedx = atoms * offline_tables.energy_loss_xs(chi, z, 10.0) * 1e-27  # MeV cm^2/g
    photons = atoms * offline_tables.photon_xs(chi, z, 10.0, 0.1) * 1e-27  # per g/cm^2
    assert tables.dedx["G4_Pb"]["eBrem"][0] == pytest.approx(dedx, rel=0.03)
    assert tables.brem_photons["G4_Pb"][0] == pytest.approx(photons, rel=0.03)


@pytest.mark.skipif(
    not (SHARED / "atlas-pblar_gamma_val.h5").exists(), reason="shared reference data absent"
)
def test_atlas_reference_sampling_fraction(tmp_path: Path) -> None:
    ref = ShowerFile(SHARED / "atlas-pblar_gamma_val.h5", detector=ATLAS)
    e_ref = ref.read("incident_energies")[:, 0]
    vis_ref = ref.read("showers").sum(1)
    for (lo, hi), n in (((1e3, 2e3), 200), ((5e3, 2e4), 60)):
        sel = (e_ref >= lo) & (e_ref < hi)
        f_ref = float(np.mean(vis_ref[sel] / e_ref[sel]))
        d = physics_checks.run(
            tmp_path,
            f"ref{int(lo)}",
            detector=ATLAS,
            energy=f"loguniform:{lo}MeV,{hi}MeV",
            n=n,
            seed=21,
        )
        f = float(np.mean(d["showers"].sum(1) / d["incident_energies"][:, 0]))
        assert f == pytest.approx(f_ref, rel=0.01), (lo, hi, f, f_ref)


def _block(slices: int) -> Detector:
    """230 mm of PbWO4 (26 X0) read out in ``slices`` slices; one ring of 0.1 X0 around
    the shower axis and the rest, on a fine grid of 0.089 mm."""
    x0 = 8.903  # PbWO4, mm (PDG)
    return detector_from_dict(
        {
            "name": f"pbwo4-{slices}",
            "size_x": 60.0,
            "size_y": 60.0,
            "layers": [{"active": "PbWO4", "active_thickness": 230.0 / slices, "repeat": slices}],
            "readout": [
                {
                    "group": slices,
                    "segmentation": "cylindrical",
                    "n_alpha": 1,
                    "r_edges": [0.0, 0.1 * x0, 30.0],
                }
            ],
            "gun": {"particle": "e-", "position": [0.0, 0.0, -50.0]},
            "physics": {"scoring_pitch": 60.0 / 674},
        }
    )


@pytest.mark.parametrize("scoring", ["parallel", "steps"])
def test_readout_slices_do_not_change_the_shower(tmp_path: Path, scoring: str) -> None:
    """A homogeneous block read out in 1 or 10 slices (cells in a parallel world, or no
    readout volume and the steps binned by position): same visible energy and same energy
    within 0.1 X0 of the axis, within 3 standard errors (1 GeV e-, 100 each)."""
    results = {}
    for slices in (1, 10):
        d = physics_checks.run(
            tmp_path,
            f"block{slices}",
            detector=_block(slices),
            energy="1GeV",
            n=100,
            seed=3,
            impact="0.05,0.03",
            scoring=scoring,  # the block is one mass volume whatever the slices
        )
        e0 = d["incident_energies"][:, 0]
        results[slices] = (d["energy_active"] / e0, d["showers"][:, 0] / e0)
    for k, name in enumerate(("visible", "core")):
        a, b = results[1][k], results[10][k]
        error = math.hypot(a.std(), b.std()) / math.sqrt(len(a))
        assert abs(a.mean() - b.mean()) < 3 * error, (name, a.mean(), b.mean(), error)
        if scoring == "steps":  # the same mass geometry and steps: the slices only bin them
            assert a == pytest.approx(b, rel=1e-5), name
    assert 0.9 < results[1][0].mean() < 0.97  # 26 X0, 30 mm half-width: lateral leakage
    assert 0.1 < results[1][1].mean() < 0.25  # the core: about a sixth of the energy
