"""A simulation's output and parts folder: a second run on the same output refuses naming
the first (installed console script), an unreadable chunk is simulated again."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from caloforge.data import ShowerFile
from caloforge.geometry import Detector
from caloforge.geometry.loader import detector_to_json
from caloforge.simulate import SimulationConfig, simulate
from caloforge.simulate.engine import parts_dir
from cli_writers import leftovers, one_line_error, race

from .conftest import needs_geant4

pytestmark = needs_geant4


def test_second_simulate_on_one_output_refuses(tiny: Detector, tmp_path: Path) -> None:
    det = tmp_path / "tiny.json"
    det.write_text(detector_to_json(tiny))
    out = tmp_path / "sim.h5"
    args = ("simulate", "-d", det, "--energy", "1GeV", "-n", "4", "--chunk-size", "2", "-o", out)
    pid, second, first = race(out, *args, "-q")
    one_line_error(second, f"sim.h5: in use by another caloforge process (pid {pid} on")
    assert first.returncode == 0, first.stderr
    assert len(ShowerFile(out)) == 4
    assert leftovers(tmp_path) == [] and not parts_dir(out).exists()


def test_unreadable_chunk_is_simulated_again(
    tiny: Detector, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = SimulationConfig(tiny, energy="1GeV", n=4, seed=2, chunk_size=2)
    ref = ShowerFile(simulate(cfg, tmp_path / "ref.h5")).showers()

    def stop(done: int, total: int) -> None:
        if done >= 2:
            raise KeyboardInterrupt

    out = tmp_path / "out.h5"
    with pytest.raises(KeyboardInterrupt):
        simulate(cfg, out, progress=stop)
    chunk = parts_dir(out) / "chunk-000000.npz"
    chunk.write_bytes(chunk.read_bytes()[:100])  # truncated, as on a full disk
    with caplog.at_level(logging.WARNING, logger="caloforge.simulate.engine"):
        simulate(cfg, out)
    assert "chunk-000000.npz: unreadable chunk" in caplog.text
    assert np.array_equal(ShowerFile(out).showers(), ref)
    assert leftovers(tmp_path) == []
