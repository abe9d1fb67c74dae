"""Readers erased at their request stay erased: a keyed hash and a date, nothing more,
and nothing but a new confirmed request brings them back; on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

import pytest
from sqlalchemy import Engine, func, select

from newsletter.errors import SubscriberError
from newsletter.store import consent, erased
from newsletter.store import signups as signup_queue
from newsletter.store import subscribers as store
from newsletter.store.db import erased as erased_table
from newsletter.store.db import signups, store_keys
from tests.helpers import asked_and_confirmed, asked_before_the_queue


def register(engine: Engine) -> list[tuple[str, dt.datetime]]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(select(erased_table))]  # type: ignore[misc]


def test_the_digest_is_an_hmac_of_the_lower_cased_address_under_the_stores_key(
        engine: Engine) -> None:
    with engine.connect() as conn:
        key = conn.execute(select(store_keys.c.value)
                           .where(store_keys.c.name == "erased")).scalar_one()
        made = erased.digest(conn, "Ann@Example.org")
    assert len(key) == 64  # 32 random bytes, made by the revision
    expected = hmac.new(bytes.fromhex(key), b"ann@example.org", hashlib.sha256).hexdigest()
    assert made == expected and made != hashlib.sha256(b"ann@example.org").hexdigest()


def test_remember_when_and_forgive(engine: Engine) -> None:
    at = dt.datetime(2025, 3, 4, 5, 6, tzinfo=dt.UTC)
    with engine.begin() as conn:
        assert erased.when_erased(conn, "ann@example.org") is None
        erased.remember(conn, "ann@example.org", at)
        erased.remember(conn, "ann@example.org", at + dt.timedelta(days=1))  # again: latest
        assert erased.when_erased(conn, "ANN@example.org") == at + dt.timedelta(days=1)
        assert erased.among(conn, ["ann@example.org", "bob@example.org"]) == {
            "ann@example.org": at + dt.timedelta(days=1)}
        erased.forgive(conn, "ann@example.org")
        assert erased.when_erased(conn, "ann@example.org") is None


def test_forget_keeps_only_a_keyed_hash_and_the_date(engine: Engine) -> None:
    store.add(engine, "Erin@example.org", name="Erin", timezone="Europe/Oslo")
    before = dt.datetime.now(dt.UTC)
    store.forget(engine, "erin@example.org")
    [(digest, at)] = register(engine)
    assert "erin" not in digest.lower() and len(digest) == 64
    assert abs((at if at.tzinfo else at.replace(tzinfo=dt.UTC)) - before).total_seconds() < 60
    assert store.find(engine, "erin@example.org") is None


def test_forget_removes_the_addresses_requests_to_subscribe(engine: Engine) -> None:
    stamp = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        for address in ("sam@example.org", "other@example.org"):
            conn.execute(signups.insert().values(
                email=address, email_key=address, source="form", state="queued",
                requested_at=stamp))
    store.forget(engine, "Sam@example.org")  # only asked, never on the list: still erased
    with engine.connect() as conn:
        left = conn.execute(select(signups.c.email_key)).scalars().all()
        assert erased.when_erased(conn, "sam@example.org") is not None
    assert left == ["other@example.org"]
    with pytest.raises(SubscriberError, match="nobody@example.org is not a subscriber"):
        store.forget(engine, "nobody@example.org")
    assert len(register(engine)) == 1


def test_the_readers_own_forget_me_is_remembered_too(engine: Engine) -> None:
    asked = asked_and_confirmed(engine, "me@example.org")
    consent.forget(engine, asked.id)
    with engine.connect() as conn:
        assert erased.when_erased(conn, "me@example.org") is not None


def test_readers_who_never_confirmed_are_not_remembered_as_erased(engine: Engine) -> None:
    asked_before_the_queue(engine, "maybe@example.org", dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    assert consent.drop_unconfirmed(engine, dt.datetime(2021, 1, 1, tzinfo=dt.UTC)) == 1
    signup_queue.queue(engine, "later@example.org", source="form test",
                  at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    assert signup_queue.prune(engine, dt.datetime(2021, 1, 1, tzinfo=dt.UTC)) == 1
    assert register(engine) == []


def test_add_refuses_an_erased_address_even_with_reactivate(engine: Engine) -> None:
    store.add(engine, "gone@example.org")
    store.forget(engine, "gone@example.org")
    for reactivate in (False, True):
        with pytest.raises(SubscriberError) as raised:
            store.add(engine, "GONE@example.org", reactivate=reactivate)
        text = str(raised.value)
        assert "\n" not in text and "was erased on " in text and "at their request" in text
        assert "subscribing again and confirming" in text and "/subscribe" in text
    assert store.find(engine, "gone@example.org") is None
    with engine.begin() as conn:  # the reader confirmed a new request
        erased.forgive(conn, "gone@example.org")
    assert store.add(engine, "gone@example.org").status == "active"


def test_without_the_stores_key_nothing_is_guessed(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(store_keys.delete())
    with pytest.raises(SubscriberError, match="no key for its register of erased"):
        store.add(engine, "new@example.org")
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(erased_table)).scalar() == 0
