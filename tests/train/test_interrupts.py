"""StepBoundarySignals: a signal during a step waits for the step's end; a second acts at once."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator

import pytest

from caloforge.train.interrupts import StepBoundarySignals


@pytest.fixture
def python_sigint() -> Iterator[None]:
    # Python's own SIGINT handler, also where the tests run as a background job (SIG_IGN)
    handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, handler)


def test_a_signal_waits_for_deliver_and_then_reaches_the_previous_handler(
    python_sigint: None,
) -> None:
    with pytest.raises(KeyboardInterrupt), StepBoundarySignals() as signals:
        os.kill(os.getpid(), signal.SIGINT)
        assert signals.pending == signal.SIGINT  # noted, not raised: the step goes on
        signals.deliver()
        pytest.fail("deliver() returned")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_second_signal_acts_at_once_unless_it_is_the_same_stop(
    python_sigint: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(StepBoundarySignals, "same_stop_s", 60.0)  # however slow the machine
    with StepBoundarySignals() as signals:  # the same stop twice (group, then parent)
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)
        assert signals.pending == signal.SIGINT
        signals.restore()
        signals.pending = None
    monkeypatch.setattr(StepBoundarySignals, "same_stop_s", 0.0)
    with pytest.raises(KeyboardInterrupt), StepBoundarySignals():
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)
        pytest.fail("the second signal did not raise")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_signal_after_the_last_step_is_delivered_on_exit(python_sigint: None) -> None:
    done = []
    with pytest.raises(KeyboardInterrupt), StepBoundarySignals():
        os.kill(os.getpid(), signal.SIGINT)
        done.append("final checkpoint")  # the work after the loop still runs
    assert done == ["final checkpoint"]


def test_nothing_changes_without_a_signal_or_outside_the_main_thread(python_sigint: None) -> None:
    with StepBoundarySignals() as signals:
        assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    assert signals.pending is None
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    seen = []

    def in_thread() -> None:
        with StepBoundarySignals():
            seen.append(signal.getsignal(signal.SIGINT))

    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join()
    assert seen == [signal.default_int_handler]
