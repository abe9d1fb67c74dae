"""Subscribing with the longest valid address through the real service: the
confirmation email is written to the outbox (a file name from the address used to be too
long for the file system, and the reader got a 503)."""

from __future__ import annotations

from pathlib import Path

import httpx
from sqlalchemy import Engine

from newsletter.delivery.providers.outbox.transport import file_name
from tests.delivery.test_outbox_names import LONGEST
from tests.web.test_readers import notices, wait_for


def test_the_longest_address_can_subscribe(service: str, project_dir: Path,
                                           engine: Engine) -> None:
    answer = httpx.post(f"{service}/subscribe", data={"email": LONGEST})
    assert answer.status_code == 200, answer.text
    wait_for(lambda: notices(project_dir))  # the mailer writes it within seconds
    [notice] = (project_dir / "outbox" / "notices").iterdir()
    assert notice.name.endswith(file_name(LONGEST)) and LONGEST.encode() in notice.read_bytes()
