"""The report page: one static, self-contained HTML file. Pure.

No script, no stylesheet or font to fetch, no network: CSS inline, charts inline SVG
(``pipeline/report/svg.py``). The bytes depend on the build's files only (stats, config,
aggregates, masked sample): no timestamp, no host, no runner, no path of the output, so a build's
``report.html`` is the same on every rerun and runner. What a run varies in (wall and CPU time,
runner, host, throughput) is in ``run.json``, which the page links to.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from html import escape
from typing import Any

from pipeline.report import svg
from pipeline.report.compare import compare_sections
from pipeline.report.model import Chart, Section, Table, count, sections

# A cell holding a number ("1,234", "-5", "12.50%", "3 (1.2%)"): right-aligned.
_NUMBER_RE = re.compile(r"^[+\-−]?\d[\d,]*(\.\d+)?%?( \(.*\))?$")
STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;margin:0;
color:#222;background:#fff;line-height:1.4}
header{background:#f4f6f8;border-bottom:1px solid #dde;padding:18px 32px}
h1{margin:0 0 6px;font-size:24px}h2{margin:28px 0 6px;font-size:19px;border-bottom:1px solid #eee}
h3{margin:18px 0 2px;font-size:15px}main{padding:0 32px 40px;max-width:1100px}
.summary span{display:inline-block;margin-right:18px}.summary b{font-size:17px}
nav a{margin-right:12px;font-size:13px}p.caption{margin:2px 0 4px;color:#555;font-size:13px}
table{border-collapse:collapse;font-size:12px;margin:6px 0 10px}
td,th{border:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top;
overflow-wrap:anywhere}
td.n{text-align:right;white-space:nowrap}th{background:#f4f6f8}
details summary{cursor:pointer;color:#4e79a7;font-size:12px}.note{color:#8a5a00}
td.text{max-width:420px;color:#444}footer{color:#777;font-size:12px;padding:0 32px 24px}
""".replace("\n", "")


def _table(table: Table) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in table.header)
    body = []
    for row in table.rows:
        cells = []
        for i, cell in enumerate(row):
            numeric = bool(_NUMBER_RE.match(cell))
            cls = ' class="n"' if numeric and i else (' class="text"' if len(cell) > 60 else "")
            cells.append(f"<td{cls}>{escape(cell)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f"<h3>{escape(table.title)}</h3><table><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _numbers(chart: Chart) -> str:
    """The chart's numbers as a table (in the page text, for search, copy and screen readers)."""
    header = (chart.label_header or "label", *chart.names)
    rows = tuple(
        (row.label, *(series[i].text for series in chart.series))
        for i, row in enumerate(chart.series[0])
    )
    return (
        "<details><summary>numbers</summary>"
        + _table(Table("", header, rows)).removeprefix("<h3></h3>")
        + "</details>"
    )


def _chart(chart: Chart) -> str:
    if chart.kind == "columns":
        picture = svg.columns(
            [row.label for row in chart.series[0]],
            [[row.value for row in series] for series in chart.series],
            [[row.text for row in series] for series in chart.series],
            chart.names,
            chart.title,
        )
    else:
        bars = [
            svg.Bar(
                row.label,
                tuple(s[i].value for s in chart.series),
                tuple(s[i].text for s in chart.series),
            )
            for i, row in enumerate(chart.series[0])
        ]
        picture = svg.hbars(bars, chart.names, chart.title)
    return (
        f'<div class="chart" id="{escape(chart.key)}"><h3>{escape(chart.title)}</h3>'
        f'<p class="caption">{escape(chart.caption)}</p>{picture}{_numbers(chart)}</div>'
    )


def _section(section: Section) -> str:
    parts = [f'<section id="{escape(section.key)}"><h2>{escape(section.title)}</h2>']
    if section.intro:
        parts.append(f"<p>{escape(section.intro)}</p>")
    parts += [f'<p class="note">{escape(note)}</p>' for note in section.notes]
    parts += [_chart(chart) for chart in section.charts]
    parts += [_table(table) for table in section.tables]
    parts.append("</section>")
    return "".join(parts)


def _summary(stats: dict[str, Any]) -> str:
    rec = stats["reconciliation"]
    items = [
        ("input records", count(rec["input_records"])),
        ("kept", count(rec["kept"])),
        ("dropped by a rule", count(rec["dropped_total"])),
        ("dead-lettered", count(rec["dead_lettered"])),
        ("balanced", "yes" if rec["balanced"] else "NO"),
    ]
    return "".join(f"<span>{escape(k)}: <b>{escape(v)}</b></span>" for k, v in items)


RECOMPUTED = (
    "This build was made before c4 report: its aggregates were recomputed from its outputs, "
    "which do not hold the raw pages, the domains of dropped pages, the language of pages the "
    "detector was unsure of, or the pages line dedup changed."
)


def _recomputed(files: Any) -> bool:
    return bool(files.aggregates) and files.aggregates.get("source") == "outputs"


def render(builds: Sequence[Any], names: Sequence[str], run_links: Sequence[str]) -> str:
    """The page of one build (``names`` and ``run_links`` of one), or of two compared.

    ``builds`` are ``pipeline.report.store.BuildFiles``; ``run_links`` the hrefs of their
    ``run.json`` (``run.json`` beside a build's own report.html).
    """
    first = builds[0].stats
    title = f"C4 {first['config']} {first['c4_version']}"
    compared = len(builds) > 1
    if compared:
        other = builds[1].stats
        title += f" (A) against C4 {other['config']} {other['c4_version']} (B)"
    body = sections(builds, names)
    if compared:
        body = compare_sections(builds, names) + body
    nav = "".join(f'<a href="#{escape(s.key)}">{escape(s.title)}</a>' for s in body)
    summaries = "".join(
        f'<p class="summary">{escape(name + ": ") if compared else ""}{_summary(b.stats)}</p>'
        + (f'<p class="note">{escape(RECOMPUTED)}</p>' if _recomputed(b) else "")
        for b, name in zip(builds, names, strict=True)
    )
    runs = " · ".join(
        f'<a href="{escape(link)}">run facts{escape(" of " + name) if compared else ""}</a>'
        for link, name in zip(run_links, names, strict=True)
    )
    versions = builds[0].config.get("versions", {})
    made_by = f"c4-pipeline {versions.get('c4-pipeline', '')}".strip()
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)} — report</title><style>{STYLE}</style></head><body>"
        f"<header><h1>{escape(title)}</h1>{summaries}"
        f'<p class="caption">Wall and CPU time, runner, host and throughput: {runs} '
        "(run.json). Everything on this page depends only on the data and the configuration."
        f"</p><nav>{nav}</nav></header><main>{''.join(_section(s) for s in body)}</main>"
        f"<footer>Written by {escape(made_by)}: one static file, no script, no network."
        "</footer></body></html>\n"
    )
