"""Helpers of the command-line tests: the installed ``caloforge`` console script, run in a
subprocess exactly as a shell or a batch system runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CALOFORGE = Path(sys.executable).parent / "caloforge"
"""The console script installed next to this interpreter."""


def caloforge(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``caloforge ARGS`` to completion; stdout and stderr captured as text."""
    return subprocess.run(
        [str(CALOFORGE), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=os.environ.copy(),
    )


def assert_refused(out: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """Exit code 2, no traceback, one ``error:`` line (after click's usage line for usage
    errors) holding every fragment; returns the error line."""
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    assert lines and lines[-1].startswith("error: "), out.stderr
    assert lines[:-1] in ([], [lines[0]]) and all(ln.startswith("Usage: ") for ln in lines[:-1])
    for fragment in fragments:
        assert fragment in lines[-1], (fragment, lines[-1])
    return lines[-1]
