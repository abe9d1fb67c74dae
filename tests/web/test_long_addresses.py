"""Subscribing with the longest valid address through the real service: the
confirmation email is written to the outbox (a file name from the address used to be too
long for the file system, and the reader got a 503)."""

from __future__ import annotations

from pathlib import Path

import httpx

from newsletter.delivery.transports.outbox import file_name
from tests.delivery.test_outbox_names import LONGEST


def test_the_longest_address_can_subscribe(service: str, project_dir: Path) -> None:
    answer = httpx.post(f"{service}/subscribe", data={"email": LONGEST})
    assert answer.status_code == 200, answer.text
    [notice] = (project_dir / "outbox" / "notices").iterdir()
    assert notice.name.endswith(file_name(LONGEST)) and LONGEST.encode() in notice.read_bytes()
