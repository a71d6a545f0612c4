"""The report as a person sees it: a real build's page in headless Chromium.

The screenshot must not be blank and must show the charts' colours; the page's text, as the
browser built its DOM, must hold every chart's numbers, recounted here from stats.json, the
lineage files and aggregates.json. Chromium is Debian's ``chromium`` package (``.ci/run``
installs it); where it is absent this test is skipped, saying so: the only skip in the suite.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.pipeline.report.fixtures import build, lineage_rows, read_json, recount_top
from tests.pipeline.report.png import read_png

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install chromium; .ci/run does)"
)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]
BAR_BLUE = (0x4E, 0x79, 0xA7)


def _chromium(tmp: Path, *args: str) -> str:
    assert CHROMIUM is not None
    done = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={tmp / 'profile'}", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("browser") / "out")


def test_the_page_renders_and_is_not_blank(built: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    page = (built / "report.html").as_uri()
    _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,2400", page)
    pixels = read_png(shot)[:, :, :3].astype(np.int32)
    assert pixels.shape[:2] == (2400, 1200)
    ink = (pixels < 235).any(axis=2).mean()
    assert ink > 0.03, f"only {ink:.1%} of the screenshot is not white"
    blue = (np.abs(pixels - np.array(BAR_BLUE)).sum(axis=2) < 30).sum()
    assert blue > 5000, "the bar charts were not drawn"


def _text(dom: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", dom))


def _expected_numbers(built: Path) -> dict[str, list[str]]:
    """Every chart's numbers, recounted from the build's files, as the page prints them."""
    stats = read_json(built / "stats.json")
    aggregates: dict[str, Any] = read_json(built / "report" / "aggregates.json")
    rec = stats["reconciliation"]
    total, kept = rec["input_records"], rec["kept"]
    domains = [r["domain"] or "(none)" for r in lineage_rows(built)]
    langs = dict(aggregates["languages"])
    at_filter = sum(langs.values())
    expected: dict[str, list[str]] = {
        "funnel": [f"{total:,}", f"{kept:,}"],
        "drops": [f"{n:,} ({100 * n / total:.2f}%)" for n in rec["dropped"].values()],
        "splits": [f"{s['documents']:,}" for s in stats["splits"].values()],
        "lines": [f"{n:,}" for name, n in stats["counters"].items() if "/line-" in name],
        "domains": [f"{n:,} ({100 * n / kept:.2f}%)" for _, n in recount_top(domains, 20)],
        "languages": [f"{n:,} ({100 * n / at_filter:.2f}%)" for n in list(langs.values())[:20]],
    }
    for when in ("before", "after"):
        summary = aggregates["lengths"][when]
        for field in ("chars", "words", "lines"):
            expected[f"{when} {field}"] = [
                f"{100 * c / summary['sample']:.2f}%" for c in summary[field]["counts"]
            ]
    return expected


def test_every_charts_numbers_are_in_the_page_text(built: Path, tmp_path: Path) -> None:
    dom = _chromium(tmp_path, "--dump-dom", (built / "report.html").as_uri())
    assert "<svg" in dom and "Where the pages went" in dom
    text = _text(dom)
    for chart, numbers in _expected_numbers(built).items():
        assert numbers, chart
        for number in numbers:
            assert number in text, (chart, number)
    assert len(re.findall(r"<svg", dom)) == 12  # every chart of an unmasked build
