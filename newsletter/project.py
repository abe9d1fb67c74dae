"""Where a publication's files live, and the one path from an issue file to its findings.

A project is the folder holding ``newsletter.yaml``: issue files in ``issues/``, and its
templates in ``templates/`` (any it lacks are the package's defaults: look.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from newsletter import clicks, look
from newsletter.config import Environment
from newsletter.content import issue, settings, welcome
from newsletter.content.settings import Publication
from newsletter.errors import NotReady, Problem, ProblemsFound, Severity, errors_in
from newsletter.tokens import DEV_SECRET

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from newsletter.email.render import Email, Renderer
    from newsletter.email.welcome import WelcomeEmail

SUFFIXES = (".yaml", ".yml")  # an issue file's; both at once for one date is an error


@dataclass(frozen=True)
class Rendered:
    parsed: issue.Parsed
    email: Email
    findings: list[Problem]

    @property
    def errors(self) -> list[Problem]:
        return errors_in(self.findings)

    def raise_errors(self) -> None:
        """NotReady, with every finding, if any of them is an error."""
        if self.errors:
            raise NotReady(self.findings)

    def raise_unless_sendable(self, *, allow_warnings: bool = False) -> None:
        """NotReady, with what stands in the way, unless the email may go to readers:
        no errors, no warnings (unless allowed), and never a draft's placeholder."""
        blocking = [f for f in self.findings if f.severity is Severity.ERROR
                    or not allow_warnings or f.code == "placeholder"]
        if blocking:
            raise NotReady(blocking)


