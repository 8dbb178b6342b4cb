"""The Dask executor on a LocalCluster of 2 one-thread worker processes: 2 shards of a
tiny Geant4 run, merged, equal the local single-process run; a rerun reuses the shards."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scale_helpers import HAS_DASK, HAS_GEANT4

from caloforge.data import ShowerFile
from caloforge.simulate import SimulationConfig, simulate
from caloforge.testing import tiny_g4_detector

pytestmark = [
    pytest.mark.skipif(not HAS_GEANT4, reason="needs the geant4 extra (geant4-pybind)"),
    pytest.mark.skipif(not HAS_DASK, reason="needs the dask extra (dask[distributed])"),
]


def _all(path: Path) -> dict[str, np.ndarray]:
    f = ShowerFile(path)
    return {k: f.read(k) for k in f.keys()}


@pytest.mark.slow  # about 10 s on an idle 2-core machine, over a minute under load
@pytest.mark.usefixtures("g4_private_cache")
def test_dask_shards_equal_the_local_run(tmp_path: Path) -> None:
    from caloforge.simulate.dask_executor import shard_paths, simulate_dask

    cfg = SimulationConfig(
        tiny_g4_detector(), energy="list:1GeV,2GeV", n=6, seed=5, impact_spread=10.0, workers=2
    )
    calls: list[tuple[int, int]] = []
    out = tmp_path / "dask.h5"
    result = simulate_dask(
        cfg, out, shards=2, keep_shards=True, progress=lambda d, t: calls.append((d, t))
    )
    assert result.output == out and result.events == 6 and result.reused == 0
    assert calls[0] == (0, 6) and calls[-1] == (6, 6)
    assert [p.name for p in result.shards] == [p.name for p in shard_paths(out, 2)]
    assert all(p.exists() for p in result.shards)

    local = simulate(cfg, tmp_path / "local.h5")
    a, b = _all(out), _all(local)
    for key in ("showers", "incident_energies", "impact_point", "energy_absorber", "particle"):
        assert np.array_equal(a[key], b[key]), key

    # a rerun finds the finished shards and only merges
    again = simulate_dask(cfg, tmp_path / "dask.h5", shards=2, overwrite=True)
    assert again.reused == 2
    assert np.array_equal(_all(again.output)["showers"], b["showers"])  # type: ignore[arg-type]
    assert not any(p.exists() for p in again.shards)
    with pytest.raises(ValueError, match="shard"):
        simulate_dask(SimulationConfig(tiny_g4_detector(), n=2, shard=(0, 2)), tmp_path / "x.h5")
