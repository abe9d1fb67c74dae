"""The figures of the last days as Markdown for a CI job's summary (GitHub renders its
Mermaid charts): the latest issue's figures as a table, a chart of the click and open
rates of each issue, and the list's growth."""

from __future__ import annotations

from newsletter.insight.colours import PALETTE
from newsletter.insight.trend import Trend
from newsletter.store.vocabulary import Detail, Kind

__all__ = ["markdown"]


def _percent(rate: float | None) -> str:
    return "–" if rate is None else f"{rate:.1%}"


def _hundred(rate: float | None) -> str:
    return "0" if rate is None else f"{rate * 100:.2f}"


def markdown(span: Trend) -> str:
    lines = [f"### Readers, {span.since} to {span.until}", ""]
    if not span.issues:
        lines.append("No issue was sent in these days.")
    else:
        latest = span.issues[-1]
        lines += [f"**{latest.issue}**: sent to {latest.sent:,} readers.", "",
                  "| | count | rate |", "| --- | ---: | ---: |"]
        for label, kind, detail in (
                ("delivered", Kind.DELIVERED, None), ("bounced", Kind.BOUNCED, None),
                ("complained", Kind.COMPLAINED, None),
                ("unsubscribed", Kind.UNSUBSCRIBED, None),
                ("opened (people, an estimate)", Kind.OPENED, Detail.PERSON),
                ("clicked", Kind.CLICKED, None)):
            lines.append(f"| {label} | {latest.count(kind, detail):,} | "
                         f"{_percent(latest.rate(kind, detail))} |")
        lines += ["", *_chart(span)]
    total = span.total
    lines += ["", f"List growth: net {total.net:+,} (joined {total.joined:,}, unsubscribed "
                  f"{total.unsubscribed:,}, bounced {total.bounced:,}, complained "
                  f"{total.complained:,}, erased {total.erased:,})."]
    return "\n".join(lines)


_PALETTE = ('%%{init: {"themeVariables": {"xyChart": {"plotColorPalette": '
            f'"{PALETTE[0]}, {PALETTE[2]}"}}}}}}}}%%')


def _chart(span: Trend) -> list[str]:
    shown = span.issues[-30:]
    labels = ", ".join(f'"{f.issue[5:]}"' for f in shown)
    clicks = ", ".join(_hundred(f.rate(Kind.CLICKED)) for f in shown)
    people = [f.rate(Kind.OPENED, Detail.PERSON) for f in shown]
    # A provider's statistics (stats sync) count opens in all, a machine's with a
    # person's: shown as they are, and the title says so, rather than as no opens.
    opens = ", ".join(_hundred(f.rate(Kind.OPENED) if rate is None else rate)
                      for f, rate in zip(shown, people, strict=True))
    mixed = any(rate is None and f.count(Kind.OPENED) for f, rate in zip(shown, people,
                                                                          strict=True))
    what = "opens (line; all opens where the provider does not tell people's apart)" \
        if mixed else "opens (line)"
    # Mermaid's own bar colour is a pale lilac, near invisible on GitHub's white: the
    # report's blue and green (insight/charts.py) read on white and on GitHub's dark.
    return ["```mermaid", _PALETTE, "xychart-beta",
            f'    title "Clicks (bars) and {what} per 100 messages, last {len(shown)} '
            'issues"',
            f"    x-axis [{labels}]", '    y-axis "per 100 messages"',
            f"    bar [{clicks}]", f"    line [{opens}]", "```"]
