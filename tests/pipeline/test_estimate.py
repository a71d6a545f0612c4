"""``c4 estimate``: the documented formula on known inputs, the real benchmark results, and usage
errors (one line naming the flag, exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from filters.spec import UsageError
from pipeline import estimate as est
from pipeline.cli import main


def _result(path: Path, wet_mb: float, rate: float, stages: dict[str, float]) -> Path:
    path.write_text(
        json.dumps(
            {
                "input": {"wet_MB": wet_mb},
                "ours": {"MB_per_cpu_second": rate, "stage_cpu_seconds_median": stages},
            }
        )
    )
    return path


@pytest.fixture
def results(tmp_path: Path) -> Path:
    _result(tmp_path / "clean_throughput.json", 10.0, 10.0, {"clean_page": 0.6, "parse": 0.4})
    _result(tmp_path / "clean_throughput_big.json", 20.0, 20.0, {"clean_page": 1.0})
    (tmp_path / "other.json").write_text("{}")  # not a throughput result: ignored
    return tmp_path


def test_formula_on_known_inputs(results: Path) -> None:
    throughputs = est.load_throughputs(results)
    assert [t.source for t in throughputs] == ["clean_throughput.json", "clean_throughput_big.json"]
    e = est.estimate("X", 100, throughputs, "n1-standard-4", wet_tb=1.0, beam_overhead=2.0)
    assert e.throughput.mb_per_cpu_second == 10.0  # the slowest result
    assert e.wet_tb_decompressed == pytest.approx(est.DECOMPRESSION_RATIO)
    core_s = est.DECOMPRESSION_RATIO * 1e6 / 10.0
    assert e.core_cpu_days == pytest.approx(core_s / 86400)
    assert e.cpu_days == pytest.approx(2 * core_s / 86400)
    assert e.wall_hours == pytest.approx(2 * core_s / (100 * 4) / 3600)
    per_worker_hour = 4 * est.VCPU_HOUR + 15.0 * est.GB_HOUR + est.DISK_GB * est.PD_GB_HOUR
    assert e.worker_cost_usd == pytest.approx(100 * e.wall_hours * per_worker_hour)
    shuffle_tb = est.DECOMPRESSION_RATIO * est.SHUFFLE_PER_INPUT_BYTE
    assert e.shuffle_cost_usd == pytest.approx(shuffle_tb * 1000 * est.SHUFFLE_GB)
    assert e.total_cost_usd == pytest.approx(e.worker_cost_usd + e.shuffle_cost_usd)
    assert e.tfds_hours_at_same_workers == pytest.approx(16.0 * 500 / 100)
    assert e.throughput.stage_seconds_per_mb == {"clean_page": 0.06, "parse": 0.04}


def test_doubling_workers_halves_time_not_cost(results: Path) -> None:
    t = est.load_throughputs(results)
    a = est.estimate("CC-MAIN-2019-18", 100, t)
    b = est.estimate("CC-MAIN-2019-18", 200, t)
    assert b.wall_hours == pytest.approx(a.wall_hours / 2)
    assert b.total_cost_usd == pytest.approx(a.total_cost_usd)


def test_real_benchmark_results_give_a_full_build_next_to_tfds() -> None:
    throughputs = est.load_throughputs(est.RESULTS_DIR)
    assert throughputs, "benchmarks/results/clean_throughput*.json missing"
    e = est.estimate("CC-MAIN-2019-18", 500, throughputs)
    assert e.wet_tb_compressed == 6.96
    # Sanity bounds, not a target: a per-core core of 1-100 MB/s and TFDS's 335 CPU-days.
    assert 1 < e.throughput.mb_per_cpu_second < 100
    assert 0 < e.cpu_days < est.TFDS_CPU_DAYS
    text = est.format_estimate(e)
    for needed in ("CC-MAIN-2019-18", "500 x n1-standard-2", "TFDS: ~335 CPU-days", "16 h", "$"):
        assert needed in text


def test_cli_prints_the_estimate(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["estimate", "--crawl", "CC-MAIN-2019-18", "--workers", "500"]
    assert main([*argv, "--machine_type", "n2-standard-4"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("c4 estimate: CC-MAIN-2019-18, 500 x n2-standard-4")
    assert "decompressed" in out and "clean_page" in out


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--workers", "5"], "--crawl"),
        (["--crawl", "CC-MAIN-2019-18"], "--workers"),
        (["--crawl", "CC-MAIN-2019-18", "--workers", "0"], "--workers"),
        (["--crawl", "CC-MAIN-2019-18", "--workers", "many"], "--workers"),
        (["--crawl", "CC-MAIN-2031-01", "--workers", "5"], "--crawl"),
        (
            ["--crawl", "CC-MAIN-2019-18", "--workers", "5", "--machine_type", "x1"],
            "--machine_type",
        ),
        (["--crawl", "CC-MAIN-2019-18", "--workers", "5", "--wet_tb", "-1"], "--wet_tb"),
        (
            ["--crawl", "CC-MAIN-2019-18", "--workers", "5", "--results", "/nonexistent"],
            "--results",
        ),
    ],
)
def test_usage_errors_are_one_line_naming_the_flag(
    capsys: pytest.CaptureFixture[str], argv: list[str], flag: str
) -> None:
    assert main(["estimate", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and flag in err, err


def test_unknown_crawl_with_its_size_is_estimated(results: Path) -> None:
    e = est.estimate("CC-MAIN-2031-01", 10, est.load_throughputs(results), wet_tb=8.0)
    assert e.wet_tb_compressed == 8.0


def test_broken_result_file_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "clean_throughput.json").write_text("{not json")
    with pytest.raises(UsageError, match="--results"):
        est.load_throughputs(tmp_path)
