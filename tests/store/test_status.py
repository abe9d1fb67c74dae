"""The reader's state machine (store/status.py), walked whole through the real writers.

For every cause, every state it may move a reader to, and every state a reader may be
in (not on file included), the writer that acts for that cause runs against such a
reader: an allowed move happens, a refused one changes nothing and the table says why.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from newsletter import tokens
from newsletter.errors import StatusRefused, SubscriberError
from newsletter.store import consent, events, signups
from newsletter.store import status as rules
from newsletter.store import subscribers as store
from newsletter.store.db import new_key, subscribers
from newsletter.store.status import Absent, Cause, State, Status

SECRET = b"s" * 32
PAST = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
PACKAGE = Path(__file__).parents[2] / "newsletter"

Writer = Callable[[Engine, str, State, Path], None]


def _put(engine: Engine, address: str, state: State) -> None:
    """A reader in ``state`` (none for NEW), whatever writer could have made it: a
    request from before the queue outstanding, so that expiry and confirming can act."""
    if state is Absent.NEW:
        return
    with engine.begin() as conn:
        conn.execute(subscribers.insert().values(
            email=address, email_key=address, status=str(state), created_at=PAST,
            updated_at=PAST, requested_at=PAST, link_key=new_key(), legacy_links=True))


def _state(engine: Engine, address: str) -> State:
    with engine.connect() as conn:
        found = conn.execute(select(subscribers.c.status)
                             .where(subscribers.c.email_key == address)).scalar()
    return Absent.ERASED if found is None else Status(found)


def _link_key(engine: Engine, address: str) -> str:
    found = store.find(engine, address)
    return found.link_key if found else new_key()


def _one_click(engine: Engine, address: str, to: State, tmp: Path) -> None:
    token = tokens.make_pair(SECRET, _link_key(engine, address))[0]
    store.unsubscribe_by_link(engine, SECRET, token)


def _page(engine: Engine, address: str, to: State, tmp: Path) -> None:
    found = store.find(engine, address)
    if found is not None:
        consent.leave(engine, found.id)


def _provider(engine: Engine, address: str, to: State, tmp: Path) -> None:
    kind, detail = {Status.UNSUBSCRIBED: (events.Kind.UNSUBSCRIBED, None),
                    Status.BOUNCED: (events.Kind.BOUNCED, events.Detail.HARD),
                    Status.COMPLAINED: (events.Kind.COMPLAINED, None)}[to]  # type: ignore[index]
    events.record(engine, [events.Event(f"id-{address}", kind, address.upper(), None, None,
                                        detail)])


def _generic(engine: Engine, address: str, to: State, tmp: Path) -> None:
    """For a cause with no writer of its own yet (dropped): the module's own statement."""
    assert isinstance(to, Status)
    with engine.begin() as conn:
        conn.execute(subscribers.update().where(
            subscribers.c.email_key == address, rules.condition(Cause.DROPPED, to))
            .values(**rules.values(to, dt.datetime.now(dt.UTC))))


def _sync(engine: Engine, address: str, to: State, tmp: Path) -> None:
    store.mark_left(engine, [address], str(to))


def _operator(engine: Engine, address: str, to: State, tmp: Path) -> None:
    if to is Absent.ERASED:
        store.forget(engine, address)
    elif to is Status.ACTIVE:
        store.add(engine, address)
    else:
        store.set_status(engine, address, str(to))


def _reactivate(engine: Engine, address: str, to: State, tmp: Path) -> None:
    store.add(engine, address, reactivate=True)


def _importer(reactivate: bool) -> Writer:
    def write(engine: Engine, address: str, to: State, tmp: Path) -> None:
        path = tmp / f"{address}.csv"
        path.write_text(f"email,status\n{address},{to}\n", encoding="utf-8")
        report = store.import_csv(engine, path, reactivate=reactivate)
        assert report.rows_read == 1
    return write


def _confirm(engine: Engine, address: str, to: State, tmp: Path) -> None:
    signups.queue(engine, address, source="test")
    signup = signups.claim(engine)
    assert signup is not None
    signups.mailed(engine, signup)
    signups.confirm(engine, signup)


def _legacy_confirm(engine: Engine, address: str, to: State, tmp: Path) -> None:
    found = store.find(engine, address)
    if found is not None:
        consent.confirm(engine, found.id)


def _own_page(engine: Engine, address: str, to: State, tmp: Path) -> None:
    found = store.find(engine, address)
    if found is None:
        raise SubscriberError("nothing to forget")
    consent.forget(engine, found.id)


