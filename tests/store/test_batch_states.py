"""A batch's state machine (store/batch_state.py), walked whole on both databases.

For every cause, every state it may move a batch to, and every state a batch may be in
(not planned included), the one writer runs against such a batch: an allowed move
happens, a refused one raises BatchMoveRefused, saying why, and changes nothing. And no
module but batch_state.py writes a batch's state.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from sqlalchemy import Engine, String, bindparam, select

from newsletter.errors import BatchMoveRefused
from newsletter.store import batch_state
from newsletter.store.batch_state import NEW, BatchState, Cause
from newsletter.store.db import batches
from newsletter.store.ledger import Content, Lease, Ledger

PACKAGE = Path(__file__).parents[2] / "newsletter"
ISSUE = "2024-07-23"
MOVES = [(cause, to) for cause in Cause for to in BatchState]


def _put(engine: Engine, state: BatchState) -> None:
    with engine.begin() as conn:
        conn.execute(batches.insert().values(issue=ISSUE, number=0, state=str(state), size=1,
                                             attempts=1, waiting=1, error="before"))


def _state(engine: Engine) -> tuple[str, str | None]:
    with engine.connect() as conn:
        row = conn.execute(select(batches.c.state, batches.c.error)).one()
    return row.state, row.error


@pytest.mark.parametrize("current", list(BatchState))
def test_every_move_from_every_state(engine: Engine, current: BatchState) -> None:
    _put(engine, current)
    for cause, to in MOVES:
        if cause is Cause.PLAN:
            continue  # the plan's move is an INSERT: see the test below
        before = _state(engine)
        if batch_state.allowed(cause, current, to):
            with engine.begin() as conn:
                batch_state.move_one(conn, ISSUE, 0, cause, to, error=f"{cause}")
            assert _state(engine) == (to, str(cause)), (cause, current, to)
            with engine.begin() as conn:  # back where the walk stands, for the next move
                conn.execute(batches.update().values(state=str(current), error=before[1]))
        else:
            with engine.begin() as conn, pytest.raises(BatchMoveRefused) as refused:
                batch_state.move_one(conn, ISSUE, 0, cause, to, error="moved")
            assert str(refused.value) == \
                f"issue {ISSUE}, batch 0: {batch_state.why_not(cause, current, to)}"
            assert _state(engine) == before, (cause, current, to)


@pytest.mark.parametrize("current", list(BatchState))
def test_a_move_made_once_follows_the_same_table(engine: Engine, current: BatchState) -> None:
    # The statements the claim and the settle make once (batch_state.mover) move a batch
    # exactly when the table allows it, and touch no other batch or issue.
    _put(engine, current)
    with engine.begin() as conn:
        conn.execute(batches.insert(), [
            {"issue": ISSUE, "number": 1, "state": str(current), "size": 1, "attempts": 1},
            {"issue": "2024-07-24", "number": 0, "state": str(current), "size": 1,
             "attempts": 1}])
    for cause, to in MOVES:
        if cause is Cause.PLAN:
            continue
        mover = batch_state.mover(cause, to, error=bindparam("said"))
        with engine.begin() as conn:
            moved = conn.execute(mover, {"batch_issue": ISSUE, "batch_number": 0,
                                         "said": str(cause)}).rowcount
            states = dict(conn.execute(select(batches.c.issue + "/" + batches.c.number.cast(String),
                                              batches.c.state)).all())
            conn.execute(batches.update().values(state=str(current), error="before"))
        assert moved == int(batch_state.allowed(cause, current, to)), (cause, current, to)
        assert states == {f"{ISSUE}/0": str(to) if moved else str(current),
                          f"{ISSUE}/1": str(current), "2024-07-24/0": str(current)}


def test_the_table_says_why_in_words() -> None:
    assert batch_state.why_not(Cause.CLAIM, BatchState.SENT, BatchState.IN_FLIGHT) == \
        "a sent batch is final"
    assert batch_state.why_not(Cause.RECOVER, BatchState.PENDING, BatchState.SENT) == \
        "recover never makes a batch sent"
    assert batch_state.why_not(Cause.CLAIM, BatchState.UNCERTAIN, BatchState.IN_FLIGHT) == \
        "claim moves a batch to in_flight only from pending, not from uncertain"
    assert batch_state.why_not(Cause.CLAIM, BatchState.PENDING, BatchState.IN_FLIGHT) is None


def test_sent_is_final_and_only_the_plan_makes_a_batch() -> None:
    for cause, to, froms in batch_state.table():
        assert BatchState.SENT not in froms, (cause, to)
        assert (NEW in froms) == (cause is Cause.PLAN), (cause, to)
    assert batch_state.initial() is BatchState.PENDING


def test_a_move_of_a_batch_that_is_not_there_is_refused(engine: Engine) -> None:
    with engine.begin() as conn, pytest.raises(BatchMoveRefused, match="batch 7: no such"):
        batch_state.move_one(conn, ISSUE, 7, Cause.CLAIM, BatchState.IN_FLIGHT)


def test_a_moved_on_batch_refuses_a_late_writer(engine: Engine) -> None:
    # Through the ledger: a batch recovered as uncertain (its run presumed dead) is not
    # put back to pending by that run's late release, and a second claim finds nothing.
    ledger = Ledger(engine, ISSUE)
    from tests.helpers import asked_and_confirmed

    asked_and_confirmed(engine, "ann@example.org")
    ledger.begin("outbox", 10, Content("d", "s"), Lease("here:1:a"))
    assert [r.email for r in ledger.claim(0)] == ["ann@example.org"]
    assert ledger.claim(0) == []
    assert ledger.recover() == 1
    with pytest.raises(BatchMoveRefused, match="no answer moves a batch to uncertain only "
                                               "from in_flight, not from uncertain"):
        ledger.uncertain(0, "timed out")
    with pytest.raises(BatchMoveRefused, match="release moves a batch to pending only from "
                                               "in_flight or pending, not from uncertain"):
        ledger.release(0, "refused")
    assert ledger.settle(0, "id", {}) == 1  # an answer is the truth, even late
    with pytest.raises(BatchMoveRefused, match="a sent batch is final"):
        ledger.release(0, "refused")
    with pytest.raises(BatchMoveRefused, match="a sent batch is final"):
        ledger.settle(0, "again", {})  # one answer a batch: a second is refused
    assert ledger.status().counts["sent"] == 1


def _writes_state(node: ast.Call) -> bool:
    """A ``.values(state=...)`` on ``update(batches)``, or any insert into batches (its
    state is NOT NULL: every new row names one)."""
    func = node.func
    if isinstance(func, ast.Attribute) and func.attr == "values" and \
            any(k.arg == "state" for k in node.keywords):
        return "batches" in ast.unparse(func.value) and "deliveries" not in \
            ast.unparse(func.value)
    return ast.unparse(node) in ("insert(batches)", "batches.insert()")


def test_no_module_but_the_table_writes_a_batch_state() -> None:
    writers = {path.relative_to(PACKAGE).as_posix()
               for path in PACKAGE.rglob("*.py") if "migrations" not in path.parts
               for node in ast.walk(ast.parse(path.read_text()))
               if isinstance(node, ast.Call) and _writes_state(node)}
    # The plan's INSERT writes batch_state.initial(); every UPDATE is batch_state.move.
    assert writers == {"store/batch_state.py", "store/plan.py"}
    plan = (PACKAGE / "store" / "plan.py").read_text()
    assert "batch_state.initial()" in plan
    for path in PACKAGE.rglob("*.py"):
        if "migrations" in path.parts or path.name == "batch_state.py":
            continue
        assert '"in_flight"' not in path.read_text(), path
