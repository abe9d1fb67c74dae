"""Throttling and progress reporting, with the clock replaced (no timing in tests)."""

from __future__ import annotations

import pytest

from newsletter.delivery import pacing, progress


def test_rate_limiter_spaces_request_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(round(seconds, 6))
        clock[0] += seconds

    monkeypatch.setattr(pacing.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(pacing.time, "sleep", sleep)
    limiter = pacing.RateLimiter(4.0)  # at most four requests a second
    for _ in range(4):
        limiter.wait()
    assert slept == [0.0, 0.25, 0.25, 0.25]
    clock[0] += 10  # a long pause earns no burst beyond the rate
    limiter.wait()
    limiter.wait()
    assert slept[-2:] == [0.0, 0.25]


def test_no_rate_means_no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pacing.time, "sleep", lambda s: pytest.fail("slept"))
    pacing.RateLimiter(None).wait()


def test_line_progress_for_ci_logs(monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    clock = [0.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: clock[0])
    lines = progress.LineProgress(every=10)
    lines.start(total=3000, already=1000)
    lines.advance(1000)  # at 0 s: too soon for a line
    clock[0] = 12.0
    lines.advance(500)
    lines.finish()
    assert capsys.readouterr().out.splitlines() == [
        "sending to 2,000 of 3,000 recipients",
        "progress: 2,500/3,000 (83%) after 12.0 s",
        "progress: 2,500/3,000 (83%) after 12.0 s",
    ]
