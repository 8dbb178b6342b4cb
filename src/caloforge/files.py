"""Writing files safely: atomic replacement, exclusive output locks, orphan cleanup.

Every file caloforge writes goes through this module (see ``docs/architecture.md``,
"Writing files"):

* **Atomic writes.** Data go to a temporary file in the target's folder, named
  ``.NAME.PID@HOST.TOKEN.tmp`` so that its writer can be recognised; the file is fsynced,
  renamed over the target with :func:`os.replace`, and the folder is fsynced. The final
  path holds either the previous file or the complete new one, never a part; on failure
  the temporary file is removed.
* **Output locks.** A writer holds ``PATH.lock`` for as long as it works on ``PATH`` (a file
  or a run folder). The lock file is created atomically with its content: a filled
  temporary file is hard-linked to the lock's name, which fails when the name exists
  (``O_CREAT | O_EXCL`` and a write where the file system has no hard links). It holds
  the writer's pid, host, start time, command and a token. A second writer refuses in
  one line naming the holder. A lock whose pid no longer runs on this host (or was
  reused by a later process) is stale: it is reported in a warning and taken over. A
  process may take a lock it already holds again (nested writers). The lock is released
  on exit, on exceptions too.
* **Orphans.** Temporary files and lock files left by a writer killed with SIGKILL are
  removed by the next write into the same folder (:func:`clean_orphans`), once their
  writer is dead.
* **Inputs.** An output may not be one of the inputs of the command that writes it (same
  resolved path or same inode).
"""

from __future__ import annotations

import errno
import functools
import inspect
import json
import logging
import os
import re
import secrets
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

LOCK_SUFFIX = ".lock"
UNREADABLE_LOCK_GRACE_S = 10.0
"""A lock file without readable content younger than this is being written by its
holder; older, its writer died between creating and filling it."""
_PID_REUSE_SLACK_S = 2.0
_NO_HARD_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOSYS, errno.EXDEV, errno.EMLINK}
"""``os.link`` errors of file systems without hard links: the lock is created in place."""
_TEMP_RE = re.compile(
    r"^\.(?P<name>.*)\.(?P<pid>\d+)@(?P<host>[A-Za-z0-9._-]+)\.(?P<token>[0-9a-f]{8})\.tmp$"
)


class OutputError(ValueError):
    """An output path that cannot be written: a folder, one of the inputs, a bad parent."""


class OutputLockedError(FileExistsError):
    """Another live process holds the lock of an output; the message names it."""


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9.-]", "_", socket.gethostname()) or "localhost"


def _absolute(path: str | os.PathLike[str]) -> Path:
    return Path(os.path.abspath(path))


