"""SimulationConfig validation and per-event conditions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from caloforge.geometry import Detector
from caloforge.simulate import SimulationConfig
from caloforge.simulate.config import event_batch
from caloforge.simulate.engine import _fingerprint
from caloforge.simulate.g4data import G4DataSetup


def test_defaults_from_the_gun(tiny: Detector) -> None:
    cfg = SimulationConfig(tiny, n=3)
    assert cfg.particle_name == "e-"
    assert cfg.resolved_physics == "em_opt0"
    b = event_batch(cfg, cfg.event_indices())
    assert b.position[:, 2] == pytest.approx(-50.0)
    assert b.impact[:, :2] == pytest.approx(np.tile([2.5, 2.5], (3, 1)))
    assert np.all(b.particle == 11)


def test_hadrons_get_a_hadronic_list(tiny: Detector) -> None:
    assert SimulationConfig(tiny, particle="pi+").resolved_physics == "FTFP_BERT"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"particle": "mu-"}, "mu-"),
        ({"n": -1}, "n=-1"),
        ({"n": 0}, "n=0"),
        ({"workers": 0}, "workers=0"),
        ({"theta": 95.0}, "theta '95'"),
        ({"theta": "uniform:0,90"}, r"theta 'uniform:0,90'.*\[0, 90\)"),
        ({"phi": "uniform:0,360"}, "give theta too"),
        ({"impact": "uniform:-500,0"}, "leaves the front face"),
        ({"impact": "uniform:-5,5", "impact_spread": 2.0}, "already a distribution"),
        ({"particle": "gamma:0.5,e-:0.4"}, "sum to 0.9"),
        ({"shard": (3, 3)}, "shard"),
        ({"physics": "QGSP"}, "QGSP"),
        ({"energy": "0.5GeV"}, "0.5GeV"),
        ({"impact_spread": -1.0}, "impact_spread"),
        ({"particle": "pi+", "physics": "em_opt0"}, "hadronic physics list"),
        ({"scoring": "mesh"}, "scoring='mesh'"),
    ],
)
def test_bad_values_are_named(tiny: Detector, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        SimulationConfig(tiny, **kwargs)


def test_events_depend_only_on_seed_and_index(tiny: Detector) -> None:
    cfg = SimulationConfig(
        tiny, energy="uniform:1GeV,100GeV", n=10, impact_spread=5.0, theta=10, phi=30, seed=7
    )
    full = event_batch(cfg, np.arange(10))
    part = event_batch(cfg, np.array([3, 7]))
    assert full.energy[[3, 7]] == pytest.approx(part.energy)
    assert np.array_equal(full.g4_seed[[3, 7]], part.g4_seed)
    assert np.all(np.abs(full.impact[:, :2] - 2.5) <= 2.5)
    # the gun starts on the line through the impact point, 50 mm upstream along it
    t = (full.impact - full.position) / full.direction
    assert t == pytest.approx(np.full((10, 3), 50.0))
    other = event_batch(
        SimulationConfig(tiny, energy="uniform:1GeV,100GeV", n=10, seed=8), np.arange(10)
    )
    assert not np.allclose(full.energy, other.energy)


def test_mixture_angles_and_impact_are_drawn_per_event(tiny: Detector) -> None:
    cfg = SimulationConfig(
        tiny,
        particle="gamma,e-,e+",
        energy="loguniform:1GeV,10GeV",
        theta="uniform:0,20",
        phi="uniform:0,360",
        impact="uniform:-10,10/list:-1,1",
        n=300,
        seed=3,
    )
    b = event_batch(cfg, np.arange(300))
    counts = np.array([np.sum(b.particle == p) for p in (22, 11, -11)])
    assert counts.sum() == 300 and counts.min() > 70  # equal parts within noise
    theta = np.degrees(np.arccos(b.direction[:, 2]))
    assert theta.min() >= 0 and theta.max() <= 20 and theta.std() > 4
    phi = np.degrees(np.arctan2(b.direction[:, 1], b.direction[:, 0]))
    assert phi.min() < -150 and phi.max() > 150
    assert np.linalg.norm(b.direction, axis=1) == pytest.approx(1.0)
    assert np.abs(b.impact[:, 0]).max() <= 10 and b.impact[:, 0].std() > 4
    assert b.impact[:, 1].tolist() == [-1.0, 1.0] * 150
    # one event depends only on (seed, index): drawn alone or among others
    alone = event_batch(cfg, np.array([123]))
    for key in ("energy", "particle", "direction", "impact", "g4_seed"):
        assert np.array_equal(getattr(alone, key)[0], getattr(b, key)[123]), key
    assert cfg.particle_names == ("gamma", "e-", "e+") and not cfg.is_hadronic
    assert SimulationConfig(tiny, particle="gamma,pi+").resolved_physics == "FTFP_BERT"


def test_the_gun_starts_inside_the_world_at_grazing_incidence(tiny: Detector) -> None:
    cfg = SimulationConfig(tiny, theta=89.5, phi=30.0, n=1)
    b = event_batch(cfg, np.arange(1))
    assert -50.0 < b.position[0, 2] < 0.0
    assert np.hypot(*(b.position[0, :2] - b.impact[0, :2])) <= 50.0


def test_fixed_conditions_draw_only_the_energy(tiny: Detector) -> None:
    """Runs without spread conditions keep the events (and the resume key) of earlier
    versions: the energy is the only draw from each event's generator."""
    cfg = SimulationConfig(tiny, energy="uniform:1GeV,100GeV", n=5, theta=10.0, phi=30.0, seed=4)
    b = event_batch(cfg, np.arange(5))
    for i in range(5):
        rng = np.random.default_rng(
            int(np.random.SeedSequence([4, i]).generate_state(2, dtype=np.uint32)[1])
        )
        assert b.energy[i] == rng.uniform(1e3, 1e5)
    d = cfg.to_dict()
    assert (d["theta"], d["phi"], d["impact"], d["impact_spread"]) == (10.0, 30.0, None, 0.0)


