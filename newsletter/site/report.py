"""A Markdown summary of a built issue, for a pull request's job summary."""

from __future__ import annotations

import lxml.html

from newsletter.email.lint import CLIP_BYTES
from newsletter.project import Rendered


def links(html: str) -> list[str]:
    """Every distinct outbound link of the email, in order of appearance."""
    hrefs = lxml.html.document_fromstring(html).xpath("//a/@href")
    return list(dict.fromkeys(h for h in hrefs if h.startswith(("http://", "https://"))))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_summary(rendered: Rendered) -> str:
    email = rendered.email
    size = email.html_bytes
    found = links(email.html)
    warnings = [f.message for f in rendered.findings]
    lines = [
        f"### Issue {email.date.isoformat()}",
        "",
        "| | |",
        "| --- | --- |",
        f"| Subject | {_cell(email.subject)} |",
        f"| Preheader | {_cell(email.preheader)} |",
        f"| HTML size | {size:,} bytes of Gmail's {CLIP_BYTES:,} ({size / CLIP_BYTES:.0%}) |",
        f"| Links | {len(found)} |",
        f"| Findings | {_cell('; '.join(warnings)) if warnings else 'none'} |",
        "",
        "<details><summary>Links</summary>",
        "",
        *[f"- {url}" for url in found],
        "",
        "</details>",
        "",
    ]
    return "\n".join(lines)
