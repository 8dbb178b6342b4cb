"""The scoring benchmarks (``benchmarks/core_energy.py``, ``benchmarks/scoring_modes.py``)
refuse bad input before any simulation: exit 2, one error line, no traceback."""

from __future__ import annotations

import pytest
from tests.benchmark_scripts import run_benchmark


@pytest.mark.parametrize(
    ("script", "args", "fragment"),
    [
        ("core_energy.py", ("--runs", "1XeV:100"), "energy '1XeV' is not a number"),
        ("core_energy.py", ("--runs", "1GeV:100,5GeV:0"), "n=0 must be an integer >= 1"),
        ("scoring_modes.py", ("--energy", "1XeV"), "energy '1XeV' is not a number"),
        ("scoring_modes.py", ("--n", "0"), "n=0 must be an integer >= 1"),
        ("scoring_modes.py", ("--rounds", "0"), "--rounds=0: must be >= 1"),
        ("scoring_modes.py", ("--detector", "nope"), "nope: no such detector"),
    ],
)
def test_bad_input_is_one_line_before_any_simulation(
    script: str, args: tuple[str, ...], fragment: str
) -> None:
    out = run_benchmark(script, *args)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr and out.stdout == ""
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith(f"{script}: error: ") and fragment in last, last
