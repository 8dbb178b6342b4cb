"""Helpers of the command-line tests: the installed ``caloforge`` console script, run in a
subprocess exactly as a shell or a batch system runs it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.export.conftest import tiny_checkpoint

from caloforge.data import write_showers
from caloforge.testing import toy_detector, toy_showers


@pytest.fixture(scope="session")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the toy detector, a tiny wgan-gp checkpoint, its 256 training showers,
    and two larger toy files (``big1.h5``, ``big2.h5``) for commands that must run a while."""
    folder = tmp_path_factory.mktemp("toy")
    tiny_checkpoint("wgan-gp", folder)
    det = toy_detector(folder)
    for k in (1, 2):
        s, c = toy_showers(det, 30_000, seed=10 + k, impact_spread=5.0)
        write_showers(folder / f"big{k}.h5", s, c, det)
    return folder


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


def start(*args: str | Path) -> subprocess.Popen[str]:
    """Start ``caloforge ARGS`` with SIGINT at its default (a test runner started in the
    background of a shell would hand down an ignored SIGINT, which caloforge keeps)."""
    return subprocess.Popen(
        [str(CALOFORGE), *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def wait_for(condition: Callable[[], bool], proc: subprocess.Popen[str], timeout: float) -> None:
    """Poll ``condition`` until it holds; fail if ``proc`` ends first or time runs out."""
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"ended ({proc.returncode}) before the condition held:\n{out}\n{err}")
        if time.monotonic() > deadline:
            proc.kill()
            proc.communicate()
            pytest.fail("timed out waiting for the condition")
        time.sleep(0.02)


def children(pid: int) -> list[int]:
    """The child processes of ``pid`` (Linux ``/proc``)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie is not)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def has_open(pid: int, path: Path) -> bool:
    """Whether process ``pid`` has ``path`` open (Linux ``/proc``): its work has begun."""
    for fd in Path(f"/proc/{pid}/fd").glob("*"):
        with contextlib.suppress(OSError):
            if os.readlink(fd) == str(path):
                return True
    return False


def leftovers(folder: Path) -> list[str]:
    """Lock and temporary files in ``folder`` (none may survive a finished command)."""
    return sorted(p.name for p in folder.iterdir() if p.name.endswith((".lock", ".tmp")))


def stop(proc: subprocess.Popen[str], sig: signal.Signals, timeout: float = 60) -> str:
    """Send ``sig``, wait for the end, return stderr."""
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"still running {timeout} s after {sig.name}")
    return err


def assert_interrupted(proc: subprocess.Popen[str], err: str, sig: signal.Signals) -> str:
    """Exit code 128 + signal, no traceback, and stderr ends with the one line
    ``interrupted (SIG...): ...`` (after the run's own warnings, if any)."""
    assert proc.returncode == 128 + sig, err
    assert "Traceback" not in err and "error:" not in err
    lines = err.strip().splitlines()
    assert lines and lines[-1].startswith(f"interrupted ({sig.name}): "), err
    assert sum("interrupted" in ln for ln in lines) == 1, err
    return lines[-1]
