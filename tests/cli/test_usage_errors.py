"""Usage errors: click's usage line, one ``error:`` line, exit code 2, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import assert_refused, caloforge

USAGE_ERRORS = [
    (("simulate", "-n", "5"), "Usage: caloforge simulate", "Missing option '--output'"),
    (("generate", "--foo"), "Usage: caloforge generate", "No such option: --foo"),
    (("nosuch",), "Usage: caloforge [OPTIONS] COMMAND", "No such command 'nosuch'"),
    (("simulate", "-n", "abc", "-o", "OUT"), "Usage: caloforge simulate", "'-n'"),
    (("evaluate",), "Usage: caloforge evaluate", "Missing argument"),
    (("detector", "shw"), "Usage: caloforge detector", "No such command 'shw'"),
    (("train", "--model"), "", "Option '--model' requires an argument"),  # click: no usage
]


@pytest.mark.parametrize(("args", "usage", "message"), USAGE_ERRORS)
def test_usage_error_is_usage_line_and_one_error_line(
    tmp_path: Path, args: tuple[str, ...], usage: str, message: str
) -> None:
    output = tmp_path / "out.h5"
    out = caloforge(*(str(output) if a == "OUT" else a for a in args))
    line = assert_refused(out, message, *(["--help"] if usage else []))
    assert out.stderr.startswith(usage or "error: "), out.stderr
    assert line.count("error:") == 1 and out.stdout == ""
    assert not output.exists()


def test_help_and_version_exit_0() -> None:
    for args in (("--help",), ("simulate", "--help"), ("--version",)):
        out = caloforge(*args)
        assert out.returncode == 0 and out.stderr == "" and "caloforge" in out.stdout


def test_bad_input_still_one_line(tmp_path: Path) -> None:
    """Errors found by caloforge (not by the option parser) have no usage line."""
    out = caloforge("simulate", "-n", "4", "--executor", "bogus", "-o", tmp_path / "x.h5")
    assert_refused(out, "--executor 'bogus'")
    assert len(out.stderr.strip().splitlines()) == 1