# ---------------------------------------------------------------------------------------
# processes
def _process_start(pid: int) -> float | None:
    """Start time (epoch seconds) of a running process, where ``/proc`` tells it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
        ticks = float(stat.rsplit(")", 1)[1].split()[19])
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def process_alive(pid: int, since: float | None = None) -> bool:
    """Whether process ``pid`` of this host runs, and (``since`` given) was already
    running at that time (a later process that reused the pid does not count)."""
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: it exists
    if since is not None:
        started = _process_start(pid)
        if started is not None and started > since + _PID_REUSE_SLACK_S:
            return False
    return True


# ---------------------------------------------------------------------------------------
# locks
def lock_path(path: str | os.PathLike[str]) -> Path:
    """The lock file of an output file or run folder: ``PATH.lock`` beside it."""
    p = _absolute(path)
    if not p.name:
        raise OutputError(f"{path}: cannot lock the root folder")
    return p.with_name(p.name + LOCK_SUFFIX)


@dataclass(frozen=True)
class LockHolder:
    """What a lock file says about the process holding it."""

    pid: int
    host: str
    started: float
    command: str
    token: str

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.started))
        return f"pid {self.pid} on {self.host}, since {when}" + (
            f": {self.command}" if self.command else ""
        )

    def stale(self) -> bool:
        """The holder ran on this host and is gone (or its pid now belongs to another)."""
        return self.host == _host() and not process_alive(self.pid, self.started)


def _read_holder(path: Path) -> LockHolder | None:
    try:
        data = json.loads(path.read_text())
        return LockHolder(
            int(data["pid"]),
            str(data["host"]),
            float(data["started"]),
            str(data.get("command", "")),
            str(data["token"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _command() -> str:
    words = [Path(sys.argv[0]).name, *sys.argv[1:]] if sys.argv and sys.argv[0] else []
    text = " ".join(words)
    return text if len(text) <= 120 else text[:117] + "..."


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """SIGINT and SIGTERM held back (delivered on exit) while a lock file and this process's
    record of it change together: a signal between the two would leave a lock file that
    :func:`abandon` does not know of. Where signal masks are unavailable, a plain block."""
    mask = getattr(signal, "pthread_sigmask", None)
    if mask is None:
        yield
        return
    old = mask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        mask(signal.SIG_SETMASK, old)


_held: dict[Path, tuple[int, int, str]] = {}  # lock file -> (pid, depth, token)
_held_guard = threading.Lock()
_temps: set[Path] = set()  # temporary files of this process not yet renamed or removed


def _drop(path: Path, token: str) -> None:
    """Remove the lock file ``path`` if it holds ``token``, then this process's record of it
    (after the unlink: an interrupted drop is still seen by :func:`abandon`)."""
    holder = _read_holder(path)
    if holder is not None and holder.token == token:
        path.unlink(missing_ok=True)
    _held.pop(path, None)


def abandon() -> None:
    """Remove this process's temporary files and lock files, wherever its writers stopped.

    An interrupted command (SIGINT/SIGTERM) unwinds through its writers, which clean up
    after themselves; a signal landing inside that bookkeeping can still leave a file
    behind, so the command-line boundary calls this before it exits. A lock file is
    removed only while it still holds this process's token. (A SIGKILLed process leaves
    its files to :func:`clean_orphans` and the stale-lock check.)
    """
    for temp in list(_temps):
        temp.unlink(missing_ok=True)
        _temps.discard(temp)
    if not _held_guard.acquire(timeout=5):
        return
    try:
        for path, (pid, _, token) in list(_held.items()):
            if pid == os.getpid():
                _drop(path, token)
    finally:
        _held_guard.release()


class OutputLock:
    """Exclusive lock of an output file or run folder, held through ``PATH.lock``.

    Arguments:
        path: the output (file or folder) to lock; it need not exist.

    Raises (on :meth:`acquire`):
        OutputLockedError: another live process holds the lock (the message names its pid,
            host, start time and command, and the lock file).

    Example:
        >>> with OutputLock("showers.h5"):  # doctest: +SKIP
        ...     write_showers("showers.h5", ...)
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.target = Path(path)
        self.path = lock_path(path)

    def acquire(self) -> OutputLock:
        """Take the lock (again, when this process holds it already)."""
        with _held_guard:
            pid, depth, token = _held.get(self.path, (0, 0, ""))
            if pid == os.getpid() and depth:
                _held[self.path] = (pid, depth + 1, token)
                return self
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Recorded before the file exists: a masked signal still runs its Python handler
            # in this thread when another thread of the process received it, so the record
            # must never trail the file. abandon() removes only a file holding this token.
            token = secrets.token_hex(8)
            _held[self.path] = (os.getpid(), 1, token)
            try:
                with _signals_deferred():
                    self._create(token)
            except BaseException:  # no lock taken, or an interrupted one: leave none behind
                _drop(self.path, token)
                raise
        return self

    def release(self) -> None:
        """Give the lock back; the lock file goes with the outermost release."""
        with _held_guard:
            pid, depth, token = _held.get(self.path, (0, 0, ""))
            if pid != os.getpid() or not depth:
                return
            if depth > 1:
                _held[self.path] = (pid, depth - 1, token)
                return
            holder = _read_holder(self.path)
            if holder is not None and holder.token != token:
                del _held[self.path]
                log.warning(
                    "%s: lock taken over by %s; left in place", self.path, holder.describe()
                )
                return
            self.path.unlink(missing_ok=True)
            del _held[self.path]  # after the unlink: an interrupted release is seen by abandon

    def _create(self, token: str) -> None:
        """Create the lock file with its record in one step: the record goes to a temporary
        file that is hard-linked to the lock's name (which fails when the name exists), so
        the lock file is never seen without its record, and a signal caught right after
        the link leaves a file that :func:`_drop` recognises by its token. Where the file
        system has no hard links, ``O_CREAT | O_EXCL`` and a write."""
        record = {
            "pid": os.getpid(),
            "host": _host(),
            "started": time.time(),
            "command": _command(),
            "token": token,
        }
        text = json.dumps(record) + "\n"
        temp = temp_name(self.path)
        _temps.add(temp)  # before it exists: abandon() removes it wherever a signal lands
        try:
            with open(temp, "x", encoding="utf-8") as fh:  # no fsync: a lock dies with its holder
                fh.write(text)
            for _ in range(5):
                try:
                    self._place(temp, text)
                except FileExistsError:
                    self._clear_stale()
                    continue
                return
        finally:
            temp.unlink(missing_ok=True)
            _temps.discard(temp)
        raise OutputLockedError(f"{self.target}: could not take the lock {self.path}; try again")

    def _place(self, temp: Path, text: str) -> None:
        """Give the lock's name to the filled ``temp`` (a hard link); where the file system
        has no hard links, create the name with ``O_CREAT | O_EXCL`` and write ``text``
        (the lock file is empty for a moment). Raises FileExistsError when the name exists."""
        try:
            os.link(temp, self.path)
            return
        except OSError as exc:  # FileExistsError (EEXIST) is not among these: re-raised
            if exc.errno not in _NO_HARD_LINKS:
                raise
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
        except BaseException:  # the record could not be written: no lock taken
            self.path.unlink(missing_ok=True)
            raise

    def _clear_stale(self) -> None:
        """Remove the existing lock file if its holder is gone, else refuse."""
        holder = _read_holder(self.path)
        for _ in range(20):  # a holder writes its record right after creating the file
            if holder is not None:
                break
            time.sleep(0.05)
            holder = _read_holder(self.path)
        if holder is None:
            try:
                age = time.time() - self.path.stat().st_mtime
            except FileNotFoundError:
                return  # released meanwhile: try again
            if age < UNREADABLE_LOCK_GRACE_S:
                raise OutputLockedError(
                    f"{self.target}: locked by another process ({self.path} is being written)"
                )
            log.warning("%s: unreadable lock file, %.0f s old; taking it over", self.path, age)
            self._discard(None)
            return
        if not holder.stale():
            raise OutputLockedError(
                f"{self.target}: in use by another caloforge process ({holder.describe()}); "
                f"wait for it to finish, or remove {self.path} if that process is gone"
            )
        log.warning(
            "%s: stale lock of %s (no longer running); taking it over",
            self.path,
            holder.describe(),
        )
        self._discard(holder)

    def _discard(self, holder: LockHolder | None) -> bool:
        """Move the stale lock aside, making sure it is the one judged stale; False when
        it was gone or had been replaced by a live one meanwhile."""
        aside = self.path.with_name(f"{self.path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return False  # another process cleared it first
        moved = _read_holder(aside)
        stale = holder is None or (moved is not None and moved.token == holder.token)
        if not stale:  # a live lock created after the stale one was judged: give it back
            with suppress(OSError):
                os.link(aside, self.path)
        aside.unlink(missing_ok=True)
        return stale

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, *_: object) -> None:
        self.release()


