"""Atomic writes, output locks, orphan cleanup and the input-as-output refusal."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from caloforge.files import (
    OutputError,
    OutputLock,
    OutputLockedError,
    atomic_output,
    clean_orphans,
    lock_path,
    process_alive,
    refuse_input_as_output,
    temp_name,
    write_text,
    writes_output,
)

HOLDER = """
import sys
from caloforge.files import OutputLock
lock = OutputLock(sys.argv[1]).acquire()
print("held", flush=True)
sys.stdin.read()
lock.release()
"""


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _write_lock(path: Path, pid: int, *, host: str | None = None, started: float | None = None):
    lock_path(path).write_text(
        json.dumps(
            {
                "pid": pid,
                "host": host or socket.gethostname(),
                "started": time.time() if started is None else started,
                "command": "caloforge generate",
                "token": "0123456789abcdef",
            }
        )
    )


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith((".tmp", ".lock")))


@pytest.fixture()
def holder(tmp_path: Path):
    """A second process holding the lock of tmp_path/out.h5 until its stdin closes."""
    target = tmp_path / "out.h5"
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(target)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    with proc:
        yield target, proc
        if proc.poll() is None:
            proc.kill()


def test_atomic_output_writes_and_leaves_nothing_else(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "a.txt"
    with atomic_output(target) as tmp:
        assert tmp.parent == target.parent and tmp.name.startswith(".a.txt.")
        assert lock_path(target).exists() and not target.exists()
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert _leftovers(target.parent) == []


def test_atomic_output_failure_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="boom"), atomic_output(target, overwrite=True) as tmp:
        tmp.write_text("partial")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert _leftovers(tmp_path) == []


def test_atomic_output_refusals(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(FileExistsError, match=r"a\.txt: exists; pass --overwrite"):
        write_text(target, "new", overwrite=False)
    with pytest.raises(OutputError, match="is a folder"):
        write_text(tmp_path, "new")
    with pytest.raises(OutputError, match="is a file, not a folder"):
        write_text(target / "b.txt", "new")
    assert target.read_text() == "old"
    assert _leftovers(tmp_path) == []


def test_input_as_output_same_path_link_and_inode(tmp_path: Path) -> None:
    src = tmp_path / "ck.pt"
    src.write_text("weights")
    (tmp_path / "alias.pt").symlink_to(src)
    os.link(src, tmp_path / "hard.pt")
    for out in (src, tmp_path / "." / "ck.pt", tmp_path / "alias.pt", tmp_path / "hard.pt"):
        with pytest.raises(OutputError, match=r"is also an input \(.*ck.pt\)"):
            refuse_input_as_output(out, [tmp_path / "data.h5", [src]])
    refuse_input_as_output(tmp_path / "other.pt", [src, None])


def test_second_process_holding_the_lock_is_named(tmp_path: Path, holder) -> None:
    target, proc = holder
    with pytest.raises(OutputLockedError) as info:
        OutputLock(target).acquire()
    message = str(info.value)
    assert f"pid {proc.pid} on {socket.gethostname()}" in message
    assert str(lock_path(target)) in message and "\n" not in message
    with pytest.raises(OutputLockedError), atomic_output(target) as tmp:
        tmp.write_text("x")
    assert not target.exists()
    proc.communicate()  # closes its stdin: it releases the lock and exits
    assert proc.wait(timeout=30) == 0
    assert not lock_path(target).exists()


def test_lock_of_a_killed_process_is_taken_over_with_a_warning(
    tmp_path: Path, holder, caplog: pytest.LogCaptureFixture
) -> None:
    target, proc = holder
    proc.kill()
    proc.wait()
    assert lock_path(target).exists()
    with caplog.at_level(logging.WARNING, logger="caloforge.files"):
        with OutputLock(target):
            assert json.loads(lock_path(target).read_text())["pid"] == os.getpid()
    assert f"stale lock of pid {proc.pid}" in caplog.text
    assert _leftovers(tmp_path) == []


def test_stale_lock_with_a_dead_pid(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    target = tmp_path / "out.h5"
    dead = _dead_pid()
    _write_lock(target, dead)
    with caplog.at_level(logging.WARNING, logger="caloforge.files"):
        write_text(target, "new")
    assert target.read_text() == "new"
    assert "stale lock" in caplog.text and str(dead) in caplog.text
    assert _leftovers(tmp_path) == []


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_reused_pid_counts_as_dead(tmp_path: Path) -> None:
    parent = os.getppid()  # alive, but started long after 1970
    assert process_alive(parent) and not process_alive(parent, since=1.0)
    _write_lock(tmp_path / "out.h5", parent, started=1.0)
    with OutputLock(tmp_path / "out.h5"):
        pass


def test_lock_of_another_host_or_live_process_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "out.h5"
    _write_lock(target, _dead_pid(), host="elsewhere.example")
    with pytest.raises(OutputLockedError, match=r"on elsewhere\.example"):
        OutputLock(target).acquire()
    _write_lock(target, os.getppid())
    with pytest.raises(OutputLockedError, match=f"pid {os.getppid()}"):
        OutputLock(target).acquire()
    assert lock_path(target).exists()


def test_unreadable_lock_young_refused_old_taken_over(tmp_path: Path) -> None:
    target = tmp_path / "out.h5"
    lock_path(target).write_text("")
    with pytest.raises(OutputLockedError, match="being written"):
        OutputLock(target).acquire()
    old = time.time() - 3600
    os.utime(lock_path(target), (old, old))
    with OutputLock(target):
        pass
    assert not lock_path(target).exists()


def test_lock_is_reentrant_in_one_process_and_released_on_error(tmp_path: Path) -> None:
    target = tmp_path / "run"
    with pytest.raises(KeyError), OutputLock(target):
        with OutputLock(target):
            pass
        assert lock_path(target).exists()
        raise KeyError("x")
    assert not lock_path(target).exists()


def test_clean_orphans_removes_only_temporaries_of_dead_writers(tmp_path: Path) -> None:
    mine = temp_name(tmp_path / "a.h5")
    dead = tmp_path / f".a.h5.{_dead_pid()}@{socket.gethostname()}.0badc0de.tmp"
    foreign = tmp_path / f".a.h5.{_dead_pid()}@elsewhere.example.0badc0de.tmp"
    other = tmp_path / ".a.h5.xyz.tmp"
    for p in (mine, dead, foreign, other):
        p.write_text("x")
    assert clean_orphans(tmp_path) == [dead]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in (mine, foreign, other)
    )


def test_next_write_cleans_orphans_and_stale_locks(tmp_path: Path) -> None:
    orphan = tmp_path / f".b.h5.{_dead_pid()}@{socket.gethostname()}.0badc0de.tmp"
    orphan.write_text("partial")
    _write_lock(tmp_path / "b.h5", _dead_pid())
    _write_lock(tmp_path / "c.h5", os.getppid())  # alive: kept
    (tmp_path / "d.lock").write_text("someone else's lock file")  # not ours: kept
    write_text(tmp_path / "a.txt", "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "c.h5.lock", "d.lock"]


def test_writes_output_checks_inputs_and_holds_the_lock(tmp_path: Path) -> None:
    seen: list[bool] = []

    @writes_output("out", inputs=("source",))
    def copy(source: Path, out: Path, *, overwrite: bool = False) -> None:
        seen.append(lock_path(out).exists())
        write_text(out, source.read_text(), overwrite=overwrite)

    src = tmp_path / "src.txt"
    src.write_text("data")
    copy(src, tmp_path / "dst.txt")
    assert seen == [True] and (tmp_path / "dst.txt").read_text() == "data"
    with pytest.raises(OutputError, match="is also an input"):
        copy(src, src, overwrite=True)
    with pytest.raises(FileExistsError):
        copy(src, tmp_path / "dst.txt")
    assert src.read_text() == "data"
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("other_thread", [False, True], ids=["one-thread", "two-threads"])
def test_a_signal_while_a_lock_is_taken_leaves_no_lock_behind(
    tmp_path: Path, other_thread: bool
) -> None:
    import signal
    import threading

    from caloforge import files

    # SIGINT sent right after the lock file is written. With a second thread alive, the
    # kernel hands the signal to that thread while the main one masks it, and Python then
    # raises KeyboardInterrupt in the main thread at once, inside the masked block.
    real_create = files.OutputLock._create

    def create_then_interrupt(self: files.OutputLock, token: str) -> None:
        real_create(self, token)
        assert self.path.exists()
        os.kill(os.getpid(), signal.SIGINT)

    stop = threading.Event()
    waiter = threading.Thread(target=stop.wait)
    if other_thread:
        waiter.start()
    lock = files.OutputLock(tmp_path / "out.h5")
    files.OutputLock._create = create_then_interrupt  # type: ignore[method-assign]
    # Python's own SIGINT handler, also where the test runs as a background job (SIG_IGN)
    handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            lock.acquire()
    finally:
        signal.signal(signal.SIGINT, handler)
        files.OutputLock._create = real_create  # type: ignore[method-assign]
        stop.set()
        if other_thread:
            waiter.join()
    assert not lock.path.exists() and lock.path not in files._held
    with lock:  # the interrupted attempt left no record that would fake a held lock
        assert lock.path.exists()
    assert not lock.path.exists()


def test_abandon_removes_a_lock_recorded_before_its_file_was_written(tmp_path: Path) -> None:
    from caloforge import files

    # the moment between the record and the file, and the moment after both
    lock = files.OutputLock(tmp_path / "out.h5")
    files._held[lock.path] = (os.getpid(), 1, "0123456789abcdef")
    files.abandon()
    assert lock.path not in files._held and not lock.path.exists()
    files._held[lock.path] = (os.getpid(), 1, "0123456789abcdef")
    lock._create("0123456789abcdef")
    other = tmp_path / "other.h5.lock"
    other.write_text(lock.path.read_text())  # a file with the same token but no record
    files.abandon()
    assert not lock.path.exists() and other.exists() and lock.path not in files._held


@pytest.mark.parametrize("when", ["before-link", "after-link"])
def test_a_lock_file_never_exists_without_its_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    from caloforge import files

    # An interruption the moment the lock's name appears (a signal handled by another
    # thread is raised in the main one right after the system call) or just before it:
    # the file that exists holds this process's token, so the interrupted acquire removes
    # it, and the filled temporary file goes too.
    real_link = os.link
    seen: list[str] = []

    def link_then_interrupt(src: Path, dst: Path) -> None:
        if when == "after-link":
            real_link(src, dst)
            seen.append(Path(dst).read_text())
        raise KeyboardInterrupt

    monkeypatch.setattr(files.os, "link", link_then_interrupt)
    lock = files.OutputLock(tmp_path / "out.h5")
    with pytest.raises(KeyboardInterrupt):
        lock.acquire()
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    assert lock.path not in files._held and not files._temps
    if when == "after-link":
        assert json.loads(seen[0])["pid"] == os.getpid()
    monkeypatch.setattr(files.os, "link", real_link)
    with lock:
        assert json.loads(lock.path.read_text())["pid"] == os.getpid()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_lock_without_hard_links_is_created_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from caloforge import files

    def no_links(src: Path, dst: Path) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(files.os, "link", no_links)
    target = tmp_path / "out.h5"
    with OutputLock(target):
        assert json.loads(lock_path(target).read_text())["pid"] == os.getpid()
        _write_lock(tmp_path / "b.h5", os.getppid())  # a live holder: refused in place too
        with pytest.raises(OutputLockedError, match="in use by another caloforge process"):
            OutputLock(tmp_path / "b.h5").acquire()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.h5.lock"]
