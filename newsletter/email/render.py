"""Issue + Publication -> Email: subject, preheader, responsive HTML and a plain-text edition.

Jinja2 (autoescaping on) fills ``issue.mjml.j2``; mjml-python compiles it to table-based
HTML that works from 320 px to 600 px; premailer moves the CSS onto the elements, keeping
the media queries (dark mode, small screens) in a style block. ``issue.txt.j2`` gives the
text edition from the same data. Per-recipient parts are left as tokens that delivery
fills, so one render serves every subscriber.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import importlib
import logging
import pickle
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from jinja2 import (
    BytecodeCache,
    Environment,
    FileSystemBytecodeCache,
    StrictUndefined,
    TemplateError,
    pass_context,
    select_autoescape,
)
from jinja2.bccache import Bucket
from jinja2.runtime import Context
from markupsafe import Markup

from newsletter import look, words
from newsletter.content import richtext
from newsletter.content.issue import PREHEADER_MAX, Issue
from newsletter.content.settings import Publication
from newsletter.errors import ConfigError

UNSUBSCRIBE_TOKEN = "%%unsubscribe_url%%"
MANAGE_TOKEN = "%%manage_url%%"  # the reader's preferences page
GREETING_TOKEN = "%%greeting%%"  # the text edition's, as written
GREETING_HTML_TOKEN = "%%greeting_html%%"  # the HTML edition's, escaped


@dataclass(frozen=True)
class Email:
    """One rendered issue, the same for every recipient until delivery fills its tokens."""

    date: dt.date
    subject: str
    preheader: str
    html: str
    text: str
    web_url: str

    @property
    def html_bytes(self) -> int:
        return len(self.html.encode("utf-8"))

    @cached_property
    def digest(self) -> str:
        """A hash of the content: the source of the message's boundary and Message-ID.
        Cached, as transports that send whole messages build one a recipient from one Email."""
        return hashlib.sha256((self.subject + self.html + self.text).encode()).hexdigest()


def _premailer() -> Callable[..., Any]:
    """premailer's class. (The command line loads premailer without `requests`, which it
    never uses here: see ``cli.common.lean_premailer``. The library imports it as it is,
    and leaves the process's module table alone.)"""
    made: Callable[..., Any] = importlib.import_module("premailer").Premailer
    return made


class _QuietCache(FileSystemBytecodeCache):
    """Jinja's own cache of compiled templates, in a folder only this user can write (the
    system's temporary folder; Jinja checks its owner and mode). Compiling the email's
    two templates is a tenth of a `build`; a cache that cannot be read or written (a
    full disk, say) is passed over, never an error."""

    def load_bytecode(self, bucket: Bucket) -> None:
        # Cut short or overwritten: what pickle and marshal raise on bad data.
        with contextlib.suppress(OSError, EOFError, ValueError, TypeError,
                                 pickle.UnpicklingError):
            super().load_bytecode(bucket)

    def dump_bytecode(self, bucket: Bucket) -> None:
        with contextlib.suppress(OSError):
            super().dump_bytecode(bucket)


def compiled_templates() -> BytecodeCache | None:
    """The cache of compiled templates, or None where there can be none (no safe folder)."""
    try:
        return _QuietCache()
    except (OSError, RuntimeError):
        return None


class Renderer:
    """Holds the template environment so many issues render without reloading templates."""

    def __init__(self, publication: Publication, templates: Path | None = None, *,
                 click_link: Callable[[dt.date, str], str] | None = None,
                 open_pixel: Callable[[dt.date], str] | None = None) -> None:
        self.publication = publication
        self.templates = templates  # the publication's own folder, before the defaults
        # Turns a story's URL (tagged) into its click link through the readers' service
        # (project.py makes it from the publication's tracking and the secret), or None.
        self.click_link = click_link
        self.open_pixel = open_pixel  # an issue's open pixel's address, or None

    @cached_property
    def env(self) -> Environment:
        env = Environment(
            loader=look.loader(self.templates),
            autoescape=select_autoescape(disabled_extensions=("txt.j2",), default=True),
            undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
            keep_trailing_newline=True, bytecode_cache=compiled_templates(),
        )
        env.filters["markdown"] = _markdown_html
        env.filters["markdown_text"] = _markdown_text
        env.filters["tag"] = _tag_filter
        env.filters["wrap"] = richtext.wrap
        env.filters["full_date"] = self.full_date
        words.install(env, self.publication.locale)
        return env

    def render(self, issue: Issue) -> Email:
        context = self.context(issue)
        try:
            mjml_source = self.env.get_template("issue.mjml.j2").render(context)
            text = self.env.get_template("issue.txt.j2").render(context)
        except TemplateError as exc:
            raise ConfigError(f"template error: {exc}") from exc
        import mjml  # here, not at the top: the readers' service loads this module to
        # send its notices and never renders an issue

        html = hide_preheader(mjml.mjml2html(mjml_source))
        return Email(issue.date, str(context["subject"]), str(context["preheader"]),
                     inline_css(html), text, str(context["web_url"]))

    def section_title(self) -> str:
        """The title of a section that gives none: the publication's
        ``default_section_title``, else section_title.txt.j2's words."""
        return self.publication.section_title_set or self._words("section_title.txt.j2")

    def proof_subject(self, subject: str) -> str:
        """The subject of a proof, marked so in the publication's words."""
        return self._words("proof_subject.txt.j2", subject=subject)

    def page(self, template: str, **values: object) -> str:
        """Another of the publication's templates (the archive's pages) filled with
        ``values``; a template's error is a ConfigError, as an issue's is."""
        try:
            return self.env.get_template(template).render(values)
        except TemplateError as exc:
            raise ConfigError(f"template error: {exc}") from exc

    def _words(self, template: str, **values: object) -> str:
        """A line of words from a small template (what it ends with trimmed)."""
        return self.page(template, **values).strip()

    def default_preheader(self, issue: Issue) -> str:
        """Without a preheader the inbox shows the teasers' headlines, not the footer's
        text; the words around them are preheader.txt.j2's."""
        headlines = [item.headline for section in issue.sections for item in section.items]
        text = self._words("preheader.txt.j2", headlines=headlines)
        return text if len(text) <= PREHEADER_MAX else text[: PREHEADER_MAX - 1].rstrip() + "…"

    def full_date(self, day: dt.date) -> str:
        """``day`` written out in the publication's locale (Babel's "full" format)."""
        from babel.dates import format_date

        return format_date(day, "full", locale=self.publication.locale.replace("-", "_"))

    def context(self, issue: Issue) -> dict[str, object]:
        pub = self.publication
        return {
            "pub": pub,
            "theme": pub.theme,
            "issue": issue,
            "lang": pub.locale,
            "subject": issue.subject_line,
            "preheader": issue.preheader or self.default_preheader(issue),
            "date_line": self.full_date(issue.date),
            "sections": [(s.title or self.section_title(), s.items) for s in issue.sections],
            "web_url": pub.web_url(issue.date),
            "unsubscribe_url": UNSUBSCRIBE_TOKEN,
            "manage_url": MANAGE_TOKEN,
            "subscribe_url": pub.subscribe_url,
            "tag": self._story_link(issue.date),
            "open_pixel": self.open_pixel(issue.date) if self.open_pixel else "",
            "greeting": GREETING_TOKEN if pub.delivery.greeting else "",
            "greeting_html": GREETING_HTML_TOKEN if pub.delivery.greeting else "",
        }

    def _story_link(self, day: dt.date) -> Callable[[str], str]:
        """What a story's link becomes in the email: tagged, then a click link when
        clicks are tracked."""
        tag = campaign_tagger(self.publication, day)
        click = self.click_link
        if click is None:
            return tag
        return lambda url: click(day, tag(url))