# ---------------------------------------------------------------------------------------
# checks
def _flatten(items: Iterable[Any]) -> Iterator[Path]:
    for item in items:
        if item is None:
            continue
        if isinstance(item, str | os.PathLike):
            yield Path(item)
        elif isinstance(item, list | tuple | set | frozenset):
            yield from _flatten(item)
        elif hasattr(item, "paths"):  # a ShowerFile: its shards
            yield from _flatten(item.paths)


def refuse_input_as_output(
    output: str | os.PathLike[str], inputs: Iterable[str | os.PathLike[str] | None]
) -> None:
    """Refuse an output that is one of the inputs (same resolved path, or same inode).

    Raises:
        OutputError: naming the output and the input it would overwrite.
    """
    out = Path(output)
    try:
        out_stat: os.stat_result | None = out.stat()
    except OSError:
        out_stat = None
    out_real = out.resolve()
    for p in _flatten(inputs):
        same = p.resolve() == out_real
        if not same and out_stat is not None:
            with suppress(OSError):
                st = p.stat()
                same = (st.st_dev, st.st_ino) == (out_stat.st_dev, out_stat.st_ino)
        if same:
            raise OutputError(f"{out}: is also an input ({p}); write the output to another file")


def check_output(
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    inputs: Iterable[str | os.PathLike[str] | None] = (),
) -> Path:
    """Refuse, in one line, an output that cannot be written: a folder, a path under a
    file, one of ``inputs``, or an existing file without ``overwrite``.

    Raises:
        OutputError: folder, bad parent, or an input; FileExistsError: exists.
    """
    p = Path(path)
    if p.is_dir():
        raise OutputError(f"{p}: is a folder; give the output a file name")
    for parent in p.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputError(f"{p}: {parent} is a file, not a folder")
            break
    refuse_input_as_output(p, inputs)
    if p.exists() and not overwrite:
        raise FileExistsError(f"{p}: exists; pass --overwrite (overwrite=True) to replace it")
    return p


