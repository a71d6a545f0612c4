"""The report's charts: inline SVG written here, no plotting library, no script, no network.

Pure. Two kinds cover every chart: horizontal bars (``hbars``: a label and one bar per series on
each row) and grouped columns (``columns``: histogram bins). Each bar carries its number as text
(an empty column's 0 is left to the table under the chart), so the page's text holds every
number a chart draws. Coordinates are printed with one decimal and the colours are fixed, so
the same data always gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import NamedTuple

# One colour per series: the build (and, compared, the other build).
PALETTE = ("#4e79a7", "#e15759")
WIDTH = 760
LABEL_WIDTH = 250
VALUE_WIDTH = 210
BAR_HEIGHT = 13
ROW_GAP = 7
FONT = "font-family:system-ui,-apple-system,'Segoe UI',Helvetica,Arial,sans-serif"
MAX_LABEL_CHARS = 38


class Bar(NamedTuple):
    """One row of an ``hbars`` chart: its label and, per series, a value and the text shown."""

    label: str
    values: tuple[float, ...]
    texts: tuple[str, ...]


def _n(x: float) -> str:
    return f"{x:.1f}"


def _short(label: str, limit: int = MAX_LABEL_CHARS) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _open(title: str, height: float) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{WIDTH}" '
        f'height="{_n(height)}" viewBox="0 0 {WIDTH} {_n(height)}" style="{FONT};font-size:12px">',
        f"<title>{escape(title)}</title>",
    ]


def _legend(series: Sequence[str], y: float) -> list[str]:
    if len(series) < 2:
        return []
    out = []
    x = float(LABEL_WIDTH)
    for i, name in enumerate(series):
        out.append(
            f'<rect x="{_n(x)}" y="{_n(y)}" width="12" height="12" fill="{PALETTE[i]}"/>'
            f'<text x="{_n(x + 16)}" y="{_n(y + 10)}">{escape(name)}</text>'
        )
        x += 30 + 7 * len(name)
    return out


def hbars(rows: Sequence[Bar], series: Sequence[str], title: str) -> str:
    """Horizontal bars, one row per ``Bar``, one bar per series, scaled to the largest value."""
    n = max(1, len(series))
    legend = 22.0 if n > 1 else 0.0
    row_height = n * BAR_HEIGHT + ROW_GAP
    height = legend + max(1, len(rows)) * row_height + 4
    largest = max((v for row in rows for v in row.values), default=0.0) or 1.0
    span = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    out = _open(title, height)
    out += _legend(series, 2.0)
    for r, row in enumerate(rows):
        top = legend + r * row_height
        out.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{_n(top + n * BAR_HEIGHT / 2 + 4)}" '
            f'text-anchor="end">{escape(_short(row.label))}</text>'
        )
        for s, (value, text) in enumerate(zip(row.values, row.texts, strict=True)):
            y = top + s * BAR_HEIGHT
            width = max(0.0, value / largest * span)
            out.append(
                f'<rect x="{LABEL_WIDTH}" y="{_n(y + 1)}" width="{_n(width)}" '
                f'height="{BAR_HEIGHT - 2}" fill="{PALETTE[s % len(PALETTE)]}"/>'
                f'<text x="{_n(LABEL_WIDTH + width + 5)}" y="{_n(y + BAR_HEIGHT - 3)}">'
                f"{escape(text)}</text>"
            )
    if not rows:
        out.append(f'<text x="{LABEL_WIDTH}" y="{_n(legend + 14)}">(nothing to show)</text>')
    out.append("</svg>")
    return "".join(out)


def columns(
    bins: Sequence[str],
    values: Sequence[Sequence[float]],
    texts: Sequence[Sequence[str]],
    series: Sequence[str],
    title: str,
) -> str:
    """Grouped vertical columns: one group per bin, one column per series, number on top."""
    n = max(1, len(series))
    legend = 22.0 if n > 1 else 0.0
    top, plot, axis = legend + 16, 150.0, 34.0
    height = top + plot + axis
    left = 10.0
    group = (WIDTH - left) / max(1, len(bins))
    bar = min(26.0, (group - 6) / n)
    largest = max((v for vs in values for v in vs), default=0.0) or 1.0
    out = _open(title, height)
    out += _legend(series, 2.0)
    base = top + plot
    out.append(
        f'<line x1="{_n(left)}" y1="{_n(base)}" x2="{WIDTH}" y2="{_n(base)}" stroke="#999"/>'
    )
    for b, name in enumerate(bins):
        x0 = left + b * group
        for s in range(len(values)):
            h = values[s][b] / largest * plot
            x = x0 + (group - n * bar) / 2 + s * bar
            out.append(
                f'<rect x="{_n(x)}" y="{_n(base - h)}" width="{_n(bar - 1)}" height="{_n(h)}" '
                f'fill="{PALETTE[s % len(PALETTE)]}"/>'
            )
            if not values[s][b]:
                continue  # an empty bin's 0 is in the table; on the chart it is clutter
            label_y = base - h - 3 - (10 if s % 2 else 0)
            out.append(
                f'<text x="{_n(x + bar / 2)}" y="{_n(label_y)}" text-anchor="middle" '
                f'style="font-size:9px">{escape(texts[s][b])}</text>'
            )
        out.append(
            f'<text x="{_n(x0 + group / 2)}" y="{_n(base + 14)}" text-anchor="middle" '
            f'style="font-size:10px">{escape(name)}</text>'
        )
    out.append("</svg>")
    return "".join(out)
