"""Charts for the report, drawn as SVG by pygal: readable without JavaScript (pygal's
tooltip script is left out), their text in the page's own colour (``currentColor``), so
one drawing serves light and dark pages alike."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pygal
from markupsafe import Markup
from pygal.style import Style

from newsletter.insight.colours import PALETTE

__all__ = ["bars", "lines"]

# Colours that keep 3:1 against both the light and the dark page (WCAG's non-text
# contrast): a blue, an orange, a green, a purple, a red.
_STYLE = Style(background="transparent", plot_background="transparent",
               foreground="currentColor", foreground_strong="currentColor",
               foreground_subtle="#8a8a8a", colors=PALETTE, opacity=".9",
               opacity_hover="1", font_family="system-ui, sans-serif",
               label_font_size=12, major_label_font_size=12, legend_font_size=13,
               title_font_size=15, value_font_size=12)
_COMMON = {"style": _STYLE, "js": [], "disable_xml_declaration": True,
           "explicit_size": False, "show_y_guides": True, "print_values": False}


# pygal writes its configuration as a script, and a comment with the day it drew: neither
# is wanted in a page that runs no script and should read the same for the same figures.
_SCRIPT = re.compile(r"<script\b.*?</script>", re.S)
_COMMENT = re.compile(r"<!--.*?-->", re.S)


def _svg(chart: pygal.graph.graph.Graph, label: str) -> Markup:
    svg = _COMMENT.sub("", _SCRIPT.sub("", chart.render(is_unicode=True)))
    # The picture is described for screen readers by its label; the figures are in the
    # table beside it.
    return Markup(svg.replace("<svg ", f'<svg role="img" aria-label="{_attr(label)}" ', 1))


def _attr(text: str) -> str:
    return (text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
            .replace(">", "&gt;"))


def lines(label: str, x: Sequence[str], series: dict[str, Sequence[float | None]], *,
          percent: bool = True) -> Markup:
    """A line per series over ``x`` (dates)."""
    chart = pygal.Line(**_COMMON, width=900, height=320, x_label_rotation=30,
                       show_minor_x_labels=False, truncate_label=-1,
                       value_formatter=(lambda v: f"{v:.1%}") if percent else str,
                       legend_at_bottom=True)
    chart.x_labels = list(x)
    chart.x_labels_major_every = max(1, len(x) // 10)
    for name, values in series.items():
        chart.add(name, list(values))
    return _svg(chart, label)


def bars(label: str, names: Sequence[str], values: Sequence[float], *,
         horizontal: bool = True) -> Markup:
    """One bar per name (a story's clicks, a day's growth)."""
    kind = pygal.HorizontalBar if horizontal else pygal.Bar
    height = max(160, 34 * len(names) + 60) if horizontal else 300
    chart = kind(**_COMMON, width=900, height=height, show_legend=False,
                 truncate_label=60 if horizontal else -1, x_label_rotation=0 if horizontal
                 else 30, show_minor_x_labels=horizontal)
    chart.x_labels = list(names)
    if not horizontal:
        chart.x_labels_major_every = max(1, len(names) // 10)
    chart.add(label, list(values))
    return _svg(chart, label)
