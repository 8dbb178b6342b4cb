"""Condition columns are validated on read: the installed ``caloforge`` names file,
dataset and first bad row in one line with exit code 2; shards name their own file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from caloforge.data import Conditions, ShowerFile, ShowerFileError, write_showers
from caloforge.data.conditions import ConditionError
from caloforge.geometry import load_detector

CALOFORGE = Path(sys.executable).parent / "caloforge"
DET = load_detector("atlas-pblar")


def _file(path: Path, n: int = 6) -> Path:
    rng = np.random.default_rng(0)
    showers = rng.exponential(1.0, (n, DET.n_voxels)).astype(np.float32)
    return write_showers(path, showers, Conditions.create(np.full(n, 1e4), "gamma"), DET)


def _spoil(path: Path, key: str, row: int, value: object) -> None:
    with h5py.File(path, "r+") as f:
        f[key][row] = value


@pytest.mark.parametrize(
    ("key", "row", "value", "problem"),
    [
        ("impact_point", 3, [np.nan, 0.0, 0.0], "values must be finite"),
        ("incident_direction", 2, [0.0, 0.0, 0.0], "has length 0: directions must have unit"),
        ("incident_direction", 4, [0.0, 0.0, 2.0], "has length 2"),
        ("particle", 1, 13, "is 13: unknown PDG code"),
        ("incident_energies", 5, [-1.0], "energies must be finite and positive"),
    ],
)
def test_bad_conditions_are_named_by_the_console_script(
    tmp_path: Path, key: str, row: int, value: object, problem: str
) -> None:
    path = _file(tmp_path / "bad.h5")
    _spoil(path, key, row, value)
    before = path.read_bytes()
    r = subprocess.run(
        [str(CALOFORGE), "info", str(path)], capture_output=True, text=True, env=os.environ
    )
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert lines[0].startswith(f"error: {path}: '{key}' row {row} ")
    assert problem in lines[0]
    assert path.read_bytes() == before


def test_a_bad_row_in_a_later_shard_names_that_shard(tmp_path: Path) -> None:
    first, second = _file(tmp_path / "a.h5"), _file(tmp_path / "b.h5")
    _spoil(second, "impact_point", 2, [0.0, np.inf, 0.0])
    data = ShowerFile([first, second])
    assert len(data.conditions(0, 6)) == 6  # the first shard alone is fine
    with pytest.raises(ShowerFileError, match=rf"^{second}: 'impact_point' row 2 is \[0.0, inf"):
        data.conditions(4, 12)
    with pytest.raises(ShowerFileError, match=rf"^{second}: 'impact_point' row 2 "):
        list(data.iter_chunks(5))


def test_conditions_create_names_the_first_bad_row() -> None:
    with pytest.raises(ConditionError, match=r"direction row 1 has length 0"):
        Conditions.create([1e3, 1e3], direction=[[0, 0, 1], [0, 0, 0]])
    with pytest.raises(ConditionError, match=r"particle row 0 is 13"):
        Conditions.create([1e3], np.array([13]))
    with pytest.raises(ConditionError, match=r"energy row 2 is nan"):
        Conditions.create([1e3, 2e3, np.nan])
    # non-unit directions given by a caller are normalised (files must hold unit ones)
    assert Conditions.create([1e3], direction=(0, 0, 5)).direction[0, 2] == 1.0
