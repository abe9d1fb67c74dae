"""Shared fixtures: a throwaway copy of the example publication for each test, the
databases, a local SendGrid and the browser. Plain helpers are in tests/helpers.py."""

from __future__ import annotations

import os
import shutil
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from newsletter.api import Newsletter
from newsletter.email.render import Email
from newsletter.project import Project, Rendered
from newsletter.site.preview import CHROMIUM_ARGS
from newsletter.store import db
from tests.fakes.sendgrid_server import API_KEY, FakeSendGrid
from tests.fakes.ses_server import CONFIGURATION_SET, FakeSes, SnsHost
from tests.helpers import CHROMIUM, EXAMPLE_DAY, PUBLICATION, need

# Every variable the tool reads: a test starts with none of them set, whatever the
# machine it runs on has, and sets what it needs.
TOOL_ENV = ("NEWSLETTER_CONFIG", "NEWSLETTER_SECRET", "DATABASE_URL", "SENDGRID_API_KEY",
            "SENDGRID_HOST", "SMTP_HOST", "SMTP_PORT", "SMTP_SECURITY", "SMTP_USERNAME",
            "SMTP_PASSWORD", "SMTP_CA_FILE", "SES_REGION", "SES_ENDPOINT_URL",
            "SES_SNS_TOPIC_ARN", "SES_SNS_CA_FILE", "SES_SNS_CONNECT_TO", "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in TOOL_ENV:
        monkeypatch.delenv(name, raising=False)
    # No test runs in the repository's root, where the command line and the API would
    # find the repository's own publication (newsletter.yaml, issues/, welcome.yaml)
    # without saying so: someone's publication replaces those files. A test works on
    # tests/fixtures/publication through `project_dir`, or names REPO / ... outright.
    monkeypatch.chdir(tmp_path)
    # boto3's own chain of credentials reads the machine's AWS files and asks the
    # instance-metadata address: never in a test.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.setenv(name, str(tmp_path / "no-aws-files"))


@pytest.fixture
def project_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the repo's publication (settings and issues) as the working folder."""
    shutil.copy(PUBLICATION / "newsletter.yaml", tmp_path / "newsletter.yaml")
    shutil.copytree(PUBLICATION / "issues", tmp_path / "issues")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def project(project_dir: Path) -> Project:
    return Project(project_dir / "newsletter.yaml")


@pytest.fixture
def newsletter(project_dir: Path) -> Newsletter:
    """The publication through the Python API."""
    return Newsletter(project_dir / "newsletter.yaml")


@pytest.fixture
def rendered(project: Project) -> Rendered:
    """The example issue, parsed, rendered and linted."""
    return project.render(project.resolve(EXAMPLE_DAY))


@pytest.fixture
def email(rendered: Rendered) -> Email:
    """The example issue's email."""
    return rendered.email


@pytest.fixture
def write_issue(project_dir: Path) -> Callable[..., Path]:
    """Write an issue file (dedented text or bytes) under issues/ and return its path."""

    def write(content: str | bytes, name: str = "2024-08-01.yaml") -> Path:
        path = project_dir / "issues" / name
        if isinstance(content, str):
            content = textwrap.dedent(content).encode("utf-8")
        path.write_bytes(content)
        return path

    return write






@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (no browser download)."""
    need(Path(CHROMIUM).exists(), f"Chromium at {CHROMIUM}")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


POSTGRES_URL = os.environ.get("NEWSLETTER_TEST_POSTGRES",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/test")


# Each test run works in a schema of its own, so two runs (a developer's and CI's, say)
# never drop each other's tables.
SCHEMA = f"newsletter_test_{os.getpid()}"


def _fresh_postgres() -> Engine:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import OperationalError

    probe = create_engine(POSTGRES_URL)
    try:
        with probe.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
    except OperationalError as exc:
        need(False, f"PostgreSQL at {POSTGRES_URL} ({exc.orig})")
    finally:
        probe.dispose()
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={SCHEMA}"})
    return db.connect(url.render_as_string(hide_password=False))


@pytest.fixture(scope="session", autouse=True)
def _drop_test_schema() -> Iterator[None]:
    yield
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    probe = create_engine(POSTGRES_URL)
    try:
        with probe.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
    except OperationalError:
        pass  # no server: nothing was made
    finally:
        probe.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty database: a SQLite file, and the PostgreSQL server."""
    made = db.connect(f"sqlite:///{tmp_path / 'test.sqlite3'}") if request.param == "sqlite" \
        else _fresh_postgres()
    yield made
    made.dispose()


@pytest.fixture
def postgres() -> Iterator[Engine]:
    """A migrated, empty PostgreSQL database alone (for what only PostgreSQL can show)."""
    made = _fresh_postgres()
    yield made
    made.dispose()


@pytest.fixture
def ses_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSes]:
    """moto's SES behind a strict front, and the environment that points the transport
    at it (the publication still needs ``delivery.ses.configuration_set``)."""
    with FakeSes() as fake:
        for name, value in fake.environment().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("NEWSLETTER_SECRET", "test-secret")
        yield fake


@pytest.fixture
def sns_host(tmp_path: Path) -> Iterator[SnsHost]:
    """HTTPS as SNS's host (the test's own CA), for the SES webhook's fetches."""
    host = SnsHost(tmp_path)
    yield host
    host.stop()


def with_ses_block(project_dir: Path, extra: str = "") -> None:
    """The SES block (and ``extra`` lines of ``delivery:``) in the publication's settings."""
    path = project_dir / "newsletter.yaml"
    path.write_text(path.read_text() + "delivery:\n  ses:\n    configuration_set: "
                    f"{CONFIGURATION_SET}\n{extra}")


@pytest.fixture
def sendgrid_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSendGrid]:
    """A strict local SendGrid, and the environment that points the transport at it."""
    with FakeSendGrid() as fake:
        monkeypatch.setenv("SENDGRID_API_KEY", API_KEY)
        monkeypatch.setenv("SENDGRID_HOST", fake.url)
        monkeypatch.setenv("NEWSLETTER_SECRET", "test-secret")
        yield fake
