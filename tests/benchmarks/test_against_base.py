"""``benchmarks/against_base.py`` end to end on a tiny input, this tree as its own base."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import against_base

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.reference
@pytest.mark.slow
def test_against_itself_every_file_is_identical(tmp_path: Path) -> None:
    out = tmp_path / "ab.json"
    args = ["--base", str(REPO), "--sizes", "0.3", "--reps", "1", "--reference_reps", "1"]
    args += ["--startup_reps", "1", "--stage_sizes", "0.3", "--stage_reps", "1"]
    assert against_base.main([*args, "--output", str(out)]) == 0
    result = json.loads(out.read_text())
    size = result["sizes"]["0.3"]
    assert size["files_differing_from_base"] == []
    assert len(size["runs"]["head"]) == len(size["runs"]["base"]) == 1
    assert size["median_cpu_reference"] > 0
    assert all(not e["files_differing"] for e in result["startup"].values())
    stages = result["stages"]["0.3"]
    assert {"split_wet_file", "clean_page", "language", "whole core", "gzip floor"} <= set(
        stages["head"]
    )
    assert stages["reference"]["clean_page"] > 0
    table = out.with_suffix(".md").read_text()
    assert "| 0.3 |" in table and "| clean_page |" in table and "`c4 build --mask`" in table


def test_differing_names_a_file_that_changed_or_went_missing() -> None:
    sides = against_base.Sides(REPO)
    sides.digests[("x", "head")] = [{"a": "1", "b": "2"}, {"a": "1", "b": "2"}]
    sides.digests[("x", "base")] = [{"a": "1", "b": "3", "c": "4"}]
    assert sides.differing("x") == ["b", "c"]


def test_a_whole_process_only_run_has_no_start_up_or_stage_tables() -> None:
    """``--startup_reps 0 --stage_sizes`` (sizes only): the table holds just the sizes. The run
    of 2026-12-07 lost 8 minutes of measurements to a median of no start-up runs."""
    runs = {s: [{"cpu_seconds": 2.0, "peak_rss_MB": 100.0}] for s in ("base", "head")}
    runs["reference"] = [{"cpu_seconds": 40.0, "peak_rss_MB": 900.0}]
    result = {
        "base_commit": "b" * 40,
        "head_commit": "h" * 40,
        "date_utc": "2026-12-07T00:00:00Z",
        "head_dirty": False,
        "startup": {},
        "stages": {},
        "sizes": {
            "85": {
                "runs": runs,
                **{f"median_cpu_{s}": r[0]["cpu_seconds"] for s, r in runs.items()},
                **{f"median_peak_MB_{s}": r[0]["peak_rss_MB"] for s, r in runs.items()},
                "files_differing_from_base": [],
            }
        },
    }
    text = against_base.table(result)
    assert "| 85 |" in text and "start-up" not in text and "stage," not in text