def test_shards_partition_the_events(tiny: Detector) -> None:
    parts = [SimulationConfig(tiny, n=11, shard=(k, 3)).event_indices() for k in range(3)]
    assert sorted(np.concatenate(parts).tolist()) == list(range(11))


def test_scoring_mode_enters_the_resume_key(tiny: Detector, tmp_path: Path) -> None:
    """The three layouts are different runs; the former layout keeps its former key."""
    setup = G4DataSetup("offline", tmp_path)
    keys = {}
    for mode in ("parallel", "replica", "steps"):
        cfg = SimulationConfig(tiny, scoring=mode)  # type: ignore[arg-type]
        keys[mode] = _fingerprint(cfg, setup, 5.0)
        assert ("scoring" in cfg.to_dict()) == (mode != "replica")
    assert len(set(keys.values())) == 3
    library = G4DataSetup("offline", tmp_path, photon_data="xraydb-elam 4.5.8")
    cfg = SimulationConfig(tiny, scoring="replica")
    assert _fingerprint(cfg, library, 5.0) != keys["replica"]


def test_parallel_world_layout_enters_the_resume_key(
    tiny: Detector, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks of another layout of the parallel world are other events: never resumed
    into; the replica layout does not depend on it."""
    from caloforge.simulate import engine

    setup = G4DataSetup("offline", tmp_path)
    parallel, replica = (SimulationConfig(tiny, scoring=m) for m in ("parallel", "replica"))
    before = (_fingerprint(parallel, setup, 5.0), _fingerprint(replica, setup, 5.0))
    monkeypatch.setattr(engine, "READOUT_WORLD_LAYOUT", engine.READOUT_WORLD_LAYOUT + 1)
    assert _fingerprint(parallel, setup, 5.0) != before[0]
    assert _fingerprint(replica, setup, 5.0) == before[1]


def test_step_point_enters_the_resume_key(
    tiny: Detector, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks scored at another point of the step are other showers: never resumed into;
    the other modes do not depend on it."""
    from caloforge.simulate import engine

    setup = G4DataSetup("offline", tmp_path)
    steps, replica = (SimulationConfig(tiny, scoring=m) for m in ("steps", "replica"))
    before = (_fingerprint(steps, setup, 5.0), _fingerprint(replica, setup, 5.0))
    monkeypatch.setattr(engine, "STEP_POINT", "random")
    assert _fingerprint(steps, setup, 5.0) != before[0]
    assert _fingerprint(replica, setup, 5.0) == before[1]


def test_offline_tables_version_enters_the_resume_key(
    tiny: Detector, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks simulated with other offline tables are other physics: never resumed into."""
    from caloforge.simulate import engine

    cfg = SimulationConfig(tiny)
    offline = G4DataSetup("offline", tmp_path)
    official = G4DataSetup("official", tmp_path)
    before = (_fingerprint(cfg, offline, 5.0), _fingerprint(cfg, official, 5.0))
    monkeypatch.setattr(engine, "GENERATOR_VERSION", engine.GENERATOR_VERSION + 1)
    assert _fingerprint(cfg, offline, 5.0) != before[0]
    assert _fingerprint(cfg, official, 5.0) == before[1]


KEYS = {
    "atlas-pblar": "ac8795d1cb86e418",
    "calochallenge-ds2": "66c00eb93a6dfc15",
    "calochallenge-ds3": "a17db8017f397db1",
    "cms-pbwo4": "e315be76275ac6bc",
    "hgcal-hex": "88cd2c0deb3adf9e",
    "ild-wsi": "3c60c8cad14c34ce",
    "lcd-cube": "19f4683b27ec2b1f",
    "lhcb-pbsci": "cbf11315917543cc",
}
"""Resume keys of every preset's default run (official data) in its own scoring mode, as
the same run gave them when the mode was named with ``scoring=`` (``--scoring``): the
chunks of runs made then are resumed now."""
REPLICA_KEYS = {
    "calochallenge-ds2": "593e2637b2c7dbaf",
    "calochallenge-ds3": "e271fb507561f862",
    "hgcal-hex": "4749487cce41391b",
    "lhcb-pbsci": "08a96a327a5d2bdc",
}
"""The replica runs of the presets that score per step, named explicitly: unchanged."""


@pytest.mark.parametrize("name", sorted(KEYS))
def test_preset_scoring_mode_keeps_the_resume_key(name: str, tmp_path: Path) -> None:
    """A run that takes its preset's scoring mode is the run that named the mode: the same
    resume key, configuration and ``generator`` record."""
    from caloforge.simulate.engine import _generator
    from caloforge.simulate.scoring import choose_pitch

    setup = G4DataSetup("official", tmp_path)
    default = SimulationConfig(name)
    mode = default.det.physics.scoring
    named = SimulationConfig(name, scoring=mode)
    assert default.scoring is None and default.resolved_scoring == named.resolved_scoring == mode
    pitch = choose_pitch(default.det, None)
    assert _fingerprint(default, setup, pitch) == _fingerprint(named, setup, pitch) == KEYS[name]
    assert default.to_dict() == named.to_dict()
    assert _generator(default, setup, pitch) == _generator(named, setup, pitch)
    if name in REPLICA_KEYS:
        replica = SimulationConfig(name, scoring="replica")
        assert _fingerprint(replica, setup, pitch) == REPLICA_KEYS[name]


def test_named_scoring_mode_wins_over_the_detector(tmp_path: Path) -> None:
    from caloforge.simulate.engine import _generator

    setup = G4DataSetup("official", tmp_path, geant4_version="11.2.2")
    steps = SimulationConfig("calochallenge-ds2", n=10)
    assert steps.resolved_scoring == "steps" and steps.to_dict()["scoring"] == "steps"
    assert _generator(steps, setup, 0.5) == {  # the record of the named mode's files
        "backend": "geant4",
        "geant4_version": "11.2.2",
        "physics_list": "em_opt0",
        "production_cut_mm": 0.7,
        "scoring_pitch_mm": 0.5,
        "scoring": "steps",
        "step_point": "midpoint",
        "g4data": setup.describe(),
        "approximate": False,
        "approximate_hadronic": False,
        "shard": None,
        "fastsim": None,
    }
    for mode in ("parallel", "replica"):
        cfg = SimulationConfig("calochallenge-ds2", n=10, scoring=mode)  # type: ignore[arg-type]
        assert cfg.resolved_scoring == mode == _generator(cfg, setup, 0.5)["scoring"]
        assert "step_point" not in _generator(cfg, setup, 0.5)
    assert "scoring" not in SimulationConfig("calochallenge-ds2", scoring="replica").to_dict()
