"""``benchmarks/stage1_coding.py``: stage 1 fitted alone with either remainder layer, its
layer energies compared with a validation file (TOY showers of the toy detector)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.benchmark_scripts import run_benchmark

from caloforge.data import read_showers
from caloforge.testing import write_toy_files

SMALL = (
    "patch=1,2,2",
    "hidden=16",
    "depth=1",
    "heads=2",
    "student_hidden=16",
    "student_depth=1",
    "layer_transforms=1",
    "layer_hidden=8",
    "layer_fit_steps=20",
    "layer_fit_batch=32",
)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_toy_files(tmp_path_factory.mktemp("stage1-coding"))


def test_both_remainders_are_fitted_and_compared(files: tuple[Path, Path]) -> None:
    """One row per remainder and seed, with the share of showers that deposit in the last
    layer (a fraction) and the resolution ratio range ordered."""
    train, val = files
    out = run_benchmark(
        "stage1_coding.py",
        "--train",
        train,
        "--val",
        val,
        "--seeds=0",
        "--remainder=-1,peak",
        *SMALL,
    )
    assert out.returncode == 0, out.stderr
    rows = [line.split("|")[1:-1] for line in out.stdout.splitlines() if line.startswith("| ")]
    rows = [[cell.strip() for cell in row] for row in rows[1:]]  # after the header
    showers, _, det = read_showers(train)
    peak = int(np.argmax([showers[:, sl].sum(1).mean() for sl in det.layer_slices]))
    assert [row[:2] for row in rows] == [["-1", "0"], [str(peak), "0"]]
    for row in rows:
        generated, geant4 = row[4].replace("(", "").replace(")", "").split()
        assert 0 <= float(generated) <= 1 and 0 <= float(geant4) <= 1
        lo, hi = map(float, row[8].split("-"))
        assert 0 < lo <= hi


@pytest.mark.parametrize(
    ("remainder", "fragment"),
    [("mid", "'mid' is not int"), ("3", "layer_remainder=3 is not a readout layer (of 3")],
)
def test_a_bad_remainder_is_one_line(
    files: tuple[Path, Path], remainder: str, fragment: str
) -> None:
    train, val = files
    out = run_benchmark(
        "stage1_coding.py", "--train", train, "--val", val, "--remainder", remainder, *SMALL
    )
    assert out.returncode == 2 and "Traceback" not in out.stderr
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("stage1_coding.py: error: ") and fragment in last, last
