"""A test file that shares events with the training or validation file is refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from caloforge.data import ShowerFile, read_showers, write_showers
from caloforge.evaluate import EvaluationConfig, evaluate
from caloforge.evaluate.independence import require_independent, shared_events

CAF = Path(sys.executable).parent / "caloforge"
SIM = {"seed": 7, "config": {"detector": "atlas-pblar", "particle": "gamma", "n": 100}}


def _subset(src: Path, dst: Path, rows: slice, atlas) -> Path:  # type: ignore[no-untyped-def]
    s, c, _ = read_showers(src)
    return write_showers(dst, s[rows], c.select(rows), atlas)


def test_shared_events(write_toy, atlas, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a = write_toy("a.h5", atlas, 80, 1)
    b = write_toy("b.h5", atlas, 80, 2)
    part = _subset(a, tmp_path / "part.h5", slice(50, 70), atlas)
    assert not shared_events(ShowerFile(a), ShowerFile(b)).shared
    same = shared_events(ShowerFile(a), ShowerFile(a))
    assert same.same_file and "same file" in same.describe()
    sub = shared_events(ShowerFile(a), ShowerFile(part))
    assert sub.identical_showers == 20 and "20 identical showers" in sub.describe()


def test_same_seed_and_settings(write_toy, atlas, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Two simulations with one seed and the same settings repeat each other's events."""
    a = write_toy("a.h5", atlas, 40, 1, attrs=SIM)
    b = write_toy("b.h5", atlas, 40, 2, attrs={**SIM, "config": {**SIM["config"], "n": 40}})
    c = write_toy("c.h5", atlas, 40, 3, attrs={**SIM, "seed": 8})
    assert shared_events(ShowerFile(a), ShowerFile(b)).same_seed == 7
    assert not shared_events(ShowerFile(a), ShowerFile(c)).shared
    with pytest.raises(ValueError, match=r"a\.h5 and .*b\.h5 \(the validation file\).*seed \(7\)"):
        require_independent(ShowerFile(a), {"validation": ShowerFile(b)})


def test_evaluate_refuses_before_writing(write_toy, atlas, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ref = write_toy("ref.h5", atlas, 60, 1)
    cand = write_toy("cand.h5", atlas, 60, 2)
    ref2 = _subset(ref, tmp_path / "ref2.h5", slice(0, 30), atlas)
    cfg = EvaluationConfig(plots=False)
    with pytest.raises(
        ValueError, match=r"ref2\.h5 and .*ref\.h5 \(the reference file\).*the second"
    ):
        evaluate(ref, [cand], tmp_path / "out", ref2=ref2, config=cfg)
    assert not (tmp_path / "out").exists()


def _run(*args: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    return subprocess.run(
        [str(CAF), "evaluate", *map(str, args)], capture_output=True, text=True, env=env
    )


@pytest.mark.parametrize("role", ["--train", "--val"])
def test_console_script_refuses_an_overlapping_test_file(
    write_toy, atlas, tmp_path: Path, role
) -> None:  # type: ignore[no-untyped-def]
    train = write_toy("train.h5", atlas, 100, 1)
    cand = write_toy("cand.h5", atlas, 60, 2)
    test = _subset(train, tmp_path / "test.h5", slice(40, 100), atlas)  # 60 training showers
    before = {p: p.stat().st_mtime_ns for p in (train, cand, test)}
    r = _run(test, cand, "--out", tmp_path / "rep", role, train, "--no-plots")
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in r.stderr
    what = "training" if role == "--train" else "validation"
    assert lines[0].startswith("error:") and "test.h5" in lines[0] and "train.h5" in lines[0]
    assert f"the {what} file" in lines[0] and "60 identical showers" in lines[0]
    assert not (tmp_path / "rep").exists()
    assert {p: p.stat().st_mtime_ns for p in before} == before


def test_console_script_refuses_the_training_file_itself(write_toy, atlas, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    train = write_toy("train.h5", atlas, 60, 1)
    cand = write_toy("cand.h5", atlas, 60, 2)
    r = _run(train, cand, "--out", tmp_path / "rep", "--train", train)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "same file" in r.stderr and r.stderr.count("train.h5") == 2
    with h5py.File(train) as f:  # untouched
        assert len(f["showers"]) == 60 and np.isfinite(f["showers"][:]).all()
