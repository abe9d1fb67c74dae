"""The webhooks' byte budget on its own (web/budget.py); against a running server, with
trickling, filling and stalling strangers, in test_hostile.py."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest

from newsletter.web.budget import GRACE, Budget, Full

T = TypeVar("T")


def run(scene: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on a thread of its own: the browser tests' session leaves an event
    loop running on the main thread, where asyncio.run refuses to start another."""
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, scene).result()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_bodies_take_bytes_until_the_total_and_give_them_back_at_the_end() -> None:
    budget = Budget(total=100, share=100)
    with budget.account("a") as first, budget.account("b") as second:
        first.take(60)
        second.take(40)  # exactly the total: allowed
        with pytest.raises(Full):
            second.take(1)
        assert budget.used == 100
    assert budget.used == 0 and budget.held("a") == budget.held("b") == 0


def test_one_client_holds_at_most_its_share_and_others_still_get_theirs() -> None:
    budget = Budget(total=100, share=50)
    with budget.account("stranger") as one, budget.account("stranger") as two:
        one.take(30)
        with pytest.raises(Full):  # a second body from the same address: 30 + 21 > 50
            two.take(21)
        two.take(20)
        with budget.account("provider") as provider:
            provider.take(50)
            assert budget.used == 100 and budget.held("stranger") == 50


def test_a_refused_take_holds_nothing_and_a_failed_body_gives_back_what_it_took() -> None:
    budget = Budget(total=10, share=10)
    with pytest.raises(RuntimeError), budget.account("a") as holder:
        holder.take(4)
        with pytest.raises(Full):
            holder.take(7)  # refused whole: the 4 stay, not 10 or 11
        assert budget.used == 4
        raise RuntimeError("the body's check failed")
    assert budget.used == 0 and budget.held("a") == 0


def test_an_address_leaves_the_table_once_its_bodies_are_done() -> None:
    budget = Budget(total=10**9, share=10**6)
    for n in range(1000):  # a thousand addresses, one small body each
        with budget.account(f"192.0.2.{n}") as holder:
            holder.take(1)
    assert budget.used == 0 and not budget._by_client  # nothing grows with strangers


@pytest.mark.parametrize("share", [0, -1, 101])
def test_a_share_outside_the_total_is_refused(share: int) -> None:
    with pytest.raises(ValueError, match="share"):
        Budget(total=100, share=share)


async def _stalled(budget: Budget, client: str, size: int, stop: asyncio.Event,
                   outcome: list[str]) -> None:
    """A body read under a deadline of a minute: ``size`` bytes, then nothing more."""
    with budget.account(client) as holder:
        try:
            async with asyncio.timeout(60) as deadline:
                holder.reading(deadline)
                holder.take(size)
                await stop.wait()
            outcome.append("finished")
        except TimeoutError:
            outcome.append("cut short")
        finally:
            holder.read()


def test_a_full_budget_makes_room_by_cutting_short_the_oldest_stalled_reads() -> None:
    async def scene() -> tuple[list[str], list[str], int]:
        clock, stop = Clock(), asyncio.Event()
        budget = Budget(total=100, share=60, clock=clock)
        oldest, newer = [], []
        first = asyncio.create_task(_stalled(budget, "s1", 60, stop, oldest))
        await asyncio.sleep(0)
        clock.now += 0.5
        second = asyncio.create_task(_stalled(budget, "s2", 40, stop, newer))
        await asyncio.sleep(0)
        assert budget.used == 100
        clock.now += GRACE  # the first is past its grace, the second not yet
        with budget.account("provider") as provider:
            provider.take(30)  # takes the oldest's place; the second keeps its own
            used = budget.used
        await asyncio.gather(first, asyncio.sleep(0))
        stop.set()
        await second
        return oldest, newer, used

    oldest, newer, used = run(scene())
    assert oldest == ["cut short"] and newer == ["finished"] and used == 70


def test_reads_within_their_grace_or_already_in_are_never_cut_short() -> None:
    async def scene() -> list[str]:
        clock, stop = Clock(), asyncio.Event()
        budget = Budget(total=100, share=100, clock=clock)
        outcome: list[str] = []
        young = asyncio.create_task(_stalled(budget, "s1", 50, stop, outcome))
        await asyncio.sleep(0)
        with budget.account("in") as done:  # its body is whole: being checked now
            done.take(50)
            with pytest.raises(Full), budget.account("provider") as provider:
                provider.take(1)  # the read is within its grace, the other is in
            clock.now += 10 * GRACE
            with pytest.raises(Full), budget.account("provider") as provider:
                provider.take(51)  # cutting the stalled read frees 50: not enough
            assert budget.used == 100
        stop.set()
        await young
        return outcome

    assert run(scene()) == ["finished"]


def test_a_read_cut_short_can_take_nothing_more() -> None:
    async def scene() -> None:
        clock = Clock()
        budget = Budget(total=10, share=10, clock=clock)
        with budget.account("s") as stalled, pytest.raises(TimeoutError):
            async with asyncio.timeout(60) as deadline:
                stalled.reading(deadline)
                stalled.take(10)
                clock.now += GRACE + 1
                with budget.account("p") as provider:
                    provider.take(10)
                    with pytest.raises(Full):  # a piece that came before the cut
                        stalled.take(1)
                    assert budget.used == 10
                await asyncio.sleep(30)  # cut short: the deadline is now, not in a minute
        assert budget.used == 0

    run(scene())
