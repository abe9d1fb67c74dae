"""The small Markdown dialect of issue files: paragraphs, emphasis and links, nothing else.

Raw HTML is never passed through (markdown-it's ``html`` option is off, so ``<script>``
comes out as the text ``&lt;script&gt;``). The same parse feeds the HTML edition and the
plain-text edition, so both always carry the same words and links.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from functools import lru_cache

from markdown_it import MarkdownIt
from markdown_it.token import Token

WIDTH = 72


@lru_cache(maxsize=3)
def _parser(*, any_link: bool = False, code: bool = False) -> MarkdownIt:
    md = MarkdownIt("zero", {"html": False, "linkify": False, "typographer": False})
    md.enable(["emphasis", "link", "autolink", "escape", "entity", "newline"])
    if code:
        md.enable("backticks")  # only for to_plain: the dialect has no code spans
    if any_link:
        # markdown-it quietly turns javascript: links into plain text; to report them we
        # must first see them as links. Only links() uses this parser.
        md.validateLink = lambda url: True  # type: ignore[method-assign]
    return md


LinkFn = Callable[[str], str]


def to_html(source: str, link: LinkFn | None = None) -> str:
    """Markdown -> HTML fragment (already escaped: safe to insert as markup).

    ``link`` rewrites each link target (campaign tagging, say)."""
    md = _parser()
    tokens = md.parse(source)
    if link is not None:
        for tok in tokens:
            for child in tok.children or []:
                if child.type == "link_open":
                    child.attrs["href"] = link(str(child.attrs["href"]))
    return str(md.renderer.render(tokens, md.options, {})).strip()


def links(source: str) -> list[str]:
    """Every link target in ``source``, in order."""
    tokens = _inline_tokens(source, _parser(any_link=True))
    return [str(tok.attrs["href"]) for tok in tokens if tok.type == "link_open"]


def to_text(source: str, *, width: int = WIDTH, indent: str = "",
            link: LinkFn | None = None) -> str:
    """Markdown -> wrapped plain text; a link is written ``words (url)``."""
    paragraphs = [_inline_text(children, link) for children in _paragraphs(source, _parser())]
    return "\n\n".join(_wrap(p, width, indent) for p in paragraphs if p)


def to_plain(source: str) -> str:
    """Markdown -> the words alone, for a page's excerpt or a feed's summary: paragraphs
    kept apart by a blank line, no emphasis marks, a link its words (the address is the
    page's to give), and a code span's backticks dropped though the email shows them."""
    md = _parser(code=True)
    paragraphs = (_plain(children) for children in _paragraphs(source, md))
    return "\n\n".join(" ".join(p.split()) for p in paragraphs if p.strip())


def _plain(children: list[Token]) -> str:
    return "".join(tok.content if tok.type in ("text", "code_inline") else
                   " " if tok.type in ("softbreak", "hardbreak") else ""
                   for tok in children)


def _paragraphs(source: str, md: MarkdownIt) -> Iterator[list[Token]]:
    for tok in md.parse(source):
        if tok.type == "inline":
            yield tok.children or []


def _inline_tokens(source: str, md: MarkdownIt) -> Iterator[Token]:
    for children in _paragraphs(source, md):
        yield from children


def _inline_text(children: list[Token], link: LinkFn | None = None) -> str:
    out: list[str] = []
    href_stack: list[tuple[str, int]] = []
    for tok in children:
        if tok.type in ("text", "code_inline"):
            out.append(tok.content)
        elif tok.type in ("em_open", "em_close"):
            out.append("_")
        elif tok.type in ("strong_open", "strong_close"):
            out.append("*")
        elif tok.type in ("softbreak", "hardbreak"):
            out.append("\n" if tok.type == "hardbreak" else " ")
        elif tok.type == "link_open":
            href_stack.append((str(tok.attrs["href"]), len(out)))
        elif tok.type == "link_close" and href_stack:
            href, start = href_stack.pop()
            words = "".join(out[start:])
            shown = link(href) if link else href
            if words in (href, href.removeprefix("mailto:")):
                out[start:] = [shown]
            else:
                out.append(f" ({shown})")
    return "".join(out).strip()


def wrap(line: str, width: int = WIDTH, *, indent: str = "", first: str | None = None) -> str:
    """One line of the text edition wrapped at ``width``: never inside a word or a URL
    (a word longer than the line stands alone on its own), later lines ``indent``ed,
    the first ``first`` (default: ``indent``)."""
    return textwrap.fill(" ".join(line.split()), width,
                         initial_indent=indent if first is None else first,
                         subsequent_indent=indent, break_long_words=False,
                         break_on_hyphens=False)


def _wrap(paragraph: str, width: int, indent: str) -> str:
    lines = paragraph.split("\n")
    return "\n".join(
        textwrap.fill(line, width, initial_indent=indent, subsequent_indent=indent,
                      break_long_words=False, break_on_hyphens=False)
        for line in lines
    )
