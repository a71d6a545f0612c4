"""``c4 build`` writes ``DIR/report.html``: deterministic, self-contained, changing nothing else.

- the page and its aggregates are byte-identical across reruns and runners (DirectRunner in
  memory and with two worker processes, C4DaskRunner), and ``c4 report DIR`` renders the same
  bytes from the files;
- every other output is byte-identical with and without the report;
- the page loads nothing: no script, no stylesheet, no image, no link out but to ``run.json``;
- run facts (runner, times, host) are in ``run.json``, not in the page;
- a masked build's page shows the masked examples' numbers.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.build import build_pipeline
from pipeline.cli import main
from pipeline.config import make_build_config
from pipeline.runners.dask import C4DaskRunner
from tests.conftest import REAL_WET, TWO_WORKERS, output_tree
from tests.pipeline.report.fixtures import build, read_json

TWO_FILES = [str(p) for p in REAL_WET if "excerpt-262" in p.name or "excerpt-25." in p.name]
REPORT_FILES = ("report.html", "report/aggregates.json")


def _report_files(out: Path) -> dict[str, bytes]:
    return {name: (out / name).read_bytes() for name in REPORT_FILES}


def _build_in_process(out: Path, runner: object, options: list[str]) -> dict[str, bytes]:
    config = make_build_config(TWO_FILES, str(out), runner=type(runner).__name__)
    p = beam.Pipeline(runner=runner, options=PipelineOptions(options))
    build_pipeline(p, config)
    p.run().wait_until_finish()
    return _report_files(out)


@pytest.mark.slow
def test_the_report_is_the_same_on_every_run_and_runner(tmp_path: Path, dask_threads: str) -> None:
    assert len(TWO_FILES) == 2
    direct = beam.runners.DirectRunner
    reference = _build_in_process(tmp_path / "a", direct(), ["--direct_running_mode", "in_memory"])
    assert b"<svg" in reference["report.html"]
    runs = {
        "rerun": (direct(), ["--direct_running_mode", "in_memory"]),
        "two_workers": (direct(), list(TWO_WORKERS)),
        "dask_threads": (C4DaskRunner(), ["--dask_client_address", dask_threads]),
    }
    for name, (runner, options) in runs.items():
        assert _build_in_process(tmp_path / name, runner, options) == reference, name


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("report") / "out")


def test_c4_report_renders_the_bytes_the_build_wrote(built: Path, tmp_path: Path) -> None:
    written = (built / "report.html").read_bytes()
    assert main(["report", str(built)]) == 0
    assert (built / "report.html").read_bytes() == written
    elsewhere = tmp_path / "copy.html"
    assert main(["report", str(built), "--output", str(elsewhere)]) == 0
    page = elsewhere.read_text(encoding="utf-8")
    # The same page but for the link to run.json, relative to where it was written.
    link = Path(re.findall(r'href="([^"#]+run\.json)"', page)[0])
    assert (elsewhere.parent / link).resolve() == (built / "run.json").resolve()


def test_every_other_output_is_the_same_without_the_report(built: Path, tmp_path: Path) -> None:
    without = build(tmp_path / "without", report=False)

    def files(root: Path) -> dict[str, bytes]:
        return {
            rel: p.read_bytes()
            for rel, p in output_tree(root).items()
            if p.name not in ("config.json", "run.json")
        }

    got, base = files(built), files(without)
    assert sorted(set(got) - set(base)) == sorted(REPORT_FILES)
    assert {name: got[name] for name in base} == base


def test_the_page_loads_nothing_and_links_only_run_json(built: Path) -> None:
    page = (built / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    for forbidden in ("<script", "<link", "<img", "<iframe", "@import", "url(", "src="):
        assert forbidden not in page, forbidden
    hrefs = set(re.findall(r'href="([^"]*)"', page))
    assert {h for h in hrefs if not h.startswith("#")} == {"run.json"}
    ids = set(re.findall(r'id="([^"]*)"', page))
    assert {h[1:] for h in hrefs if h.startswith("#")} <= ids


def test_run_facts_are_in_run_json_not_in_the_page(built: Path) -> None:
    facts = read_json(built / "run.json")
    assert facts["runner"] == "DirectRunner"
    assert facts["cpu_seconds"] > 0 and facts["wall_seconds"] > 0
    assert (
        facts["input_records"] == read_json(built / "stats.json")["reconciliation"]["input_records"]
    )
    page = (built / "report.html").read_text(encoding="utf-8")
    assert facts["host"] not in page and str(built) not in page
    assert "DirectRunner" not in page and facts["finished_utc"][:10] not in page


def test_a_masked_build_shows_its_masked_examples(tmp_path: Path) -> None:
    out = tmp_path / "masked"
    assert main(["build", "--input", TWO_FILES[0], "--output", str(out), "--mask"]) == 0
    masked = read_json(out / "masked" / "config.json")["splits"]["train"]
    page = (out / "report.html").read_text(encoding="utf-8")
    assert 'id="masked-tokens"' in page and 'id="masked-noise"' in page
    per_doc = (masked["inputs_tokens"] + masked["targets_tokens"]) / masked["documents"]
    per_pack = masked["examples"] / masked["packs"]
    assert f">{per_doc:.1f}<" in page and f">{per_pack:.1f}<" in page
    # c4 mask on an unmasked build, then c4 report: the page gains the section.
    plain = build(tmp_path / "plain")
    assert "Not masked" in (plain / "report.html").read_text(encoding="utf-8")
    assert main(["mask", str(plain)]) == 0 and main(["report", str(plain)]) == 0
    assert 'id="masked-tokens"' in (plain / "report.html").read_text(encoding="utf-8")


def test_aggregates_json_is_sorted_and_small(built: Path) -> None:
    text = (built / "report" / "aggregates.json").read_text(encoding="utf-8")
    assert text == json.dumps(json.loads(text), sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    assert len(text) < 200_000
