"""Helpers of the output-safety tests: run the installed ``caloforge`` console script, and
start a writer that is frozen (SIGSTOP) while it holds its output's lock."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from caloforge.files import lock_path

CALOFORGE = Path(sys.executable).parent / "caloforge"


def caloforge(*args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the console script to its end."""
    return subprocess.run(
        [str(CALOFORGE), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=os.environ,
    )


def one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """The single ``error:`` line of a run that exited with code 2 (asserted)."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert len(errors) == 1, result.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def leftovers(folder: Path) -> list[str]:
    """Lock and temporary files (hidden or not) in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if p.name.endswith((".lock", ".tmp")))


def start_frozen(output: Path, *args: str | Path, timeout: float = 240) -> subprocess.Popen[str]:
    """Start ``caloforge ARGS`` and stop it (SIGSTOP) once it holds ``output``'s lock.

    The caller resumes it with ``SIGCONT`` and waits for it.
    """
    lock = lock_path(output)
    proc = subprocess.Popen(
        [str(CALOFORGE), *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            holder = json.loads(lock.read_text())["pid"]
        except (OSError, ValueError, KeyError):
            holder = None
        if holder == proc.pid:
            proc.send_signal(signal.SIGSTOP)
            if lock.exists():  # stopped while holding it
                return proc
            proc.send_signal(signal.SIGCONT)
            break
        time.sleep(0.002)
    _, err = proc.communicate(timeout=timeout)
    raise AssertionError(f"the writer never held {lock} long enough: {err[-500:]}")


def resume(proc: subprocess.Popen[str], timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """Let a frozen writer go on, wait for it, and return how it ended."""
    proc.send_signal(signal.SIGCONT)
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def race(
    output: Path, *args: str | Path, again: tuple[str, ...] = ()
) -> tuple[int, subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
    """Two writers of ``output``: ``caloforge ARGS`` frozen while it holds the lock, then
    ``caloforge ARGS AGAIN`` run to its end, then the first let go to its end.

    Returns:
        (the first's pid, how the second ended, how the first ended).
    """
    first = start_frozen(output, *args)
    try:
        second = caloforge(*args, *again)
    finally:
        done = resume(first)
    return first.pid, second, done
