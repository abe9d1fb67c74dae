"""The command line's signals around a send: to the send while it listens, as before
otherwise (Ctrl-C raises KeyboardInterrupt, SIGTERM does what the process had it do)."""

from __future__ import annotations

import gc
import signal
from types import FrameType

import pytest

from newsletter.cli import interrupts


def test_a_listening_send_gets_the_signal_and_the_process_goes_on() -> None:
    heard: list[str] = []
    with interrupts.for_a_send() as interrupt, interrupt.listened(heard.append):
        assert gc.get_threshold()[0] > 700  # collections made rare around the send
        signal.raise_signal(signal.SIGINT)
        signal.raise_signal(signal.SIGTERM)
    assert heard == ["SIGINT", "SIGTERM"]
    assert interrupt.why is None  # a send listening next starts afresh


def test_with_no_send_listening_ctrl_c_is_keyboard_interrupt() -> None:
    with pytest.raises(KeyboardInterrupt), interrupts.for_a_send() as interrupt:
        signal.raise_signal(signal.SIGINT)  # while it renders or plans, say
    assert interrupt.why is None  # not kept for a send that would begin later


def test_with_no_send_listening_sigterm_does_what_it_did_before() -> None:
    before: list[int] = []

    def theirs(signum: int, _frame: FrameType | None) -> None:
        before.append(signum)

    previous = signal.signal(signal.SIGTERM, theirs)
    try:
        with interrupts.for_a_send():
            signal.raise_signal(signal.SIGTERM)
        assert before == [signal.SIGTERM]
        assert signal.getsignal(signal.SIGTERM) is theirs  # put back after
    finally:
        signal.signal(signal.SIGTERM, previous)
