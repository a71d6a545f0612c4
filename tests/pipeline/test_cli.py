"""The ``c4`` command: usage errors (one line, exit 2, before any work), a run, a failed run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.cli import main
from tests.conftest import REAL_WET

C4 = [sys.executable, "-m", "pipeline.cli"]


def _usage_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["build", "--config", "en.noclean", "--c4_version", "1.0.0"], "--c4_version"),
        (["build", "--config", "nope"], "--config"),
        (["build", "--input", "/nonexistent/*.wet.gz"], "--input"),
        (["build", "--language_detector", "fasttext"], "--language_detector"),
        (["build", "--num_shards", "0"], "--num_shards"),
        (["build", "--num_shards", "many"], "--num_shards"),
        (["build", "--runner", "NoSuchRunner"], "--runner"),
    ],
)
def test_usage_errors_are_one_line_naming_the_flag(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], flag: str
) -> None:
    out = tmp_path / "out"
    err = _usage_error(capsys, [*argv, "--output", str(out)])
    assert flag in err
    assert not out.exists(), "a usage error must stop before any work"


def test_output_holding_another_version_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "c4" / "en" / "2.2.0").mkdir(parents=True)
    err = _usage_error(capsys, ["build", "--output", str(tmp_path)])
    assert err.startswith("c4 build: --output:")


@pytest.mark.parametrize("command", ["trace", "forget"])
def test_trace_and_forget_need_a_dir(capsys: pytest.CaptureFixture[str], command: str) -> None:
    assert main([command]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"c4 {command}:") and "DIR" in err and len(err.splitlines()) == 1


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert main(["frobnicate"]) == 2


@pytest.mark.slow
def test_build_runs_and_an_unwritable_output_is_refused_at_launch(tmp_path: Path) -> None:
    out = tmp_path / "out"
    ok = subprocess.run(
        [*C4, "build", "--input", str(REAL_WET[1]), "--output", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "C4_PROGRESS_INTERVAL": "0.05"},
    )
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert "balanced" in ok.stdout
    stats = json.loads((out / "stats.json").read_text())
    assert stats["reconciliation"]["balanced"]
    assert "| read " in ok.stderr  # the progress display (pipeline/runners/display.py)
    assert "bson" not in ok.stderr  # pipeline/runners/startup.py declined MongoDB IO quietly

    # An output directory that cannot be created: refused at launch (issue 16), not after the
    # work; a run that fails is tests/pipeline/io/test_gcs_launch_checks.py's.
    bad = subprocess.run(
        [*C4, "build", "--input", str(REAL_WET[1]), "--output", "/proc/c4-cannot-write"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2, bad.stderr[-2000:]
    assert bad.stderr.startswith("c4 build: --output: cannot write in /proc/c4-cannot-write")
    assert bad.stderr.count("\n") == 1


def test_the_same_flags_are_beam_pipeline_options() -> None:
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline.options import C4Options

    opts = PipelineOptions(
        ["--input", "a.wet.gz", "b.wet.gz", "--c4_version", "2.2.0", "--direct_num_workers", "2"]
    ).view_as(C4Options)
    assert opts.input == ["a.wet.gz", "b.wet.gz"]
    assert (opts.config, opts.c4_version, opts.num_shards) == ("en", "2.2.0", None)
