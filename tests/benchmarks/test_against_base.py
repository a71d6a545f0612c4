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
