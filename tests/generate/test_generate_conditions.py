"""``caloforge generate`` with condition distributions, with ``--conditions FILE``, and the
trained-range record: particles outside the training set refused, other conditions
outside the trained range generated with one warning or refused with ``--strict``."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from caloforge.data import ShowerFile, write_showers
from caloforge.generate import generate_file
from caloforge.geometry import Detector
from caloforge.testing import toy_detector, toy_showers
from caloforge.train import train
from caloforge.train.checkpoint import load_checkpoint

CALOFORGE = Path(sys.executable).parent / "caloforge"


@pytest.fixture(scope="module")
def det(tmp_path_factory: pytest.TempPathFactory) -> Detector:
    return toy_detector(tmp_path_factory.mktemp("det"))


@pytest.fixture(scope="module")
def reference(det: Detector, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """TOY photon showers, 1-100 GeV, impact points spread over +-5 mm, normal incidence."""
    s, c = toy_showers(det, 300, seed=1, impact_spread=5.0)
    return write_showers(tmp_path_factory.mktemp("data") / "toy.h5", s, c, det)


@pytest.fixture(scope="module")
def checkpoint(reference: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("run") / "lib"
    return train("library", reference, out=out, overrides=["k_nearest=2"]).checkpoint


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CALOFORGE), "generate", "-q", *args],
        capture_output=True,
        text=True,
        env=os.environ,
        cwd=cwd,
    )


def test_the_checkpoint_records_its_training_conditions(checkpoint: Path) -> None:
    record = load_checkpoint(checkpoint)["conditions"]
    assert record["particles"] == [22] and record["showers"] == 300
    assert 1e3 <= record["energy"][0] < record["energy"][1] <= 1e5
    assert record["theta"] == [0.0, 0.0] and record["phi"] is None
    assert -5.0 <= record["impact_x"][0] < -4.0 and 4.0 < record["impact_x"][1] <= 5.0


def test_distributions_inside_the_trained_range(
    checkpoint: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        out = generate_file(
            checkpoint,
            tmp_path / "gen.h5",
            n=40,
            energy="loguniform:2GeV,50GeV",
            impact="uniform:-4,4/list:-1,1",
            seed=3,
        )
    assert not caplog.records
    c = ShowerFile(out).conditions()
    assert np.all(c.particle == 22)  # the trained particle, not asked for
    assert c.energy.min() >= 2e3 and c.energy.max() <= 5e4 and c.energy.std() > 1e3
    assert np.abs(c.impact[:, 0]).max() <= 4 and c.impact[:, 0].std() > 1
    assert c.impact[:, 1].tolist() == [-1.0, 1.0] * 20
    with h5py.File(out) as f:
        recorded = json.loads(f.attrs["generator"])["conditions"]
    assert recorded["impact"] == ["uniform:-4,4", "list:-1,1"]
    # per-event draws: the first 10 events of a longer run are the same events
    again = generate_file(
        checkpoint,
        tmp_path / "g2.h5",
        n=10,
        energy="loguniform:2GeV,50GeV",
        impact="uniform:-4,4/list:-1,1",
        seed=3,
    )
    assert np.array_equal(ShowerFile(again).conditions().energy, c.energy[:10])


def test_outside_the_trained_range_one_warning_names_the_range(
    checkpoint: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="caloforge"):
        generate_file(
            checkpoint,
            tmp_path / "gen.h5",
            n=30,
            energy="uniform:50GeV,500GeV",
            theta="uniform:0,20",
            phi="uniform:0,360",
            batch_size=7,
        )
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "of 30 conditions lie outside the trained range" in warnings[0]
    assert "theta 0..0 deg (30 outside)" in warnings[0]
    assert "energy 1" in warnings[0] and "MeV (" in warnings[0]
    assert "--strict" in warnings[0]


def test_cli_strict_particles_and_conditions_file(
    checkpoint: Path, reference: Path, tmp_path: Path
) -> None:
    r = _cli("--checkpoint", str(checkpoint), "-o", "a.h5", "-n", "5", "--energy", "1TeV",
             "--strict", cwd=tmp_path)  # fmt: skip
    assert r.returncode == 2 and "Traceback" not in r.stderr
    line = r.stderr.strip()
    assert line.startswith("error: 5 of 5 conditions lie outside the trained range of")
    assert line.endswith("(5 outside) (--strict)") and "\n" not in line
    assert not (tmp_path / "a.h5").exists()

    r = _cli("--checkpoint", str(checkpoint), "-o", "b.h5", "-n", "5", "--energy", "10GeV",
             "--particle", "gamma,pi+", cwd=tmp_path)  # fmt: skip
    assert r.returncode == 2 and not (tmp_path / "b.h5").exists()
    assert r.stderr.strip() == (
        f"error: {checkpoint} was trained on gamma, not on pi+: the model cannot simulate them"
    )

    r = _cli("--checkpoint", str(checkpoint), "-o", "c.h5", "-n", "5", "--energy", "10GeV",
             "--theta", "95", cwd=tmp_path)  # fmt: skip
    assert r.returncode == 2
    assert r.stderr.strip() == "error: theta '95': values must lie in [0, 90) degrees"

    r = _cli("--checkpoint", str(checkpoint), "-o", "d.h5", "--conditions", str(reference),
             "--theta", "5", cwd=tmp_path)  # fmt: skip
    assert r.returncode == 2
    assert (
        r.stderr.strip()
        == f"error: --conditions takes every condition from {reference}; drop --theta"
    )

    r = _cli("--checkpoint", str(checkpoint), "-o", "e.h5", "-n", "25", "--conditions",
             str(reference), cwd=tmp_path)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""  # inside the trained range: no warning
    ref, gen = ShowerFile(reference).conditions(0, 25), ShowerFile(tmp_path / "e.h5").conditions()
    np.testing.assert_array_equal(gen.energy, ref.energy)
    np.testing.assert_array_equal(gen.impact, ref.impact)

    r = _cli("--checkpoint", str(checkpoint), "-o", "f.h5", "-n", "5", "--energy", "10GeV",
             "--impact", "15,0", cwd=tmp_path)  # fmt: skip
    assert r.returncode == 0, r.stderr
    warning = r.stderr.strip()
    assert warning.startswith("WARNING caloforge.generate: 5 of 5 conditions lie outside")
    assert "impact_x " in warning and "\n" not in warning


def test_exports_take_the_recorded_range_when_the_training_data_are_gone(
    checkpoint: Path,
) -> None:
    from caloforge.deploy.export import trained_range
    from caloforge.train import load_model

    ckpt = load_checkpoint(checkpoint)
    model, _ = load_model(ckpt)
    ckpt["info"]["data"] = ["no/such/training.h5"]
    r = trained_range(model, ckpt)
    record = ckpt["conditions"]
    assert r.source == "checkpoint" and r.particles == (22,)
    assert r.energy == tuple(record["energy"]) and r.impact_y == tuple(record["impact_y"])


def test_energy_slack_at_the_trained_bounds() -> None:
    """A training sample's extreme energies fall short of its distribution's bounds: within
    half a per cent of a bound counts as inside, beyond it as outside, in the checkpoint's
    check and in the torch-free runtime's alike."""
    from caloforge.data import Conditions
    from caloforge.data.conditions import ENERGY_SLACK, check_ranges
    from caloforge.deploy.runtime import TrainedRange

    ranges = {"particles": [22], "energy": [1000.0, 99_973.0], "theta": [0.0, 0.0],
              "phi": None, "impact_x": [2.5, 2.5], "impact_y": [2.5, 2.5]}
    energy = np.array([995.5, 100_000.0, 99_973.0 * (1 + 2 * ENERGY_SLACK)])
    cond = Conditions.create(energy, impact=(2.5, 2.5, 0.0))
    check = check_ranges(cond, ranges)
    assert check.outside["energy"][0] == 1 and check.n_outside == 1
    trained = TrainedRange.from_dict(ranges)
    inside = trained.contains(np.full(3, 22), energy, cond.direction, cond.impact[:, :2])
    assert inside.tolist() == [True, True, False]
