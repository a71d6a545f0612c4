"""``benchmarks/scaling.py``: the pure parts (fits, shuffle table, the generated Markdown, merging),
the shuffle meter on a tiny Beam pipeline, and one tiny end-to-end run (DirectRunner, ~0.3 MB)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import apache_beam as beam
import pytest

from benchmarks import scaling


def _run(runner: str, mb: float, cpu: float, peak: float, **extra: Any) -> dict[str, Any]:
    return {
        "runner": runner,
        "wet_MB": mb,
        "cpu_seconds": cpu,
        "wall_seconds": cpu * 1.1,
        "peak_rss_MB": peak,
        "peak_tree_rss_MB": peak * (3 if runner == "DaskRunner" else 1),
        "input_records": int(mb * 50),
        "documents": int(mb * 30),
        "text_MB_kept": mb / 5,
        "shards_sha256": "same",
        **extra,
    }


def _direct(mb: float) -> dict[str, Any]:
    shuffles = {
        "DedupUrls/KeepOne/Group": {
            "bytes": int(mb * 1e6 * 0.9),
            "writes": 1,
            "elements": 10,
            "keys": 10,
            "max_values_per_key": 1,
        },
        "WriteC4/GatherWritten": {
            "bytes": 1000,
            "writes": 1,
            "elements": 3,
            "keys": 1,
            "max_values_per_key": 3,
        },
    }
    return _run(
        "DirectRunner",
        mb,
        4 + 0.25 * mb,
        300 + 6 * mb,
        shuffles=shuffles,
        shuffle_bytes=sum(s["bytes"] for s in shuffles.values()),
    )


RUNS = [_direct(10), _direct(40), _run("DaskRunner", 10, 20, 400), _run("DaskRunner", 40, 35, 700)]


def test_linear_fit_recovers_a_line_and_needs_two_sizes() -> None:
    fit = scaling.linear_fit([10, 40, 85], [4 + 0.25 * x for x in (10, 40, 85)])
    assert fit == {"a": pytest.approx(4), "b": pytest.approx(0.25), "r2": 1.0}
    assert scaling.linear_fit([10, 10], [1, 2]) is None


def test_fits_per_runner_and_figure() -> None:
    fits = scaling.fits(RUNS)
    assert set(fits) == {"DirectRunner", "DaskRunner"}
    assert fits["DirectRunner"]["cpu_seconds"]["b"] == pytest.approx(0.25)
    assert fits["DirectRunner"]["peak_rss_MB"]["a"] == pytest.approx(300)
    assert fits["DaskRunner"]["cpu_seconds"]["b"] == pytest.approx(0.5)
    assert "shuffle_bytes" in fits["DirectRunner"] and "shuffle_bytes" not in fits["DaskRunner"]


def test_shuffle_table_is_per_input_byte_largest_first() -> None:
    table = scaling.shuffle_table(RUNS)
    assert [row["shuffle"] for row in table] == ["DedupUrls/KeepOne/Group", "WriteC4/GatherWritten"]
    assert table[0]["bytes_per_input_byte"] == {"10": 0.9, "40": 0.9}
    assert table[1]["max_values_per_key_at_largest"] == 3 and table[1]["keys_at_largest"] == 1


def _result(runs: list[dict[str, Any]], identical: dict[str, bool]) -> dict[str, Any]:
    return {
        "command": "python benchmarks/scaling.py --sizes 10 40",
        "date_utc": "2026-11-29T12:00:00Z",
        "git": {"commit": "0123456789abcdef", "dirty": True},
        "machine": {"cpus": 2, "memory_GB": 23.5},
        "seed": 0,
        "dask_cluster": "LocalCluster, 2 worker processes x 1 thread(s)",
        "runs": runs,
        "fits": scaling.fits(runs),
        "shuffle_table": scaling.shuffle_table(runs),
        "identical_across_runners": identical,
    }


def test_markdown_holds_every_run_the_fits_and_the_shuffles() -> None:
    text = scaling.render_markdown(_result(RUNS, {"10": True, "40": True}))
    assert "python benchmarks/scaling.py --sizes 10 40" in text and "2026-11-29" in text
    assert "| DirectRunner | 10.0 | 300 | 6.5 |" in text
    assert "| DaskRunner | 40.0 | 1,200 | 35.0 |" in text and "| - | - |" in text
    assert "CPU-s = 4.0 + 0.25 x MB CPU-s (R^2 1.000)" in text
    assert "shuffled = 0.900 MB per MB of input" in text
    assert "| `DedupUrls/KeepOne/Group` | 0.9000 | 0.9000 | 36.00 | 10 | 10 | 1 |" in text
    # Not measured at 1 GB: the fit's extrapolation, labelled as such (300 + 6 x 1000 MB).
    assert "not measured here" in text and "extrapolates 6300 MB, over the target" in text
    assert "identical across runners at: 10, 40 MB." in text


def test_markdown_flags_runners_that_disagree_and_a_measured_1gb_point() -> None:
    runs = [*RUNS, _direct(1000)]
    text = scaling.render_markdown(_result(runs, {"10": False}))
    assert "DIFFERENT at 10 MB" in text
    assert "measured 6300 MB at 1000 MB, NOT met" in text


def test_merge_keeps_other_points_and_replaces_remeasured_ones(tmp_path: Path) -> None:
    previous = tmp_path / "scaling.json"
    previous.write_text(json.dumps({"runs": RUNS}))
    fresh = [_direct(40.01)]
    fresh[0]["cpu_seconds"] = 99.0
    merged = scaling._merge(previous, fresh)
    assert len(merged) == 4
    direct_40 = [r for r in merged if r["runner"] == "DirectRunner" and round(r["wet_MB"]) == 40]
    assert [r["cpu_seconds"] for r in direct_40] == [99.0]


def test_shuffle_meter_labels_each_group_by_key(monkeypatch: pytest.MonkeyPatch) -> None:
    totals = scaling.install_shuffle_meter(monkeypatch.setattr)
    with beam.Pipeline("DirectRunner") as p:
        pairs = p | beam.Create([("a", 1), ("b", 2), ("a", 3)] * 10)
        _ = pairs | "G" >> beam.GroupByKey()
        _ = pairs | "C" >> beam.CombinePerKey(sum)
    assert totals["G"]["bytes"] > 0
    assert (totals["G"]["keys"], totals["G"]["elements"], totals["G"]["max_values_per_key"]) == (
        2,
        30,
        20,
    )
    # Lifted: one accumulator per key per bundle crosses, not every value.
    assert totals["C/Group"]["elements"] == 2 and totals["C/Group"]["bytes"] < totals["G"]["bytes"]


@pytest.mark.slow
def test_tiny_series_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "scaling.json"
    argv = ["--sizes", "0.3", "--runners", "DirectRunner", "--seed", "1", "--output", str(out)]
    assert scaling.main([*argv, "--work_dir", str(tmp_path / "work")], log=lambda _: None) == 0
    result = json.loads(out.read_text())
    (run,) = result["runs"]
    assert run["runner"] == "DirectRunner" and 0.2 < run["wet_MB"] < 0.4
    assert run["documents"] > 0 and run["cpu_seconds"] > 0 and run["peak_rss_MB"] > 50
    labels = set(run["shuffles"])
    assert {"DedupUrls/KeepOne/Group", "DedupText/SmallestOwner/Group"} <= labels
    assert run["shuffle_bytes"] == sum(s["bytes"] for s in run["shuffles"].values()) > 0
    assert "| DirectRunner |" in out.with_suffix(".md").read_text()
    assert out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
