"""Geant4 runs through :func:`simulate` (worker processes): smoke, reproducibility,
resumption and sharding. Tiny detector, 1 GeV electrons: a few seconds each."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from caloforge.data.hdf5 import ShowerFile
from caloforge.geometry import Detector, load_detector, preset_names
from caloforge.simulate import SimulationConfig, g4data, simulate
from caloforge.simulate.engine import parts_dir

from .conftest import needs_geant4

pytestmark = needs_geant4


def _read(path: Path) -> dict[str, np.ndarray]:
    f = ShowerFile(path)
    return {k: f.read(k) for k in f.keys()}


def _interrupted(cfg: SimulationConfig, out: Path, after: int = 3) -> Path:
    """``out`` of a run interrupted (Ctrl-C) once ``after`` showers are done."""

    def stop(done: int, total: int) -> None:
        if done >= after:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        simulate(cfg, out, progress=stop)
    return out


def test_smoke(tiny: Detector, tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    cfg = SimulationConfig(tiny, energy="1GeV", n=4, seed=1)
    out = simulate(cfg, tmp_path / "smoke.h5", progress=lambda d, t: calls.append((d, t)))
    data = _read(out)
    assert data["showers"].shape == (4, tiny.n_voxels)
    assert data["incident_energies"][:, 0] == pytest.approx(1000.0)
    assert np.all(data["particle"] == 11)
    # every fine cell lies in a readout voxel: voxel sum = active energy
    assert data["showers"].sum(1) == pytest.approx(data["energy_active"], rel=1e-4)
    # 6 layers (~2 X0) leak most of the energy; the sampling fraction of what is deposited
    fraction = data["energy_active"] / (data["energy_active"] + data["energy_absorber"])
    assert np.all((fraction > 0.1) & (fraction < 0.3))
    total = data["energy_active"] + data["energy_absorber"] + data["energy_leaked"]
    assert total == pytest.approx(1000.0, rel=1e-5)
    assert np.all(data["cpu_time"] > 0)
    assert calls[0] == (0, 4) and calls[-1] == (4, 4)
    with h5py.File(out) as f:
        gen = json.loads(f.attrs["generator"])
        assert json.loads(f.attrs["config"])["particle"] == "e-"
    assert gen["backend"] == "geant4" and gen["g4data"]["mode"] == "offline"
    assert gen["g4data"]["generator_version"] == g4data.GENERATOR_VERSION  # the tables used
    assert gen["scoring"] == "replica"
    assert not parts_dir(out).exists()
    with pytest.raises(FileExistsError, match="overwrite"):
        simulate(cfg, out)


def test_every_scoring_mode_scores_every_cell_and_is_recorded(
    tiny: Detector, tmp_path: Path
) -> None:
    """Cells in the mass geometry (replica), in a parallel world, or steps binned into
    them: every cell scored, the mode recorded; the three are different runs (not resumed
    from one another)."""
    runs = {}
    for mode in ("replica", "parallel", "steps"):
        cfg = SimulationConfig(tiny, energy="1GeV", n=3, seed=2, scoring=mode)  # type: ignore[arg-type]
        out = simulate(cfg, tmp_path / f"{mode}.h5")
        runs[mode] = _read(out)
        with h5py.File(out) as f:
            assert json.loads(f.attrs["generator"])["scoring"] == mode
        data = runs[mode]
        assert data["showers"].sum(1) == pytest.approx(data["energy_active"], rel=1e-4)
        assert np.all(data["energy_active"] > 0)
    assert not np.array_equal(runs["replica"]["showers"], runs["parallel"]["showers"])
    assert not np.array_equal(runs["replica"]["showers"], runs["steps"]["showers"])


def test_every_deposit_is_scored_in_every_mode(tiny: Detector, tmp_path: Path) -> None:
    """Active, absorber and escaping energy add up to the incident energy to float32
    rounding in every mode (photons' own deposits included: 4e-6 of it here); the
    parallel mode records the layout of its readout world, the steps mode its step point."""
    for mode in ("replica", "parallel", "steps"):
        cfg = SimulationConfig(
            tiny,
            particle="gamma",
            energy="1GeV",
            n=3,
            seed=4,
            scoring=mode,  # type: ignore[arg-type]
            measure_leakage=True,
        )
        data = _read(simulate(cfg, tmp_path / f"{mode}.h5"))
        total = data["energy_active"] + data["energy_absorber"] + data["energy_escaped"]
        assert total == pytest.approx(1000.0, rel=5e-7), mode
        with h5py.File(tmp_path / f"{mode}.h5") as f:
            gen = json.loads(f.attrs["generator"])
        assert ("readout_world" in gen) == (mode == "parallel")
        assert gen.get("step_point") == ("midpoint" if mode == "steps" else None)
        assert data["showers"].sum(1) == pytest.approx(data["energy_active"], rel=1e-4)


def test_steps_and_replica_give_the_same_showers_within_errors(
    tiny: Detector, tmp_path: Path
) -> None:
    """Steps binned by position and replica cells: the same visible energy and the same
    mean energy in every voxel within their statistical errors (the shower off the cell
    corners, so that a cell mapped wrongly shows), 1 GeV e-, 100 each."""
    runs = {}
    for mode in ("replica", "steps"):
        cfg = SimulationConfig(
            tiny,
            energy="1GeV",
            n=100,
            seed=6,
            impact="18,-4",
            scoring=mode,  # type: ignore[arg-type]
        )
        runs[mode] = _read(simulate(cfg, tmp_path / f"{mode}.h5"))
    for key in ("energy_active", "showers"):
        a, b = runs["replica"][key].astype(np.float64), runs["steps"][key].astype(np.float64)
        error = np.hypot(a.std(0), b.std(0)) / np.sqrt(len(a))
        pull = np.abs(a.mean(0) - b.mean(0)) / np.maximum(error, 1e-9)
        assert np.all(pull < 4), (key, pull.max())
    first = runs["steps"]["showers"].mean(0)[: tiny.layer_sizes[0]]
    assert first.argmax() == 2 * 4 + 1  # cell ix = 2 (x in 0..25 mm), iy = 1 (y in -25..0 mm)
    assert first[2 * 4 + 1] > 3 * first[1 * 4 + 2]  # its x/y mirror image holds little


def test_steps_mode_gives_the_same_events_for_any_workers_chunks_and_resume(
    tiny: Detector, tmp_path: Path
) -> None:
    base = dict(energy="list:1GeV,2GeV", n=6, seed=5, impact_spread=10.0, scoring="steps")
    ref = _read(simulate(SimulationConfig(tiny, chunk_size=6, **base), tmp_path / "ref.h5"))
    two = _read(
        simulate(SimulationConfig(tiny, workers=2, chunk_size=2, **base), tmp_path / "two.h5")
    )
    for key in ("showers", "energy_active", "energy_absorber"):
        assert np.array_equal(ref[key], two[key]), key
    cfg = SimulationConfig(tiny, chunk_size=3, **base)

    out = _interrupted(cfg, tmp_path / "resumed.h5")
    seen: list[int] = []
    resumed = _read(simulate(cfg, out, progress=lambda d, t: seen.append(d)))
    assert seen[0] >= 3  # the finished chunk was reused
    assert np.array_equal(resumed["showers"], ref["showers"])


def test_workers_chunks_resume_and_shards_give_the_same_events(
    tiny: Detector, tmp_path: Path
) -> None:
    base = dict(energy="list:1GeV,2GeV", n=9, seed=5, impact_spread=10.0)
    ref = _read(
        simulate(SimulationConfig(tiny, workers=1, chunk_size=9, **base), tmp_path / "ref.h5")
    )
    two = _read(
        simulate(SimulationConfig(tiny, workers=2, chunk_size=2, **base), tmp_path / "two.h5")
    )
    for key in ("showers", "incident_energies", "impact_point", "energy_absorber"):
        assert np.array_equal(ref[key], two[key]), key

    # interrupted after the first chunk, then resumed
    cfg = SimulationConfig(tiny, workers=1, chunk_size=3, **base)

    out = _interrupted(cfg, tmp_path / "resumed.h5")
    assert not out.exists()
    assert len(list(parts_dir(out).glob("chunk-*.npz"))) >= 1
    seen: list[int] = []
    resumed = _read(simulate(cfg, out, progress=lambda d, t: seen.append(d)))
    assert seen[0] >= 3  # the finished chunk was reused
    assert np.array_equal(resumed["showers"], ref["showers"])

    # three shards hold exactly the events of the single run
    shards = [
        _read(simulate(SimulationConfig(tiny, shard=(k, 3), **base), tmp_path / f"s{k}.h5"))
        for k in range(3)
    ]
    order = np.concatenate([np.arange(9)[k::3] for k in range(3)])
    merged = np.concatenate([s["showers"] for s in shards])
    assert np.array_equal(merged[np.argsort(order)], ref["showers"])


def test_chunks_of_the_former_replica_default_name_the_option_that_resumes_them(
    tmp_path: Path,
) -> None:
    """An interrupted run of a preset that now scores per step, made when it scored with
    replicas: refused without --overwrite, naming --scoring replica, which resumes it."""
    from tests.cli.conftest import assert_refused, caloforge

    from caloforge.simulate.engine import _fingerprint
    from caloforge.simulate.g4data import resolve_g4data
    from caloforge.simulate.scoring import choose_pitch

    out = tmp_path / "ds2.h5"
    args = ("simulate", "-d", "calochallenge-ds2", "-n", "2", "-o", out, "--quiet")
    former = SimulationConfig("calochallenge-ds2", n=2, scoring="replica")
    key = _fingerprint(former, resolve_g4data(), choose_pitch(former.det, None))
    parts_dir(out).mkdir()
    (parts_dir(out) / "manifest.json").write_text(json.dumps({"fingerprint": key}))
    assert_refused(
        caloforge(*args),
        "chunks of a different run configuration; they are this run scored with 'replica', "
        "the mode of runs of calochallenge-ds2 made before it scored with 'steps'",
        "--scoring replica",
        "--overwrite",
    )
    # chunks of any other configuration: no such hint
    (parts_dir(out) / "manifest.json").write_text(json.dumps({"fingerprint": "0" * 16}))
    line = assert_refused(caloforge(*args), "different run configuration", "--overwrite")
    assert "--scoring" not in line


def test_offline_hadrons_refused(tiny: Detector, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="G4PARTICLEXS"):
        simulate(SimulationConfig(tiny, particle="pi+", n=1), tmp_path / "pi.h5")
    with pytest.raises(ValueError, match="option 4"):
        simulate(SimulationConfig(tiny, physics="em_opt4", n=1), tmp_path / "opt4.h5")


def test_approximate_hadronic_is_marked(
    tiny: Detector, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALOFORGE_G4DATA_CACHE", str(tmp_path / "hcache"))
    cfg = SimulationConfig(tiny, particle="pi-", energy="5GeV", n=3, approximate_hadronic=True)
    out = simulate(cfg, tmp_path / "pi.h5")
    with h5py.File(out) as f:
        gen = json.loads(f.attrs["generator"])
        assert f["particle"][:].tolist() == [-211] * 3
    assert gen["physics_list"] == "FTFP_BERT" and gen["approximate_hadronic"] is True


@pytest.mark.parametrize("preset", preset_names())
def test_every_preset_simulates(preset: str, tmp_path: Path) -> None:
    """Each preset builds in Geant4; its voxels hold the visible energy of the readout."""
    data = _read(simulate(SimulationConfig(preset, energy="1GeV", n=1), tmp_path / "p.h5"))
    assert data["showers"].shape[1] == load_detector(preset).n_voxels
    assert 0 < data["showers"].sum() <= data["energy_active"].sum() * (1 + 1e-5)


def test_spread_conditions_and_a_mixture_in_one_run_and_in_shards(
    tiny: Detector, tmp_path: Path
) -> None:
    """A particle mixture is shot within one Geant4 run; each event's particle, direction
    and impact point are written, and shards hold exactly the events of the single run."""
    base = dict(
        particle="gamma,e-,e+",
        energy="uniform:1GeV,2GeV",
        theta="uniform:0,30",
        phi="uniform:0,360",
        impact="uniform:-8,8",
        n=6,
        seed=11,
    )
    ref = _read(simulate(SimulationConfig(tiny, chunk_size=6, **base), tmp_path / "all.h5"))
    cond = SimulationConfig(tiny, **base).conditions.conditions(11, np.arange(6))
    assert np.array_equal(ref["particle"], cond.particle)
    assert len(set(ref["particle"].tolist())) > 1
    np.testing.assert_allclose(ref["incident_direction"], cond.direction, rtol=1e-6)
    np.testing.assert_allclose(ref["impact_point"], cond.impact, atol=1e-5)
    # a photon event of the mixture is the same event as in a run of photons alone
    photons = _read(
        simulate(SimulationConfig(tiny, **{**base, "particle": "gamma"}), tmp_path / "g.h5")
    )
    is_photon = ref["particle"] == 22
    assert np.array_equal(photons["showers"][is_photon], ref["showers"][is_photon])
    assert not np.array_equal(photons["showers"][~is_photon], ref["showers"][~is_photon])
    shards = [
        _read(
            simulate(
                SimulationConfig(tiny, shard=(k, 2), chunk_size=2, **base), tmp_path / f"{k}.h5"
            )
        )
        for k in range(2)
    ]
    for key in ("showers", "particle", "incident_direction", "impact_point"):
        merged = np.empty_like(ref[key])
        merged[0::2], merged[1::2] = shards[0][key], shards[1][key]
        assert np.array_equal(merged, ref[key]), key