class Project:
    """One publication's files and database, in the environment it runs in."""

    def __init__(self, config: Path, env: Environment | None = None) -> None:
        self.config = config
        self.root = config.parent
        self.env = env or Environment.from_environ()
        self.publication: Publication = settings.load(config)

    @classmethod
    def locate(cls, config: str | Path | None = None, env: Environment | None = None
               ) -> Project:
        """The project whose settings file is ``config``, else NEWSLETTER_CONFIG, else
        ./newsletter.yaml."""
        env = env or Environment.from_environ()
        return cls(Path(config or env.config_file or settings.SETTINGS_FILE), env)

    @property
    def issues_dir(self) -> Path:
        return self.root / "issues"

    @property
    def welcome_file(self) -> Path:
        return self.root / "welcome.yaml"

    @property
    def templates_dir(self) -> Path:
        """The publication's templates (look.py: the package's defaults fill the gaps)."""
        return look.own_folder(self.root)

    @property
    def outbox_dir(self) -> Path:
        return self.root / "outbox"

    @cached_property
    def renderer(self) -> Renderer:
        # Imported here: the delivery and subscriber commands need no template engine.
        from newsletter.email.render import Renderer

        return Renderer(self.publication, self.templates_dir,
                        click_link=self._click_link(), open_pixel=self._open_pixel())

    def _click_key(self) -> bytes:
        return clicks.key(self.env.secret.encode() if self.env.secret else DEV_SECRET)

    def _open_pixel(self) -> Callable[[dt.date], str] | None:
        """The open pixel's address for an issue, when the publication asks for one."""
        base = self.publication.open_base
        if base is None:
            return None
        click_key = self._click_key()
        reader = self._reader_part()
        return lambda day: base + clicks.make_open(click_key, day) + reader

    def _reader_part(self) -> str:
        """What follows a click link's token: the reader's, filled at delivery, at the
        individual level of tracking; nothing at the others."""
        return clicks.READER_PART if self.publication.individual else ""

    def _click_link(self) -> Callable[[dt.date, str], str] | None:
        """Story links through the readers' service, when the publication tracks clicks
        there; signed with NEWSLETTER_SECRET (the development key without one, as the
        readers' links are: a send with a real provider refuses that key)."""
        base = self.publication.click_base
        if base is None:
            return None
        click_key = self._click_key()
        reader = self._reader_part()

        def link(day: dt.date, url: str) -> str:
            if not url.startswith(("https://", "http://")) or len(url) > clicks.MAX_URL:
                return url  # a mailto: or an absurdly long link goes as it is
            return base + clicks.make(click_key, day, url) + reader

        return link

    @cached_property
    def engine(self) -> Engine:
        """The subscriber and ledger database, migrated to the current schema."""
        from newsletter.store import db  # imported here: check and build never need SQLAlchemy

        return db.connect(db.database_url(self.env.database_url, self.root))

    def issue_files(self) -> list[Path]:
        return sorted(p for suffix in SUFFIXES for p in self.issues_dir.glob(f"*{suffix}"))

    def second_files(self) -> list[Problem]:
        """An error for each file that is a second one for its date (2024-07-23.yaml and
        2024-07-23.yml): which would be sent is a guess no tool should make."""
        return _seconds(self.issue_files())

    def resolve(self, ref: str | dt.date | Path) -> Path:
        path = issue.resolve(self.issues_dir, ref)
        if path.parent.resolve() == self.issues_dir.resolve():
            # Only this date's two spellings: listing the folder would cost a command on
            # one issue time in proportion to the years of issues beside it.
            spellings = (self.issues_dir / f"{path.stem}{suffix}" for suffix in SUFFIXES)
            twins = _seconds(sorted(p for p in spellings if p.exists()))
            if twins:
                raise ProblemsFound(twins)
        return path

    def render(self, path: Path) -> Rendered:
        """Parse, render and lint one file; ProblemsFound when the file itself is invalid."""
        from newsletter.email import lint

        parsed = issue.parse(path, display=_display(path))
        try:
            email = self.renderer.render(parsed.issue)
        except (ValueError, RecursionError) as exc:  # what MJML or lxml could not take
            raise ProblemsFound([Problem(_display(path), 1, 1, "",
                                         f"the email could not be rendered: {exc}")]) from None
        return Rendered(parsed, email, lint.lint(parsed, email, self.publication))

    def check(self, path: Path, *, link_timeout: float | None = None,
              allow_private: bool = False) -> list[Problem]:
        """Every error and warning for one file, never raising for the file's own faults.

        With ``link_timeout``, a file without errors also has its links fetched."""
        try:
            rendered = self.render(path)
        except ProblemsFound as exc:
            return list(exc.problems)
        if link_timeout is None or rendered.errors:
            return rendered.findings
        from newsletter.email.linkcheck import check_links  # the network, only when asked

        fetched = check_links(rendered.parsed, timeout=link_timeout, allow_private=allow_private)
        return sorted([*rendered.findings, *fetched])


    def check_welcome(self) -> list[Problem]:
        """Every error and warning of welcome.yaml; it must also render."""
        try:
            self.welcome_email()
        except ProblemsFound as exc:
            return list(exc.problems)
        return welcome.load(self.welcome_file, display=_display(self.welcome_file)).findings

    def welcome_email(self, now: dt.datetime | None = None) -> WelcomeEmail:
        """The welcome as a reader would get it, with stand-ins for their own links (for
        the preview); ProblemsFound when the file is invalid."""
        from newsletter.email.welcome import Links, latest_issue, render

        loaded = welcome.load(self.welcome_file, display=_display(self.welcome_file))
        today = (now or dt.datetime.now(dt.UTC)).astimezone(self.publication.zone).date()
        base = self.publication.unsubscribe_base
        links = Links(f"{base}?t=PREVIEW", f"{self.publication.manage_base}?t=PREVIEW")
        return render(loaded.welcome, self.publication, links,
                      latest=latest_issue(self.issues_dir, today),
                      overrides=self.templates_dir)


def _seconds(paths: list[Path]) -> list[Problem]:
    """An error for each of ``paths`` (sorted) that is not the first for its date."""
    first: dict[str, Path] = {}
    found = []
    for path in paths:
        if path.stem in first:
            found.append(Problem(_display(path), 1, 1, "",
                                 f"a second file for {path.stem} (the other is "
                                 f"{_display(first[path.stem])}); keep one"))
        first.setdefault(path.stem, path)
    return found


def _display(path: Path) -> str:
    """Paths relative to the working folder when they can be, as editors typed them."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
