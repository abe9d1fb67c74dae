"""A story's URL as it goes in the issue: absolute, without trackers' parameters."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

# Parameters that name a campaign or a click, never the page: analytics (utm_*), ad
# networks' click ids, mail tools' recipient ids. A link kept with them would count our
# readers in someone else's statistics, and repeats would not be found.
TRACKERS = frozenset({
    "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid",
    "ttclid", "li_fat_id", "igshid", "mc_cid", "mc_eid", "_hsenc", "_hsmi", "mkt_tok",
    "vero_id", "vero_conv", "oly_anon_id", "oly_enc_id", "rb_clickid", "s_cid",
    "ncid", "cmpid", "_ga", "_gl", "wt_mc", "ref_src"})
PREFIXES = ("utm_", "pk_", "mtm_", "hsa_")


def clean(url: str) -> str:
    """``url`` without tracking parameters or a fragment; the rest as it was."""
    parts = urlsplit(url)
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if not _tracker(k)]
    query = urlencode(kept) if len(kept) != _count(parts.query) else parts.query
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", query, ""))


def _tracker(key: str) -> bool:
    key = key.lower()
    return key in TRACKERS or key.startswith(PREFIXES)


def _count(query: str) -> int:
    return len(parse_qsl(query, keep_blank_values=True))


def absolute(base: str, url: str) -> str:
    return urljoin(base, url)


def same(a: str, b: str) -> bool:
    """Whether two story URLs name one page: cleaned, scheme, ``www.`` and a trailing
    slash aside."""
    return _key(a) == _key(b)


def _key(url: str) -> tuple[str, str, str]:
    parts = urlsplit(clean(url))
    host = (parts.hostname or "").removeprefix("www.")
    return host, parts.path.rstrip("/") or "/", parts.query
