"""``caloforge simulate`` refuses bad condition options in one line with exit code 2
(run through the installed console script, as a user or a batch job would)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CALOFORGE = Path(sys.executable).parent / "caloforge"


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CALOFORGE), *args], capture_output=True, text=True, env=os.environ, cwd=cwd
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--theta", "uniform:0,95"], "theta 'uniform:0,95': values must lie in [0, 90) degrees"),
        (["--theta", "gauss:1,2"], "theta 'gauss:1,2': unknown distribution 'gauss'"),
        (["--phi", "uniform:0,360"], "phi 'uniform:0,360': give theta too"),
        (["--impact", "uniform:-20"], "impact 'uniform:-20': uniform needs two bounds"),
        (["--energy", "-5GeV"], "energy '-5GeV': energies must be positive"),
        (["--particle", "gamma:0.5,e-:0.4"], "particle 'gamma:0.5,e-:0.4': weights sum to 0.9"),
        (["--particle", "gamma,mu-"], "particle 'gamma,mu-': unknown particle 'mu-'"),
        (["--particle", "gamma,pi+"], "G4PARTICLEXS"),
        (["-n", "0"], "-n 0: must be at least 1"),
    ],
)
def test_bad_conditions_exit_2_with_one_line(
    args: list[str], expected: str, tmp_path: Path
) -> None:
    r = run_cli("simulate", "-d", "atlas-pblar", "-n", "2", "-o", "x.h5", *args, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert expected in lines[0]
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "x.h5").exists()
