"""One issue's figures: what happened to its messages, as counts and rates, and the
clicks on each of its stories, in the order the issue has them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from newsletter.content.issue import Issue
from newsletter.store.figures import IssueCounts, LinkCount
from newsletter.store.vocabulary import Detail, Kind

__all__ = ["IssueFigures", "StoryClicks", "figures", "same_link"]

# Query parameters that only say where a click came from: a link with or without them is
# the same story (the email's own UTM tags, and what mail clients and providers add).
_TRACKING = ("utm_", "mc_", "fbclid", "gclid", "dclid", "msclkid", "yclid", "_hs")


@dataclass(frozen=True)
class StoryClicks:
    place: str  # "lead", or the section's title
    headline: str
    url: str
    people: int
    machines: int


@dataclass(frozen=True)
class IssueFigures:
    """An issue's counts with their rates (per message sent) and its stories' clicks."""

    counts: IssueCounts
    stories: list[StoryClicks] = field(default_factory=list)
    other_links: list[LinkCount] = field(default_factory=list)  # in the body, the footer

    @property
    def issue(self) -> str:
        return self.counts.issue

    @property
    def sent(self) -> int:
        return self.counts.sent

    def count(self, kind: Kind, detail: Detail | None = None) -> int:
        return self.counts.count(kind, detail)

    def rate(self, kind: Kind, detail: Detail | None = None) -> float | None:
        """The count per message sent (0.012 for 1.2%), None before anything was sent,
        and None for a detail the figure does not tell (a provider's statistics that
        count opens in all, not a person's apart): unknown, not zero."""
        if detail and set(self.counts.events.get(kind.value, {})) == {""}:
            return None
        return self.count(kind, detail) / self.sent if self.sent else None

    def as_dict(self) -> dict[str, object]:
        """The figures for ``--json``: every count, and each rate beside it."""
        events: dict[str, object] = {}
        for kind in Kind:
            details = self.counts.events.get(kind.value, {})
            events[kind.value] = {"count": self.count(kind), "rate": self.rate(kind),
                                  "by_detail": {d or "none": n for d, n in details.items()}}
        synced_at = self.counts.synced_at
        unique = self.counts.unique
        return {"issue": self.issue, "sent": self.sent,
                "started": self.counts.started.isoformat() if self.counts.started else None,
                "events": events,
                # readers (people) who opened and clicked, where kept per reader; else null
                "unique": {"openers": unique["opened"], "clickers": unique["clicked"]}
                if unique is not None else None,
                # kinds whose figures are the provider's statistics (``stats sync``)
                "synced": sorted(self.counts.synced),
                "synced_at": synced_at.isoformat() if synced_at else None,
                "stories": [{"place": s.place, "headline": s.headline, "url": s.url,
                             "clicks": s.people, "machine_clicks": s.machines}
                            for s in self.stories],
                "other_links": [{"url": link.url, "clicks": link.people,
                                 "machine_clicks": link.machines}
                                for link in self.other_links]}


def figures(counts: IssueCounts, issue: Issue | None, default_title: str) -> IssueFigures:
    """``counts`` with the clicks put on ``issue``'s stories (every link when the file
    is gone: then the links are all there is)."""
    if issue is None:
        return IssueFigures(counts, [], list(counts.links))
    left = list(counts.links)
    stories = []
    for place, headline, url in _stories(issue, default_title):
        mine = [link for link in left if same_link(link.url, url)]
        left = [link for link in left if link not in mine]
        stories.append(StoryClicks(place, headline, url, sum(x.people for x in mine),
                                   sum(x.machines for x in mine)))
    return IssueFigures(counts, stories, left)


def _stories(issue: Issue, default_title: str) -> Sequence[tuple[str, str, str]]:
    found = [("lead", issue.lead.headline, str(issue.lead.url))]
    for section in issue.sections:
        title = section.title or default_title
        found += [(title, item.headline, str(item.url)) for item in section.items]
    return found


def same_link(clicked: str, story: str) -> bool:
    """Whether a clicked URL is the story's link: the same page, whatever tracking
    parameters, fragment or letter case of the host either has."""
    return _plain(clicked) == _plain(story)


def _plain(url: str) -> tuple[str, str, str, str]:
    parts = urlsplit(url.strip())
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if not k.lower().startswith(_TRACKING)]
    path = parts.path.rstrip("/") or "/"
    return (parts.scheme.lower(), (parts.hostname or "").lower().removeprefix("www."), path,
            urlencode(sorted(query)))


def plain_url(url: str) -> str:
    """The URL without its tracking parameters (for showing a link that is no story)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if not k.lower().startswith(_TRACKING)]
    return urlunsplit(parts._replace(query=urlencode(query), fragment=""))
