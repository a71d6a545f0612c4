"""``c4 estimate``: the documented formula on known inputs, the real benchmark results, and usage
errors (one line naming the flag, exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from filters.spec import UsageError
from pipeline.cli import main
from pipeline.cloud import estimate as est


def _result(
    path: Path, wet_mb: float, rate: float, stages: dict[str, float], corpus_mb: float | None = None
) -> Path:
    path.write_text(
        json.dumps(
            {
                "input": {"wet_MB": wet_mb, "synthetic_corpus_mb": corpus_mb},
                "ours": {"MB_per_cpu_second": rate, "stage_cpu_seconds_median": stages},
            }
        )
    )
    return path


def _end_to_end(results: Path, per_mb: float) -> None:
    fit = {"ours": {"per_MB": per_mb, "intercept": 3.8, "r2": 0.99}}
    (results / "end_to_end.json").write_text(json.dumps({"fit_cpu_seconds": fit}))


def _scaling(results: Path, bytes_per_mb: float) -> None:
    runs = [{"runner": "DirectRunner", "wet_MB": mb, "shuffle_bytes": 1} for mb in (10.0, 85.0)]
    fits = {"DirectRunner": {"shuffle_bytes": {"a": 0.0, "b": bytes_per_mb, "r2": 1.0}}}
    (results / "scaling.json").write_text(json.dumps({"runs": runs, "fits": fits}))


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


def test_beam_overhead_is_measured_from_end_to_end_against_a_like_core(results: Path) -> None:
    _result(results / "clean_throughput_corpus.json", 20.0, 12.5, {"clean_page": 1.0}, 20.0)
    _end_to_end(results, per_mb=0.25)
    throughputs = est.load_throughputs(results)
    figure = est.read_beam_overhead(results, throughputs)
    # 0.25 CPU-s/MB for the whole build over 0.08 for the core on a synthetic corpus (12.5 MB/s),
    # not over the slowest result (10 MB/s, real files).
    assert figure.value == pytest.approx(3.12, abs=0.01)
    assert figure.source.startswith("measured") and "clean_throughput_corpus.json" in figure.source
    e = est.estimate("CC-MAIN-2019-18", 10, throughputs, beam_overhead=figure)
    assert e.beam_overhead == figure.value and e.beam_overhead_source == figure.source
    assert e.throughput.mb_per_cpu_second == 10.0  # the CPU still starts from the slowest core


def test_shuffle_volume_is_measured_from_scaling(results: Path) -> None:
    _scaling(results, bytes_per_mb=700_000.0)
    figure = est.read_shuffle_ratio(results)
    assert figure.value == pytest.approx(0.7)
    assert "scaling.json" in figure.source and "10-85 MB" in figure.source
    e = est.estimate(
        "X", 10, est.load_throughputs(results), wet_tb=1.0, shuffle_per_input_byte=figure
    )
    assert e.shuffle_tb == pytest.approx(est.DECOMPRESSION_RATIO * 0.7)


def test_missing_optional_results_fall_back_to_named_assumptions(results: Path) -> None:
    throughputs = est.load_throughputs(results)
    overhead = est.read_beam_overhead(results, throughputs)
    shuffle = est.read_shuffle_ratio(results)
    assert (overhead.value, shuffle.value) == (est.BEAM_OVERHEAD, est.SHUFFLE_PER_INPUT_BYTE)
    assert "end_to_end.json missing" in overhead.source and "scaling.json missing" in shuffle.source


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("end_to_end.json", "{not json"),
        ("end_to_end.json", '{"fit_cpu_seconds": {}}'),
        ("scaling.json", '{"fits": {"DaskRunner": {}}, "runs": []}'),
    ],
)
def test_broken_optional_result_is_a_usage_error(results: Path, name: str, content: str) -> None:
    (results / name).write_text(content)
    throughputs = est.load_throughputs(results)
    with pytest.raises(UsageError, match="--results") as info:
        est.read_beam_overhead(results, throughputs)
        est.read_shuffle_ratio(results)
    assert name in str(info.value)


def test_cli_names_the_source_of_every_figure(
    results: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _end_to_end(results, per_mb=0.3)
    _scaling(results, bytes_per_mb=650_000.0)
    argv = ["estimate", "--crawl", "CC-MAIN-2019-18", "--workers", "500", "--results", str(results)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    # No synthetic-corpus result here: the core of the largest input (20 MB at 20 MB/s).
    assert "Beam 6x the core (measured: c4 build on the DirectRunner 0.300 CPU-s/MB" in out
    assert "0.65 bytes per input byte" in out and "(measured: scaling.json" in out
    assert main([*argv, "--beam_overhead", "2"]) == 0
    assert "Beam 2x the core (--beam_overhead)" in capsys.readouterr().out


def test_real_results_give_a_measured_overhead() -> None:
    throughputs = est.load_throughputs(est.RESULTS_DIR)
    figure = est.read_beam_overhead(est.RESULTS_DIR, throughputs)
    assert figure.source.startswith("measured"), "benchmarks/results/end_to_end.json missing"
    assert 1 <= figure.value < 10
