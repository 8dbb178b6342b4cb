"""Fault injection: SIGINT, SIGTERM or SIGKILL at seeded random points of simulate, train,
generate, calibrate and merge, then the same command again.

For every trial: the interrupted command exits 130 / 143 with its one line (or dies by
SIGKILL), leaves no partial file at its final path (a run folder's checkpoint always
loads), stops its worker processes; the rerun (``--resume`` for a run folder with a
checkpoint) succeeds, its output equals an uninterrupted run's (datasets and tensors; not
file bytes, whose metadata hold times), and no lock, temporary file or parts folder is left.
"""

from __future__ import annotations

import importlib.util
import random
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from tests.export.conftest import FAST, TINY

from caloforge.testing import tiny_g4_detector
from caloforge.train import load_checkpoint

from .conftest import (
    assert_interrupted,
    assert_refused,
    caloforge,
    children,
    leftovers,
    running,
    start,
)

pytestmark = pytest.mark.slow

SEED = 20261206
TRIALS = (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)
TIMING_COLUMNS = ("cpu_time",)
"""Per-event measurements that differ between any two runs."""


def same_showers(a: Path, b: Path) -> None:
    """Every dataset of two shower files equal (timing columns apart)."""
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        assert sorted(fa.keys()) == sorted(fb.keys())
        for key in fa:
            if key not in TIMING_COLUMNS:
                assert np.array_equal(fa[key][()], fb[key][()]), key


def same_checkpoint(a: Path, b: Path) -> None:
    """The step and every tensor of the model state and its EMA equal."""
    ca, cb = load_checkpoint(a), load_checkpoint(b)
    assert ca["step"] == cb["step"]
    for part in ("state", "ema"):
        ta, tb = ca.get(part) or {}, cb.get(part) or {}
        assert sorted(ta) == sorted(tb), part
        for key in ta:
            if isinstance(ta[key], torch.Tensor):
                assert torch.equal(ta[key], tb[key]), (part, key)


@dataclass(frozen=True)
class Case:
    """A command, its final output, and how two outputs compare.

    Arguments:
        args: the command line after ``caloforge`` (OUT stands for the output).
        name: the output's name (a file, or a run folder for train).
        compare: equality of two outputs (raises AssertionError).
        folder_run: the output is a run folder resumed with ``--resume``.
    """

    args: tuple[str | Path, ...]
    name: str
    compare: Callable[[Path, Path], None]
    folder_run: bool = False

    def command(self, out: Path) -> list[str | Path]:
        return [out if a == "OUT" else a for a in self.args]

    def final(self, out: Path) -> Path:
        return out / "checkpoint.pt" if self.folder_run else out


def _cases(toy: Path, g4det: Path) -> dict[str, Case]:
    ckpt = toy / "wgan-gp" / "checkpoint.pt"
    return {
        "simulate": Case(
            ("simulate", "-d", g4det, "-e", "1GeV", "-n", "600", "--chunk-size", "20",
             "-j", "2", "--seed", "3", "-o", "OUT", "-q"),
            "sim.h5",
            same_showers,
        ),
        "train": Case(
            ("train", "-m", "wgan-gp", "--data", toy / "toy_train.h5", "-o", "OUT", "-q",
             *TINY["wgan-gp"], *FAST, "train.steps=60", "train.checkpoint_every=10"),
            "run",
            lambda a, b: same_checkpoint(a / "checkpoint.pt", b / "checkpoint.pt"),
            folder_run=True,
        ),
        "generate": Case(
            ("generate", "--checkpoint", ckpt, "--conditions", toy / "big1.h5",
             "--batch-size", "1000", "--seed", "1", "-o", "OUT", "-q"),
            "gen.h5",
            same_showers,
        ),
        "calibrate": Case(
            ("calibrate", "--checkpoint", ckpt, "--data", toy / "big1.h5", "--bins", "2",
             "--seed", "1", "-o", "OUT", "-q"),
            "cal.pt",
            same_checkpoint,
        ),
        "merge": Case(
            ("merge", "OUT", toy / "big1.h5", toy / "big2.h5"), "merged.h5", same_showers
        ),
    }  # fmt: skip


def _lock(out: Path) -> Path:
    return out.with_name(out.name + ".lock")


def _run_to_the_lock(case: Case, out: Path) -> tuple[subprocess.Popen[str], float]:
    """Start the command; return it once its output lock exists (or it has ended)."""
    proc = start(*case.command(out))
    t0 = time.monotonic()
    while not _lock(out).exists() and proc.poll() is None:
        assert time.monotonic() - t0 < 300, "no output lock after 300 s"
        time.sleep(0.01)
    return proc, time.monotonic()


@pytest.mark.parametrize("verb", ["simulate", "train", "generate", "calibrate", "merge"])
def test_interrupt_anywhere_then_rerun_gives_the_same_output(
    toy: Path, tmp_path: Path, verb: str
) -> None:
    if verb == "simulate" and importlib.util.find_spec("geant4_pybind") is None:
        pytest.skip("needs the geant4 extra (geant4-pybind)")
    g4det = tmp_path / "tiny.json"
    from caloforge.geometry.loader import detector_to_json

    g4det.write_text(detector_to_json(tiny_g4_detector()))
    case = _cases(toy, g4det)[verb]
    rng = random.Random(f"{SEED}-{verb}")

    ref = tmp_path / "reference" / case.name
    ref.parent.mkdir()
    proc, locked = _run_to_the_lock(case, ref)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    work_s = max(time.monotonic() - locked, 0.2)

    stopped = 0
    for k, sig in enumerate(TRIALS):
        folder = tmp_path / f"trial{k}"
        folder.mkdir()
        out = folder / case.name
        proc, _ = _run_to_the_lock(case, out)
        workers = children(proc.pid)
        time.sleep(rng.uniform(0.0, 0.8 * work_s))
        interrupted = proc.poll() is None
        if interrupted:
            workers = sorted(set(workers) | set(children(proc.pid)))
            proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
        rc = proc.returncode
        final = case.final(out)
        kept = final.exists()
        stopped += rc != 0
        if not interrupted or rc == 0:
            assert rc == 0, err  # finished before the signal
        elif rc == -sig and sig != signal.SIGKILL:
            # arrived while the interpreter shut down, the work done: killed by the signal
            assert kept, err
        elif sig == signal.SIGKILL:
            assert rc == -signal.SIGKILL, err
        else:
            assert_interrupted(proc, err, sig)
        if case.folder_run and kept:
            load_checkpoint(final)  # a whole checkpoint, never a part
        elif kept:  # renamed into place before the signal: whole
            case.compare(ref, out)
        deadline = time.monotonic() + 5
        while any(running(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(running(p) for p in workers), f"worker processes left after {sig.name}"

        resume = ["--resume"] if case.folder_run and kept else []
        res = caloforge(*case.command(out), *resume, timeout=600)
        if kept and not case.folder_run:
            # complete already: the rerun refuses in one line and leaves it alone (a lock
            # of a SIGKILLed writer goes with the next writer into this folder)
            assert_refused(res, str(out), "exists")
            case.compare(ref, out)
            continue
        assert res.returncode == 0, res.stderr
        assert "Traceback" not in res.stderr
        case.compare(ref, out)
        assert leftovers(folder) == [], sig.name
        if case.folder_run:
            assert leftovers(out) == []
        assert sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) == []
    assert stopped, "every trial finished before its signal: nothing was tested"
