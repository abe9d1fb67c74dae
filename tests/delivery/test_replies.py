"""The one rule for a server's refusal of one recipient: 4xx is for later, 5xx is final."""

from __future__ import annotations

import pytest

from newsletter.delivery.providers.base import Outcome, final

TABLE = [
    (421, False),  # service not available, closing the channel
    (450, False),  # mailbox unavailable (busy, greylisted)
    (451, False),  # local error in processing
    (452, False),  # insufficient system storage
    (455, False),  # cannot take the parameters now
    (500, True), (501, True), (503, True),
    (550, True),  # no such mailbox, or refused by policy
    (551, True),  # user not local
    (552, True),  # over quota, or the message too large
    (553, True),  # mailbox name not allowed
    (554, True),  # transaction failed
    (555, True),
    (-1, False), (0, False), (250, False), (354, False), (600, False),  # never final
]


@pytest.mark.parametrize(("code", "is_final"), TABLE)
def test_final_or_for_later(code: int, is_final: bool) -> None:
    assert final(code) is is_final


def test_an_outcome_files_each_answer_by_the_rule() -> None:
    outcome = Outcome()
    for reader, (code, _) in enumerate(TABLE):
        outcome.answered(reader, code, f"{code} words")
    assert sorted(outcome.refused) == [n for n, (_, f) in enumerate(TABLE) if f]
    assert sorted(outcome.deferred) == [n for n, (_, f) in enumerate(TABLE) if not f]
    assert outcome.deferred[1] == "450 words"
