"""Each provider's webhook mounted at /webhooks/NAME from the registry: a fourth provider
made in the tests (tests/fakes/pigeon.py) is mounted with nothing but its registration."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from newsletter.delivery.providers import registry
from newsletter.delivery.providers.base import Provider
from newsletter.errors import ConfigError
from newsletter.store import events as store_events
from newsletter.store import subscribers as store
from newsletter.web.app import create_app
from tests.fakes.pigeon import PIGEON
from tests.web.conftest import service_env
from tests.web.server import serving


@pytest.fixture
def pigeon(monkeypatch: pytest.MonkeyPatch) -> Provider:
    monkeypatch.setitem(registry.PROVIDERS, "pigeon", PIGEON)
    return PIGEON


def test_a_new_providers_webhook_is_mounted_at_its_name(engine: Engine, project_dir: Path,
                                                        pigeon: Provider) -> None:
    store.add(engine, "ann@example.org")
    app = create_app(project_dir / "newsletter.yaml", service_env(engine, PIGEON_LOFT="coo"))
    with serving(app) as url:
        body = b"p-1 landed ann@example.org\np-2 pecked ann@example.org\n"
        refused = httpx.post(url + "/webhooks/pigeon", content=body, headers={"X-Loft": "no"})
        assert refused.status_code == 401
        taken = httpx.post(url + "/webhooks/pigeon", content=body, headers={"X-Loft": "coo"})
        assert taken.status_code == 200
        assert taken.json() == {"received": 2, "new": 2, "refused": 0}
        # SendGrid's is not set up in this environment: nothing is mounted for it.
        absent = httpx.post(url + "/webhooks/sendgrid", content=b"[]")
        assert absent.status_code == 404 and absent.headers["connection"] == "close"
    assert store_events.counts(engine, "2024-07-23") == {"delivered": 1, "complained": 1}
    assert store.find(engine, "ann@example.org").status == "complained"  # type: ignore[union-attr]


def test_without_its_variable_a_providers_webhook_is_not_mounted(engine: Engine,
                                                                 project_dir: Path,
                                                                 pigeon: Provider) -> None:
    app = create_app(project_dir / "newsletter.yaml", service_env(engine))
    with serving(app) as url:
        answer = httpx.post(url + "/webhooks/pigeon", content=b"p-1 landed a@example.org",
                            headers={"X-Loft": ""})
    assert answer.status_code == 404


def test_a_webhook_key_set_up_wrong_stops_the_service(engine: Engine,
                                                      project_dir: Path) -> None:
    with pytest.raises(ConfigError, match="^SENDGRID_WEBHOOK_PUBLIC_KEY: not a public key"):
        create_app(project_dir / "newsletter.yaml",
                   service_env(engine, SENDGRID_WEBHOOK_PUBLIC_KEY="bm90IGEga2V5"))
