"""The benchmark harness end to end in BENCH_QUICK mode (tiny inputs; no timings asserted)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import suite
from benchmarks.end_to_end import measure
from benchmarks.plots import stage_rows


def test_measure_reports_child_cpu_and_memory() -> None:
    figures = measure(["python3", "-c", "x = bytearray(200_000_000); sum(range(10**6))"])
    assert figures["peak_rss_MB"] >= 190
    assert figures["cpu_seconds"] > 0 and figures["wall_seconds"] > 0


@pytest.mark.reference
@pytest.mark.slow
def test_quick_suite_writes_results_and_plots(tmp_path: Path) -> None:
    assert suite.main(["--quick", "--results", str(tmp_path)]) == 0
    clean = json.loads((tmp_path / "clean_throughput_suite.json").read_text())
    assert clean["identical_outputs"] is True
    assert {r[0] for r in stage_rows(clean)} >= {"parse", "clean", "language", "whole core"}
    e2e = json.loads((tmp_path / "end_to_end.json").read_text())
    assert len(e2e["sizes"]) == 2 and all(s["identical_outputs"] for s in e2e["sizes"])
    assert set(e2e["workers"]["by_workers"]) == {"1", "2"}
    halves = e2e["workers"]["independent_halves"]
    assert halves["runs"] and all(r["sequential"] > 0 < r["concurrent"] for r in halves["runs"])
    assert json.loads((tmp_path / "mask_throughput.json").read_text())["segments"] > 0
    resumed = json.loads((tmp_path / "resume.json").read_text())["resumed"]
    assert set(resumed) == {"30%", "60%", "90%"} and all(r["identical"] for r in resumed.values())
    for png in ("stages.png", "end_to_end.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
