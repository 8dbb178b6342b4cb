"""Running a script of ``benchmarks/`` as a user does: a fresh interpreter that imports
this caloforge."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import caloforge

BENCHMARKS = Path(__file__).parents[1] / "benchmarks"


def run_benchmark(
    script: str, *args: str | Path, pythonpath: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``benchmarks/SCRIPT ARGS`` (``pythonpath`` first on the module path)."""
    paths = [p for p in (pythonpath, str(Path(caloforge.__file__).parents[1])) if p]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    return subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