def _expiry(engine: Engine, address: str, to: State, tmp: Path) -> None:
    consent.drop_unconfirmed(engine, PAST + dt.timedelta(days=1))


WRITERS: dict[Cause, list[Writer]] = {
    Cause.CONFIRM: [_confirm, _legacy_confirm],
    Cause.UNSUBSCRIBE_LINK: [_one_click, _page],
    Cause.PROVIDER_UNSUBSCRIBE: [_provider],
    Cause.BOUNCE: [_provider],
    Cause.COMPLAINT: [_provider],
    Cause.DROPPED: [_generic],
    Cause.SUPPRESSION_SYNC: [_sync],
    Cause.OPERATOR: [_operator],
    Cause.REACTIVATE: [_reactivate],
    Cause.IMPORT: [_importer(False)],
    Cause.IMPORT_REACTIVATE: [_importer(True)],
    Cause.OWN_PAGE: [_own_page],
    Cause.EXPIRY: [_expiry],
}
FROM: list[State] = [Absent.NEW, *Status]
# Writers that name a reader on file (by row number): what is not on file they cannot add.
ON_FILE_ONLY = {_legacy_confirm}


def test_every_cause_has_a_writer() -> None:
    assert set(WRITERS) == set(Cause)


@pytest.mark.parametrize("cause", list(Cause), ids=str)
def test_the_whole_table(engine: Engine, tmp_path: Path, cause: Cause) -> None:
    """Every writer of ``cause`` x every state it moves to x every state before."""
    targets = [to for (c, to) in rules.RULES if c is cause]
    assert targets
    for w, write in enumerate(WRITERS[cause]):
        for to in targets:
            for before in FROM:
                if before is Absent.NEW and write in ON_FILE_ONLY:
                    continue
                address = f"{w}-{to}-{before}@example.org".replace(" ", "")
                _put(engine, address, before)
                refused = None
                try:
                    write(engine, address, to, tmp_path)
                except SubscriberError as exc:  # the operator's commands say why
                    refused = exc
                after = _state(engine, address)
                case = f"{cause} {before} -> {to} ({write.__name__})"
                unchanged = Absent.ERASED if before is Absent.NEW else before
                if rules.allowed(cause, before, to):
                    assert (after, refused) == (to, None), case
                else:
                    assert after == unchanged, case
                    assert rules.why_not(cause, before, to), case
                    if isinstance(refused, StatusRefused):
                        assert str(refused).startswith(address), case


def test_the_rules_an_operator_expects() -> None:
    back = {Cause.CONFIRM, Cause.REACTIVATE, Cause.IMPORT_REACTIVATE}
    for (cause, to), froms in rules.RULES.items():
        if to is Status.ACTIVE and froms & set(rules.LEFT):
            assert cause in back, cause  # nobody comes back by a side door
        if Status.BOUNCED in froms:
            assert to in (Status.ACTIVE, Status.COMPLAINED, Absent.ERASED), cause
    # One meaning for leaving by link, whichever way it is followed.
    assert rules.RULES[(Cause.UNSUBSCRIBE_LINK, Status.UNSUBSCRIBED)] == \
        {Status.ACTIVE, Status.PENDING}
    assert rules.allowed(Cause.COMPLAINT, Status.UNSUBSCRIBED, Status.COMPLAINED)
    assert not rules.allowed(Cause.BOUNCE, Status.UNSUBSCRIBED, Status.BOUNCED)
    assert rules.why_not(Cause.OPERATOR, Status.BOUNCED, Status.UNSUBSCRIBED) == \
        "only a complaint overrides another reason for leaving"


def test_coming_back_gives_new_links(engine: Engine) -> None:
    store.add(engine, "ann@example.org")
    before = store.find(engine, "ann@example.org")
    store.set_status(engine, "ann@example.org", "bounced")
    store.add(engine, "ann@example.org", reactivate=True)
    after = store.find(engine, "ann@example.org")
    assert before and after and after.link_key != before.link_key


# A status written or compared as a bare word, outside the table's module.
_BARE = re.compile(r"""(status\s*(=|==|!=)\s*|"status":\s*)["'](active|pending|unsubscribed|"""
                   r"""bounced|complained)["']""")


def test_no_writer_spells_a_status_itself() -> None:
    found = [f"{path.relative_to(PACKAGE)}:{number}"
             for path in PACKAGE.rglob("*.py") if path.name != "status.py"
             for number, line in enumerate(path.read_text().splitlines(), 1)
             if _BARE.search(line)]
    assert found == []
