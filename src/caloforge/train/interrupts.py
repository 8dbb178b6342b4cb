"""SIGINT and SIGTERM during training: acted on between two steps, after a checkpoint.

A batch system stops a job with SIGTERM (then SIGKILL after a grace period), a user with
Ctrl-C. Raised in the middle of a step, either would leave the weights, the optimiser and the
data position out of step with each other, so the run could only go back to its last
periodic checkpoint, up to ``train.checkpoint_every`` steps earlier. While the loop runs,
:class:`StepBoundarySignals` notes the signal instead; the loop finishes the step, writes a
checkpoint of it and hands the signal to the handler that was there before (the command
line's, which unwinds and exits 130 or 143; Python's ``KeyboardInterrupt``; or the default
action). A second signal acts at once, unless it comes within a second of the first: that
is the same stop reaching the process twice (sent to the process group and forwarded by a
parent such as ``caloforge recipe run``).

Signals are handled only in the main thread: a training run in another thread is left as it
is. A signal inherited as ignored stays ignored.
"""

from __future__ import annotations

import signal
import threading
import time
from types import FrameType, TracebackType
from typing import Any

HANDLED = (signal.SIGINT, signal.SIGTERM)


class StepBoundarySignals:
    """Context manager deferring SIGINT and SIGTERM to the end of a training step.

    Example:
        >>> with StepBoundarySignals() as signals:  # doctest: +SKIP
        ...     while training:
        ...         step()
        ...         if signals.pending is not None:
        ...             save_checkpoint()
        ...             signals.deliver()  # raises, or ends the process
    """

    same_stop_s = 1.0  # a second signal sooner than this after the first is the same stop

    def __init__(self) -> None:
        self.pending: int | None = None
        self._since = 0.0
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StepBoundarySignals:
        self.pending = None
        if threading.current_thread() is not threading.main_thread():
            return self
        for sig in HANDLED:
            current = signal.getsignal(sig)
            if current is None or current is signal.SIG_IGN:
                continue  # ignored, or set outside Python: left alone
            self._previous[sig] = current
            signal.signal(sig, self._note)
        return self

    def _note(self, signum: int, frame: FrameType | None) -> None:
        if self.pending is None:
            self.pending, self._since = signum, time.monotonic()
        elif time.monotonic() - self._since >= self.same_stop_s:  # a second stop: at once
            self.pending = signum
            self.deliver()

    def restore(self) -> None:
        """Put the handlers found on entry back."""
        previous, self._previous = self._previous, {}
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    def deliver(self) -> None:
        """Restore the handlers and send the pending signal to this process again, so that
        the handler found on entry acts on it (it raises here, or ends the process)."""
        signum = self.pending
        self.restore()
        if signum is not None:
            signal.raise_signal(signum)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # a signal that came after the last step boundary (during the final validation or
        # checkpoint) is delivered once that work is done; with an exception in flight, the
        # exception goes on and the signal is dropped
        if exc_type is None and self.pending is not None:
            self.deliver()
        else:
            self.restore()
