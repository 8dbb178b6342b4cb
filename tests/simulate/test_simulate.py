"""Geant4 runs through :func:`simulate` (worker processes): smoke, reproducibility,
resumption and sharding. Tiny detector, 1 GeV electrons: a few seconds each."""

from __future__ import annotations

import json
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from caloforge.data.hdf5 import ShowerFile
from caloforge.geometry import Detector, load_detector, preset_names
from caloforge.simulate import SimulationConfig, simulate
from caloforge.simulate.engine import parts_dir

from .conftest import needs_geant4

pytestmark = needs_geant4


def _read(path: Path) -> dict[str, np.ndarray]:
    f = ShowerFile(path)
    return {k: f.read(k) for k in f.keys()}


def test_smoke(tiny: Detector, tmp_path: Path) -> None:
    start = time.perf_counter()
    calls: list[tuple[int, int]] = []
    cfg = SimulationConfig(tiny, energy="1GeV", n=4, seed=1)
    out = simulate(cfg, tmp_path / "smoke.h5", progress=lambda d, t: calls.append((d, t)))
    assert time.perf_counter() - start < 30
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
    assert not parts_dir(out).exists()
    with pytest.raises(FileExistsError, match="overwrite"):
        simulate(cfg, out)


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

    def stop(done: int, total: int) -> None:
        if done >= 3:
            raise KeyboardInterrupt

    out = tmp_path / "resumed.h5"
    with pytest.raises(KeyboardInterrupt):
        simulate(cfg, out, progress=stop)
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
