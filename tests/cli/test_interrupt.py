"""SIGINT and SIGTERM: exit 130 / 143, one line saying what is kept and how to resume, no
traceback, no partial output, no lock or temporary file, no worker process left.

Each case starts the installed console script, waits until the command is working (its
output lock exists, or its finished work appears) and only then sends the signal.
"""

from __future__ import annotations

import importlib.util
import json
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from tests.export.conftest import FAST, TINY

from caloforge.data import ShowerFile
from caloforge.testing import tiny_g4_detector
from caloforge.train import load_checkpoint

from .conftest import (
    assert_interrupted,
    caloforge,
    children,
    has_open,
    leftovers,
    running,
    start,
    stop,
    wait_for,
)

HAS_GEANT4 = importlib.util.find_spec("geant4_pybind") is not None
SIGINT, SIGTERM = signal.SIGINT, signal.SIGTERM


def test_train_keeps_its_checkpoint_and_resumes(toy: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = [
        "train", "-m", "wgan-gp", "--data", toy / "toy_train.h5", "-o", run, "-q",
        *TINY["wgan-gp"], *FAST, "train.checkpoint_every=5",
    ]  # fmt: skip
    proc = start(*args, "--steps", "1000000")
    wait_for(lambda: (run / "checkpoint.pt").is_file(), proc, timeout=120)
    line = assert_interrupted(proc, stop(proc, SIGINT), SIGINT)
    assert f"{run / 'checkpoint.pt'} kept" in line and "--resume" in line
    assert leftovers(run) == [] and leftovers(tmp_path) == []
    step = int(load_checkpoint(run / "checkpoint.pt")["step"])
    assert step >= 5
    out = caloforge(*args, "--steps", str(step + 3), "--resume")
    assert out.returncode == 0, out.stderr
    assert int(load_checkpoint(run / "checkpoint.pt")["step"]) == step + 3
    assert leftovers(run) == [] and leftovers(tmp_path) == []


@pytest.mark.parametrize("sig", [SIGINT, SIGTERM])
def test_train_checkpoints_the_step_it_is_stopped_at(
    toy: Path, tmp_path: Path, sig: signal.Signals
) -> None:
    # no periodic checkpoint: the only one is written at the step where the signal lands,
    # and resuming from it gives the weights of a run that was never stopped
    common = [
        "-m", "wgan-gp", "--data", toy / "toy_train.h5", "-q", *TINY["wgan-gp"], *FAST,
        "train.checkpoint_every=1000000", "train.log_every=1", "train.val_every=0",
    ]  # fmt: skip
    run = tmp_path / "run"
    proc = start("train", "-o", run, *common, "--steps", "1000000")
    metrics = run / "metrics.jsonl"
    wait_for(lambda: metrics.is_file() and metrics.stat().st_size > 0, proc, timeout=120)
    line = assert_interrupted(proc, stop(proc, sig), sig)
    assert f"{run / 'checkpoint.pt'} kept" in line and "--resume" in line
    assert leftovers(run) == [] and leftovers(tmp_path) == []
    step = int(load_checkpoint(run / "checkpoint.pt")["step"])
    logged = [json.loads(row)["step"] for row in metrics.read_text().splitlines()]
    assert step >= max(logged) >= 1
    resumed = caloforge("train", "-o", run, *common, "--steps", str(step + 2), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    straight = caloforge("train", "-o", tmp_path / "straight", *common, "--steps", str(step + 2))
    assert straight.returncode == 0, straight.stderr
    a = load_checkpoint(run / "checkpoint.pt")
    b = load_checkpoint(tmp_path / "straight" / "checkpoint.pt")
    assert int(a["step"]) == int(b["step"]) == step + 2
    assert a["state"].keys() == b["state"].keys()
    for key, value in b["state"].items():
        assert torch.equal(a["state"][key], value), key


def _cases(toy: Path, out: Path) -> dict[str, list[str | Path]]:
    ckpt = toy / "wgan-gp" / "checkpoint.pt"
    return {
        "generate": [
            "generate", "--checkpoint", ckpt, "--energy", "1GeV", "-n", "5000000",
            "--batch-size", "1000", "-o", out, "-q",
        ],
        "calibrate": [
            "calibrate", "--checkpoint", ckpt, "--data", toy / "big1.h5", "-o", out, "-q",
        ],
        "refine": [
            "refine", "--checkpoint", ckpt, "--data", toy / "big1.h5", "-o", out, "-q",
            "--candidates", "4", "--hidden", "16",
        ],
        # 40 inputs (1.2 million rows, seconds of work): the signal lands before the end
        "merge": ["merge", out, *[toy / f"big{1 + k % 2}.h5" for k in range(40)]],
    }  # fmt: skip


@pytest.mark.parametrize(
    ("verb", "sig"),
    [("generate", SIGTERM), ("calibrate", SIGINT), ("refine", SIGTERM), ("merge", SIGINT)],
)
def test_interrupted_writer_leaves_nothing(
    toy: Path, tmp_path: Path, verb: str, sig: signal.Signals
) -> None:
    out = tmp_path / ("out.h5" if verb in ("generate", "merge") else "out.pt")
    proc = start(*_cases(toy, out)[verb])
    wait_for(lambda: out.with_name(out.name + ".lock").exists(), proc, timeout=120)
    line = assert_interrupted(proc, stop(proc, sig), sig)
    assert f"{out} not written" in line
    assert not out.exists() and leftovers(tmp_path) == []


def test_evaluate_interrupted(toy: Path, tmp_path: Path) -> None:
    report = tmp_path / "report"
    proc = start("evaluate", toy / "big1.h5", toy / "big2.h5", "-o", report, "-q")
    wait_for(lambda: has_open(proc.pid, toy / "big1.h5"), proc, timeout=120)
    line = assert_interrupted(proc, stop(proc, SIGTERM), SIGTERM)
    partial = report.is_dir() and any(report.iterdir())
    assert str(report) in line and ("--overwrite" in line) == partial


@pytest.mark.skipif(not HAS_GEANT4, reason="needs the geant4 extra (geant4-pybind)")
@pytest.mark.parametrize("sig", [SIGTERM, pytest.param(SIGINT, marks=pytest.mark.slow)])
def test_simulate_workers_stop_and_finished_chunks_resume(
    tmp_path: Path, sig: signal.Signals
) -> None:
    from caloforge.geometry.loader import detector_to_json
    from caloforge.simulate.engine import finished_chunks, parts_dir

    det = tmp_path / "tiny.json"
    det.write_text(detector_to_json(tiny_g4_detector()))
    out = tmp_path / "sim.h5"
    args = ["simulate", "-d", det, "-e", "1GeV", "-n", "1000", "--chunk-size", "10", "-j", "2"]
    proc = start(*args, "-o", out, "-q")
    wait_for(lambda: finished_chunks(out) >= 1, proc, timeout=120)
    workers = children(proc.pid)
    line = assert_interrupted(proc, stop(proc, sig), sig)
    kept = finished_chunks(out)
    assert f"{kept} finished chunks kept in {parts_dir(out)}" in line and "resume" in line
    deadline = time.monotonic() + 5
    while any(running(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert workers and not any(running(p) for p in workers)
    assert not out.exists() and leftovers(tmp_path) == []

    res = caloforge(*args, "-o", out, "-q")
    assert res.returncode == 0, res.stderr
    data = ShowerFile(out)
    assert len(data) == 1000
    assert np.all(np.diff(data.read("cpu_time").shape) == 0)
    assert not parts_dir(out).exists() and leftovers(tmp_path) == []


def test_abandon_removes_what_this_process_holds_only(tmp_path: Path) -> None:
    """What the boundary calls after an interruption: this process's temporary files and
    lock files go; a lock file taken over by another process stays."""
    import json

    from caloforge.files import AtomicFile, OutputLock, abandon, lock_path

    pending = AtomicFile(tmp_path / "a.h5")  # holds a.h5.lock and a temporary file
    assert pending.temp.exists() and lock_path(tmp_path / "a.h5").exists()
    OutputLock(tmp_path / "run").acquire()
    OutputLock(tmp_path / "b.h5").acquire()
    foreign = lock_path(tmp_path / "b.h5")
    record = json.loads(foreign.read_text()) | {"pid": 1, "token": "0" * 16}
    foreign.write_text(json.dumps(record) + "\n")  # taken over meanwhile
    abandon()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.h5.lock"]
    abandon()  # nothing left to do


def test_signal_caught_where_python_cannot_raise_is_delivered_again(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A signal landing in a ``__del__`` (or a weakref callback) is not printed as an
    ignored exception and lost: it is delivered again and stops the command."""
    from caloforge.cli import _interrupt

    class Finalised:
        def __del__(self) -> None:
            _interrupt._raise(SIGTERM, None)  # the handler, as the signal would call it

    with pytest.raises(_interrupt.Interrupted) as caught, _interrupt.interruptible():
        Finalised()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            time.sleep(0.001)
    assert caught.value.signum == SIGTERM and caught.value.exit_code == 143
    assert "Exception ignored" not in capsys.readouterr().err



def test_threads_dying_of_the_teardown_are_quiet_only_after_an_interrupt() -> None:
    """A background thread's exception goes to the usual hook while the command runs, and
    is left unprinted once the command is being interrupted (the stop tears it down); the
    hook is restored afterwards."""
    import threading

    from caloforge.cli import _interrupt

    seen: list[str] = []

    def report(args: threading.ExceptHookArgs) -> None:
        seen.append(str(args.exc_value))

    def dies() -> threading.ExceptHookArgs:
        err = RuntimeError("pipe closed under me")
        return threading.ExceptHookArgs((RuntimeError, err, None, threading.current_thread()))

    before = threading.excepthook
    with pytest.raises(_interrupt.Interrupted), _interrupt.interruptible():
        hook = _interrupt._quiet_after_interrupt(report)
        hook(dies())
        assert seen == ["pipe closed under me"]
        assert threading.excepthook is not before  # installed for the command
        try:
            _interrupt._raise(SIGINT, None)
        finally:
            hook(dies())  # during the unwinding
    assert seen == ["pipe closed under me"] and threading.excepthook is before


def test_signal_surfacing_as_another_exception_is_still_an_interruption(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A signal caught in C code (an h5py attribute callback) reaches the boundary as a
    SystemError: it is reported as the interruption, one line and 128 + signal."""
    from caloforge.cli import _app, _interrupt

    def app_hit_in_c_code(standalone_mode: bool) -> int:
        try:
            _interrupt._raise(SIGTERM, None)
        except _interrupt.Interrupted as exc:
            raise SystemError("returned a result with an exception set") from exc
        return 0

    monkeypatch.setattr(_app, "app", app_hit_in_c_code)
    with pytest.raises(SystemExit) as stopped:
        _app.main()
    assert stopped.value.code == 143
    err = capsys.readouterr().err
    assert err.startswith("interrupted (SIGTERM)") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("sig", [SIGINT, SIGTERM])
def test_a_signal_after_the_command_keeps_its_exit_code(sig: signal.Signals) -> None:
    """A signal that lands while the finished command's interpreter shuts down ends it with
    the command's own code and no traceback."""
    import subprocess
    import sys

    # a shell's background job starts with SIGINT ignored (and exit_at_signal keeps an
    # ignored signal ignored): the child takes Python's own handler first, as a
    # foreground command has it
    code = (
        "import os, signal, time\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "from caloforge.cli._interrupt import exit_at_signal\n"
        "exit_at_signal(3)\n"
        f"os.kill(os.getpid(), {int(sig)})\n"
        "time.sleep(30)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 3 and out.stderr == ""
