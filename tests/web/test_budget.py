"""The webhooks' byte budget on its own (web/budget.py); against a running server, with
trickling and filling strangers, in test_hostile.py."""

from __future__ import annotations

import pytest

from newsletter.web.budget import Budget, Full


def test_bodies_take_bytes_until_the_total_and_give_them_back_at_the_end() -> None:
    budget = Budget(total=100, share=100)
    with budget.account("a") as first, budget.account("b") as second:
        first(60)
        second(40)  # exactly the total: allowed
        with pytest.raises(Full):
            second(1)
        assert budget.used == 100
    assert budget.used == 0 and budget.held("a") == budget.held("b") == 0


def test_one_client_holds_at_most_its_share_and_others_still_get_theirs() -> None:
    budget = Budget(total=100, share=50)
    with budget.account("stranger") as one, budget.account("stranger") as two:
        one(30)
        with pytest.raises(Full):  # a second body from the same address: 30 + 21 > 50
            two(21)
        two(20)
        with budget.account("provider") as provider:
            provider(50)
            assert budget.used == 100 and budget.held("stranger") == 50


def test_a_refused_take_holds_nothing_and_a_failed_body_gives_back_what_it_took() -> None:
    budget = Budget(total=10, share=10)
    with pytest.raises(RuntimeError), budget.account("a") as take:
        take(4)
        with pytest.raises(Full):
            take(7)  # refused whole: the 4 stay, not 10 or 11
        assert budget.used == 4
        raise RuntimeError("the body's check failed")
    assert budget.used == 0 and budget.held("a") == 0


def test_an_address_leaves_the_table_once_its_bodies_are_done() -> None:
    budget = Budget(total=10**9, share=10**6)
    for n in range(1000):  # a thousand addresses, one small body each
        with budget.account(f"192.0.2.{n}") as take:
            take(1)
    assert budget.used == 0 and not budget._by_client  # nothing grows with strangers


@pytest.mark.parametrize("share", [0, -1, 101])
def test_a_share_outside_the_total_is_refused(share: int) -> None:
    with pytest.raises(ValueError, match="share"):
        Budget(total=100, share=share)
