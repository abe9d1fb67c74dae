"""`suppressions sync` against the stand-in SendGrid when a reply is not what SendGrid
documents: an error in one line that names no address, exit status 1, and the list's
mark left where it was (so the next sync asks for the same again), on both databases."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import Engine

from newsletter.store import subscribers as store
from tests.fakes.sendgrid_server import Answer, FakeSendGrid
from tests.helpers import add_subscribers, run

READER = "reader0@example.org"


def entry(address: str, created: int, **extra: object) -> dict[str, object]:
    return {"created": created, "email": address, "reason": f"550 <{address}> unknown",
            **extra}


@pytest.fixture
def synced_once(engine: Engine, sendgrid_env: FakeSendGrid, project_dir,  # type: ignore[no-untyped-def]
                monkeypatch: pytest.MonkeyPatch) -> int:
    """A first sync that worked; the bounces list's mark it left."""
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    add_subscribers(engine, 3)
    assert run("suppressions", "sync")[0] == 0
    mark = store.get_mark(engine, "sendgrid:bounces")
    assert mark > 0
    time.sleep(1.1)  # a later sync would move the mark to a later second
    return mark


ODD = [
    (Answer(200, body={"errors": [{"message": f"{READER} is odd"}]}),  # type: ignore[arg-type]
     "the bounces list (offset 0) with a JSON object, not a list"),
    (Answer(200, raw=b"<html>Service Unavailable</html>"),
     "the bounces list (offset 0) with a body that is not JSON (32 bytes)"),
    (Answer(200, raw=f'"{READER}"'.encode(), raw_type="application/json"),
     "the bounces list (offset 0) with a JSON string, not a list"),
    (Answer(200, body=[{"created": 1}]),  # type: ignore[arg-type]
     "the bounces list (offset 0) with entry 1 without 'email' (a string)"),
    (Answer(200, body=[entry(READER, 1), {"email": READER}]),  # type: ignore[arg-type]
     "the bounces list (offset 0) with entry 2 without 'created' (a Unix time)"),
    (Answer(200, body=[entry(READER, 1), entry(READER, "yesterday")]),  # type: ignore[arg-type]
     "the bounces list (offset 0) with entry 2 without 'created' (a Unix time)"),
    (Answer(200, body=[[READER]]),  # type: ignore[arg-type]
     "the bounces list (offset 0) with entry 1, a JSON list, not an object"),
]


@pytest.mark.parametrize(("answer", "said"), ODD)
def test_a_reply_not_understood_is_an_error_and_moves_no_mark(
        engine: Engine, sendgrid_env: FakeSendGrid, synced_once: int, answer: Answer,
        said: str) -> None:
    sendgrid_env.odd_listings["bounces"] = answer
    code, out = run("suppressions", "sync")
    assert code == 1
    assert out == (f"Error: suppressions sync: SendGrid answered {said}; nothing of that "
                   "list was applied and its mark was not moved\n")
    assert "@" not in out
    assert store.get_mark(engine, "sendgrid:bounces") == synced_once
    assert store.find(engine, READER).status == "active"  # type: ignore[union-attr]


def test_a_bad_entry_on_a_later_page_applies_nothing_of_the_list(
        engine: Engine, sendgrid_env: FakeSendGrid, synced_once: int) -> None:
    now = int(time.time())
    good = [entry(f"gone{n}@example.org", now) for n in range(600)]
    good[0] = entry(READER, now)
    del good[550]["email"]  # on the second page of 500
    sendgrid_env.suppressions = {"bounces": good}
    code, out = run("suppressions", "sync")
    assert (code, out.count("\n")) == (1, 1)
    assert "the bounces list (offset 500) with entry 51 without 'email'" in out
    assert store.get_mark(engine, "sendgrid:bounces") == synced_once
    assert store.find(engine, READER).status == "active"  # type: ignore[union-attr]


def test_a_group_list_of_something_else_is_an_error(
        engine: Engine, sendgrid_env: FakeSendGrid, synced_once: int, project_dir) -> None:  # type: ignore[no-untyped-def]
    config = project_dir / "newsletter.yaml"
    config.write_text(config.read_text() + "delivery:\n  sendgrid:\n    asm_group_id: 77\n")
    sendgrid_env.odd_listings["/v3/asm/groups/77/suppressions"] = Answer(
        200, body={"suppressions": [READER]})  # type: ignore[arg-type]
    code, out = run("suppressions", "sync")
    assert code == 1 and "the unsubscribe group 77 with a JSON object, not a list" in out
    assert "@" not in out
    assert store.find(engine, READER).status == "active"  # type: ignore[union-attr]