# MJML hides the preheader with white text as well, a trick spam filters score
# (HTML_FONT_LOW_CONTRAST): hide it by size and display alone.
_MJML_PREVIEW = re.compile(r'<div style="display:none;font-size:1px;color:#ffffff;[^"]*">')
PREHEADER_STYLE = ("display:none;font-size:0;line-height:0;max-height:0;max-width:0;"
                   "opacity:0;overflow:hidden;mso-hide:all;")


_OPEN_PIXEL = re.compile(r'<img src="[^"]*/o/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+(?:\?r=%%reader%%)?" '
                         r'width="1" height="1" alt=""[^>]*>')


def without_open_pixel(html: str) -> str:
    """The email's HTML without its open pixel: for a page a browser shows (the archive,
    the preview), where loading it would count an open no reader made."""
    return _OPEN_PIXEL.sub("", html)


def hide_preheader(html: str) -> str:
    return _MJML_PREVIEW.sub(f'<div style="{PREHEADER_STYLE}">', html, count=1)


def campaign_tagger(publication: Publication, day: dt.date) -> Callable[[str], str]:
    """A function adding the publication's UTM tags to a link (or leaving it alone)."""
    utm = publication.utm
    if utm is None:
        return lambda url: url
    tags = {"utm_source": utm.source, "utm_medium": utm.medium,
            "utm_campaign": utm.campaign.replace("{date}", day.isoformat())}

    def tag(url: str) -> str:
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        present = {key for key, _ in query}
        query += [(k, v) for k, v in tags.items() if k not in present]  # theirs win
        return urlunsplit(parts._replace(query=urlencode(query)))

    return tag


@pass_context
def _markdown_html(ctx: Context, source: str) -> Markup:
    return Markup(richtext.to_html(source, link=ctx.get("tag")))


@pass_context
def _markdown_text(ctx: Context, source: str, **options: Any) -> str:
    return richtext.to_text(source, link=ctx.get("tag"), **options)


@pass_context
def _tag_filter(ctx: Context, url: str) -> str:
    tag = ctx.get("tag")
    return tag(url) if tag else url


# Every style block but ours is left in the head as written: MJML's own reset and
# responsive rules are made for the head, and premailer's work (the slowest step of a
# render) then stays proportional to the few rules that need inlining.
_OTHER_STYLE = re.compile(r'<style(?![^>]*id="nl-inline")')


def inline_css(html: str) -> str:
    # premailer sets cssutils' log level for the whole process; put it back after.
    premailer_class = _premailer()
    cssutils_log = logging.getLogger("CSSUTILS")
    level = cssutils_log.level
    try:
        return _inline_css(premailer_class, html)
    finally:
        cssutils_log.setLevel(level)


def _inline_css(premailer_class: Callable[..., Any], html: str) -> str:
    premailer = premailer_class(
        _OTHER_STYLE.sub('<style data-premailer="ignore"', html),
        remove_classes=False,  # the dark-mode and small-screen rules select on them
        strip_important=False,
        allow_network=False,
        disable_validation=True,
        # Our images never float; this pass re-parses every image's style with cssutils'
        # validating parser and costs over a millisecond per image.
        align_floating_images=False,
        # cssutils warns about every mso-* and -ms-* property MJML emits: noise, not news.
        cssutils_logging_level=logging.CRITICAL,
    )
    out = str(premailer.transform(pretty_print=False)).replace(' data-premailer="ignore"', "")
    out = out.strip() + "\n"
    # lxml drops the doctype MJML wrote; without it some clients render in quirks mode.
    return out if out.lower().startswith("<!doctype") else "<!doctype html>\n" + out
