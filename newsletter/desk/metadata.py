"""What a page says about itself -> the fields of a story.

In order of trust: the page's oEmbed answer (what the publisher offers to embedders),
then what trafilatura reads from the head (OpenGraph, Twitter cards, JSON-LD, meta
tags, ``<title>``), then JSON-LD's description and image where trafilatura takes only
the headline and publisher, and last the page's own text for a summary. trafilatura
parses text we fetched; it never fetches anything itself, so every byte came through
the guard.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import lxml.html

from newsletter.desk.fetch import Page
from newsletter.desk.urls import absolute, clean

WORDS = re.compile(r"\s+")
ONE_LINE_MAX = 200  # a headline or a source name; a page may say anything
# trafilatura's time grows with the page (3 s for 2 MB of text here); the head and the
# first paragraphs are all it needs.
TRAFILATURA_CHARS = 300_000


@dataclass(frozen=True)
class Story:
    headline: str
    source: str
    url: str
    summary: str
    image: str | None
    image_width: int | None


def story(page: Page) -> Story:
    from trafilatura.metadata import extract_metadata  # heavy: only when a story is added

    found = extract_metadata(page.html[:TRAFILATURA_CHARS], default_url=page.url)
    tree = _tree(page.html)
    ld = _json_ld(tree)
    oembed = page.oembed
    headline = _first(oembed.get("title"), found.title, ld.get("headline"), _h1(tree))
    image = _first(oembed.get("thumbnail_url"), found.image, _ld_image(ld))
    where = urlsplit(page.url)
    named = found.sitename if found.sitename not in (where.netloc, where.hostname) else ""
    src = _web(absolute(page.url, image)) if image else None
    return Story(
        headline=cut(headline, ONE_LINE_MAX) or "TODO headline",
        source=cut(_first(oembed.get("provider_name"), named, _publisher(ld)), ONE_LINE_MAX)
        or (where.hostname or "").removeprefix("www.") or "TODO source",
        url=clean(_canonical(tree, page.url)),
        summary=_first(found.description, ld.get("description"),
                       _text(page.html[:TRAFILATURA_CHARS])),
        image=src, image_width=_width(oembed, tree, ld) if src else None)


def _tree(html: str) -> Any:
    try:
        return lxml.html.document_fromstring(html.encode("utf-8"))
    except (ValueError, lxml.etree.ParserError):
        return lxml.html.document_fromstring("<html></html>")


def _first(*values: object) -> str:
    """The first value with words in it, on one line, without control or format
    characters (a page's bidi override or zero-width space would only mislead)."""
    for value in values:
        if isinstance(value, str) and (text := _visible(WORDS.sub(" ", value)).strip()):
            return text
    return ""


def _visible(text: str) -> str:
    return "".join(c for c in text if unicodedata.category(c) not in ("Cc", "Cf"))


def _web(url: str) -> str | None:
    return url if urlsplit(url).scheme in ("http", "https") else None


def _json_ld(tree: Any) -> dict[str, Any]:
    """The first JSON-LD object that reads like a story (has a headline or a name)."""
    for script in tree.xpath('//script[@type="application/ld+json"]'):
        try:
            data = json.loads(script.text or "")
        except ValueError:
            continue
        for thing in _things(data):
            if isinstance(thing, dict) and (thing.get("headline") or thing.get("name")):
                return thing
    return {}


def _things(data: Any) -> list[Any]:
    if isinstance(data, dict) and isinstance(data.get("@graph"), list):
        return list(data["@graph"])
    return data if isinstance(data, list) else [data]


def _ld_image(ld: dict[str, Any]) -> str:
    image = ld.get("image")
    if isinstance(image, list):
        image = image[0] if image else None
    if isinstance(image, dict):
        image = image.get("url")
    return image if isinstance(image, str) else ""


def _publisher(ld: dict[str, Any]) -> str:
    publisher = ld.get("publisher")
    return publisher.get("name", "") if isinstance(publisher, dict) else ""


def _h1(tree: Any) -> str:
    found = tree.xpath("//h1")
    return str(found[0].text_content()) if found else ""


def cut(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, cut at a word with an ellipsis."""
    if len(text) <= limit:
        return text
    return text[:limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:.") + "…"


def _canonical(tree: Any, url: str) -> str:
    """The page's own name for itself, when it is an absolute http(s) URL; else where
    the redirects ended."""
    for href in (*tree.xpath('//link[@rel="canonical"]/@href'),
                 *tree.xpath('//meta[@property="og:url"]/@content')):
        candidate = absolute(url, str(href).strip())
        if urlsplit(candidate).scheme in ("http", "https"):
            return candidate
    return url


def _width(oembed: dict[str, Any], tree: Any, ld: dict[str, Any]) -> int | None:
    image = ld.get("image")
    values = [oembed.get("thumbnail_width"),
              *tree.xpath('//meta[@property="og:image:width"]/@content'),
              image.get("width") if isinstance(image, dict) else None]
    for value in values:
        try:
            return int(str(value))
        except ValueError:
            continue
    return None


def _text(html: str) -> str:
    """The first paragraphs of the page's own text, for a page with no description."""
    from trafilatura import extract

    text = extract(html, include_comments=False, include_tables=False) or ""
    return WORDS.sub(" ", text).strip()
