"""The page from files alone (pure): what reaches it is escaped, numbers are printed once and the
same in the chart and its table, the compare view's differences and one-build-only documents."""

from __future__ import annotations

import html as std_html
import re
from pathlib import Path
from typing import Any

import pytest

from pipeline.cli import main
from pipeline.report import html, model
from pipeline.report.store import BuildFiles, load_build
from tests.pipeline.report.fixtures import build, documents

HOSTILE = '<script>alert("x")</script>'


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("page") / "out")


def _files(built: Path) -> BuildFiles:
    return load_build(str(built))


def test_what_the_data_says_is_escaped(built: Path) -> None:
    files = _files(built)
    aggregates: dict[str, Any] = dict(files.aggregates or {})
    aggregates["domains"] = [[HOSTILE, 3], *aggregates["domains"]]
    docs = [dict(d) for d in aggregates["documents"]]
    docs[0]["excerpt"] = HOSTILE
    docs[0]["url"] = 'http://x/"><img src=x>'
    aggregates["documents"] = docs
    page = html.render([files._replace(aggregates=aggregates)], ["this build"], ["run.json"])
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page


def test_every_bar_prints_its_number_in_the_chart_and_in_its_table(built: Path) -> None:
    files = _files(built)
    page = html.render([files], ["this build"], ["run.json"])
    for section in model.sections([files], ["this build"]):
        for chart in section.charts:
            block = page[page.index(f'id="{chart.key}"') :]
            svg, table = block.split("</svg>", 1)
            table = table.split("</details>", 1)[0]
            for series in chart.series:
                for row in series:
                    text = std_html.escape(row.text)
                    if row.value or chart.kind == "bars":  # an empty column is unlabelled
                        assert f">{text}</text>" in svg, (chart.key, row)
                    assert f">{text}</td>" in table, (chart.key, row)


def test_the_funnel_ends_at_the_documents_kept(built: Path) -> None:
    stats = _files(built).stats
    steps = model.funnel_steps(stats)
    assert steps[0] == ("input records", stats["reconciliation"]["input_records"], 0)
    assert steps[-1][:2] == ("kept", len(documents(built)))
    assert steps[-2][1] == steps[-1][1], "input - dead letters - every drop = kept"
    stages = [name for name, _, _ in steps[1:-1] if name != "dead-lettered"]
    assert len(stages) >= 3
    assert stages == sorted(stages, key=model.FUNNEL_ORDER.index)  # C4's order


def test_compare_lists_differences_and_documents_in_one_build_only(tmp_path: Path) -> None:
    new = build(tmp_path / "v3")
    old = build(tmp_path / "v2", "--c4_version", "2.2.0")
    assert main(["report", str(new), "--compare", str(old)]) == 0
    page = (new / "compare.html").read_text(encoding="utf-8")
    assert "Differences in the aggregates" in page and "Documents in A only" in page
    urls = {name: {d["url"] for d in documents(path)} for name, path in (("a", new), ("b", old))}
    only_a = urls["a"] - urls["b"]
    listed = re.findall(r"<td[^>]*>(http[^<]+)</td><td[^>]*>(?:train|validation)</td>", page)
    assert listed, "the samples hold documents present in one build only"
    for url in listed:
        url = std_html.unescape(url)
        assert url in only_a or url in urls["b"] - urls["a"], url
    for split in ("train", "validation"):
        a = sum(1 for d in documents(new) if d["split"] == split)
        b = sum(1 for d in documents(old) if d["split"] == split)
        if a != b:
            assert f'<td>{split}</td><td class="n">{a:,}</td><td class="n">{b:,}</td>' in page
    assert "drops were not recorded" in page
