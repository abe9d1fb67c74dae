from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.desk.pages import serve


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    """``host:port`` of the local server of page shapes (tests/desk/pages.py)."""
    httpd, where = serve()
    yield where
    httpd.shutdown()
    httpd.server_close()
