"""SIGINT and SIGTERM: unwind the running command, keep finished work, exit 128 + signal.

While a command runs, both signals raise :class:`Interrupted` in the main thread, so the
command unwinds through its ``finally`` blocks and context managers: temporary files are
removed, worker processes are stopped, and what is finished (simulation chunks,
checkpoints) stays where a rerun finds it. A second signal during that unwinding ends the
process at once (the default action of the signal). A signal inherited as ignored (a
background job of a non-interactive shell, ``nohup``) stays ignored.

A command says what an interruption keeps with :func:`on_interrupt`; the error boundary
prints it as one line.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

HANDLED = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """A command stopped by SIGINT or SIGTERM: a ``KeyboardInterrupt``, so code that handles
    Ctrl-C (``except KeyboardInterrupt``) handles SIGTERM alike, and ``except Exception``
    never swallows it.

    Arguments:
        signum: the signal number.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def name(self) -> str:
        """``SIGINT`` or ``SIGTERM``."""
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        """The shell convention 128 + signal number: 130 for SIGINT, 143 for SIGTERM."""
        return 128 + self.signum


_kept: Callable[[], str] | None = None
_raised: Interrupted | None = None


def on_interrupt(kept: Callable[[], str]) -> None:
    """Register what an interruption of the running command keeps and how to resume.

    Arguments:
        kept: called when the command is interrupted; returns the end of the one-line
            message, e.g. ``"3 finished chunks kept in .x.h5.parts; run the same command
            again to resume"``.
    """
    global _kept
    _kept = kept


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns


def output_not_written(output: Path) -> None:
    """Register the note of a command writing one file atomically: the output is either
    untouched (nothing kept) or, renamed into place just before the signal, complete."""
    before = _identity(output)

    def note() -> str:
        now = _identity(output)
        if now is not None and now != before:
            return f"{output} was written completely before the signal"
        return f"{output} not written; run the same command again"

    on_interrupt(note)


def interrupt_message(exc: Interrupted) -> str:
    """The one line printed for an interrupted command."""
    note = "run the same command again"
    if _kept is not None:
        try:
            note = _kept()
        except Exception:  # a note that cannot be computed must not hide the interruption
            pass
    return f"interrupted ({exc.name}): {note}"


def raised() -> Interrupted | None:
    """The interruption raised in the running command, if any (typer turns a
    ``KeyboardInterrupt`` into exit code 130; the boundary asks here which signal it was)."""
    return _raised


def _raise(signum: int, frame: FrameType | None) -> None:
    global _raised
    if _raised is not None:
        signal.signal(signum, signal.SIG_DFL)  # second signal: stop now
        os.kill(os.getpid(), signum)
        return
    _raised = Interrupted(signum)
    raise _raised


def _unraisable(hook: Callable[[sys.UnraisableHookArgs], object]) -> Callable[..., None]:
    """An ``Interrupted`` raised where Python cannot propagate it (a ``__del__``, a weakref
    callback during garbage collection) would be printed and lost: deliver the signal
    again shortly, from another thread, so that it lands in the command's own code."""

    def deliver_again(unraisable: sys.UnraisableHookArgs) -> None:
        global _raised
        exc = unraisable.exc_value
        if isinstance(exc, Interrupted) and exc is _raised:
            _raised = None
            threading.Timer(0.05, os.kill, (os.getpid(), exc.signum)).start()
            return
        hook(unraisable)

    return deliver_again


def _quiet_after_interrupt(
    hook: Callable[[threading.ExceptHookArgs], object],
) -> Callable[[threading.ExceptHookArgs], None]:
    """Once the command is interrupted, a background thread that dies of the teardown (the
    process pool's manager thread when its workers are stopped mid-message) is part of the
    stop, not an error of its own: its traceback would hide the one-line message."""

    def hook_or_quiet(args: threading.ExceptHookArgs) -> None:
        if _raised is None:
            hook(args)

    return hook_or_quiet


@contextmanager
def interruptible() -> Iterator[None]:
    """Turn SIGINT and SIGTERM into :class:`Interrupted` inside the block."""
    global _kept, _raised
    _kept, _raised = None, None
    previous = {}
    for sig in HANDLED:
        current = signal.getsignal(sig)
        if current is not signal.SIG_IGN:
            previous[sig] = current
            signal.signal(sig, _raise)
    hook, thread_hook = sys.unraisablehook, threading.excepthook
    sys.unraisablehook = _unraisable(hook)
    threading.excepthook = _quiet_after_interrupt(thread_hook)
    try:
        yield
    finally:
        sys.unraisablehook, threading.excepthook = hook, thread_hook
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def exit_at_signal(code: int) -> None:
    """After the command has finished: a SIGINT or SIGTERM during the interpreter's
    shutdown ends the process at once with the command's own exit ``code`` (its outputs are
    complete), instead of an interrupted shutdown that prints a traceback."""

    def finish(signum: int, frame: FrameType | None) -> None:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)

    for sig in HANDLED:
        if signal.getsignal(sig) is not signal.SIG_IGN:
            signal.signal(sig, finish)
