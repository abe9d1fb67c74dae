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
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import lxml.html

from newsletter.desk.fetch import Page
from newsletter.desk.urls import absolute, clean

WORDS = re.compile(r"\s+")
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
    return Story(
        headline=headline or "TODO headline",
        source=_first(oembed.get("provider_name"), named, _publisher(ld))
        or (where.hostname or "").removeprefix("www.") or "TODO source",
        url=clean(_canonical(tree, page.url)),
        summary=_first(found.description, ld.get("description"),
                       _text(page.html[:TRAFILATURA_CHARS])),
        image=absolute(page.url, image) if image else None,
        image_width=_width(oembed, tree, ld) if image else None)


def _tree(html: str) -> Any:
    try:
        return lxml.html.document_fromstring(html.encode("utf-8"))
    except (ValueError, lxml.etree.ParserError):
        return lxml.html.document_fromstring("<html></html>")


def _first(*values: object) -> str:
    for value in values:
        if isinstance(value, str) and (text := WORDS.sub(" ", value).strip()):
            return text
    return ""


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