@contextmanager
def claim_output(
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    inputs: Iterable[str | os.PathLike[str] | None] = (),
) -> Iterator[Path]:
    """Hold the lock of an output file for a whole command, after :func:`check_output`.

    A command takes its output at the start, so that a second writer refuses before doing
    any work; the writer inside (:func:`atomic_output`) takes the same lock again.
    """
    inputs = list(inputs)
    check_output(path, overwrite=overwrite, inputs=inputs)  # refuse before taking the lock
    with OutputLock(path):
        yield check_output(path, overwrite=overwrite, inputs=inputs)


def writes_output(
    param: str,
    *,
    inputs: tuple[str, ...] = (),
    folder: bool = False,
    when: Callable[[], bool] | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a function that writes the output named by its argument ``param``.

    Arguments:
        param: the argument holding the output path.
        inputs: arguments holding input paths (paths, lists of them, shower files).
        folder: the output is a run folder: only its lock is held (the function decides
            what may be in it); else :func:`claim_output` with the function's ``overwrite``.
        when: the lock is taken only when this returns True (e.g. the writing rank).

    Example:
        >>> @writes_output("out", inputs=("checkpoint",))  # doctest: +SKIP
        ... def export(checkpoint, out, *, overwrite=False): ...
    """

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        signature = inspect.signature(func)

        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            if when is not None and not when():
                return func(*args, **kwargs)
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            target = bound.arguments[param]
            if folder:
                with OutputLock(target):
                    return func(*args, **kwargs)
            with claim_output(
                target,
                overwrite=bool(bound.arguments.get("overwrite", False)),
                inputs=[bound.arguments.get(name) for name in inputs],
            ):
                return func(*args, **kwargs)

        return wrapper

    return decorate


# ---------------------------------------------------------------------------------------
# atomic writes
def _fsync_path(path: Path, *, folder: bool = False) -> None:
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if folder else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        if folder:
            return  # some systems cannot open folders
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not folder:
            raise  # folders: some file systems refuse; the rename is done anyway
    finally:
        os.close(fd)


def temp_name(path: str | os.PathLike[str]) -> Path:
    """A fresh temporary path beside ``path`` that names this process as its writer."""
    p = Path(path)
    stem = p.name[:100]
    return p.with_name(f".{stem}.{os.getpid()}@{_host()}.{secrets.token_hex(4)}.tmp")


def _remove_stale_lock(path: Path) -> bool:
    """Remove a lock file whose holder is dead (as :class:`OutputLock` takes one over)."""
    holder = _read_holder(path)
    if holder is None or not holder.stale():
        return False
    if not OutputLock(path.with_name(path.name[: -len(LOCK_SUFFIX)]))._discard(holder):
        return False
    log.warning("removed %s, the stale lock of %s", path, holder.describe())
    return True


def clean_orphans(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary files and lock files in ``folder`` whose writer (a process of
    this host) is dead.

    Returns:
        The removed paths.
    """
    removed: list[Path] = []
    host = _host()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if entry.name.endswith(LOCK_SUFFIX):
            if _remove_stale_lock(Path(entry.path)):
                removed.append(Path(entry.path))
            continue
        m = _TEMP_RE.match(entry.name)
        if m is None or m["host"] != host:
            continue
        try:
            since = entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        if process_alive(int(m["pid"]), since):
            continue
        with suppress(FileNotFoundError):
            os.unlink(entry.path)
            removed.append(Path(entry.path))
            log.warning("removed %s, left by a writer that died", entry.path)
    return removed


class AtomicFile:
    """A new version of ``path``, written to a temporary file and renamed into place.

    Arguments:
        path: the final path.
        overwrite: replace an existing file (else FileExistsError now).
        lock: hold ``path``'s lock until :meth:`commit` / :meth:`discard`; False when
            the caller holds a lock covering the path (a chunk of a locked run).
        inputs: paths the output may not be.

    Attributes:
        path: the final path. temp: the temporary file to write (it exists, empty).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        overwrite: bool = False,
        lock: bool = True,
        inputs: Iterable[str | os.PathLike[str] | None] = (),
    ) -> None:
        self.path = Path(path)
        inputs = list(inputs)
        check_output(self.path, overwrite=overwrite, inputs=inputs)
        self._lock: OutputLock | None = None
        try:
            self._lock = OutputLock(self.path).acquire() if lock else None
            check_output(self.path, overwrite=overwrite, inputs=inputs)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            clean_orphans(self.path.parent)
            self.temp = temp_name(self.path)
            _temps.add(self.temp)
            os.close(os.open(self.temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except BaseException:
            if hasattr(self, "temp"):
                self.temp.unlink(missing_ok=True)
                _temps.discard(self.temp)
            self._release()
            raise
        self._open = True

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def commit(self) -> Path:
        """fsync the temporary file, rename it to the final path, fsync the folder."""
        if not self._open:
            raise RuntimeError(f"{self.path}: already committed or discarded")
        try:
            _fsync_path(self.temp)
            os.replace(self.temp, self.path)
            _temps.discard(self.temp)
            self._open = False
            _fsync_path(self.path.parent, folder=True)
        except BaseException:
            self.discard()
            raise
        finally:
            self._release()
        return self.path

    def discard(self) -> None:
        """Remove the temporary file; the final path is left as it was."""
        self._open = False
        self.temp.unlink(missing_ok=True)
        _temps.discard(self.temp)
        self._release()


@contextmanager
def atomic_output(
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    lock: bool = True,
    inputs: Iterable[str | os.PathLike[str] | None] = (),
) -> Iterator[Path]:
    """Write ``path`` atomically: yields a temporary path to write, renamed into place
    when the block ends without error (see :class:`AtomicFile`); on error nothing is left.

    Example:
        >>> with atomic_output("summary.json", overwrite=True) as tmp:  # doctest: +SKIP
        ...     tmp.write_text(text)
    """
    out = AtomicFile(path, overwrite=overwrite, lock=lock, inputs=inputs)
    try:
        yield out.temp
    except BaseException:
        out.discard()
        raise
    out.commit()


def write_text(
    path: str | os.PathLike[str], text: str, *, overwrite: bool = True, lock: bool = True
) -> Path:
    """Write a text file atomically (UTF-8)."""
    with atomic_output(path, overwrite=overwrite, lock=lock) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_figure(
    fig: Any,
    path: str | os.PathLike[str],
    *,
    overwrite: bool = True,
    lock: bool = True,
    **savefig: Any,
) -> Path:
    """Save a matplotlib figure atomically in the format of ``path``'s suffix (``png``,
    ``pdf``, ...; PNG without one); ``savefig`` goes to ``fig.savefig`` (e.g. ``dpi``).
    The figure stays open: closing it is the caller's."""
    path = Path(path)
    with atomic_output(path, overwrite=overwrite, lock=lock) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".").lower() or "png", **savefig)
    return path


__all__ = [
    "AtomicFile",
    "LockHolder",
    "OutputError",
    "OutputLock",
    "OutputLockedError",
    "atomic_output",
    "check_output",
    "claim_output",
    "clean_orphans",
    "lock_path",
    "process_alive",
    "refuse_input_as_output",
    "temp_name",
    "write_figure",
    "write_text",
    "writes_output",
]
