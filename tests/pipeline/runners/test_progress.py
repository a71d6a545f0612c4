"""Issue 16, item 2: a run you can watch, honest about what is known.

The workers report through ``pipeline.runners.progress`` (files, records, compressed bytes, the
transforms they run), the ``c4`` process shows one line per interval (``pipeline.runners.display``):
the stage, input files and bytes read of the total, elapsed time, an ETA only where it can be
computed; in place on a terminal, a plain line otherwise. It changes no output byte.
"""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.runners import display, progress
from tests.conftest import REAL_WET, output_tree

BIG = max(REAL_WET, key=lambda p: p.stat().st_size)  # 0.77 MB, 262 records
C4 = [sys.executable, "-m", "pipeline.cli"]
LINE = re.compile(r"^c4 build: \d+:\d\d:\d\d( \| .*)?$")


@pytest.fixture
def channel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "progress"
    directory.mkdir()
    monkeypatch.setenv(progress.ENV_DIR, str(directory))
    monkeypatch.setattr(progress, "WRITE_EVERY_S", 0.0)
    progress.note_stages(0)  # a DirectRunner run earlier in this process left its stages noted
    return directory


def test_reports_of_every_process_are_summed(channel: Path) -> None:
    progress.file_position("0", 100)
    assert progress.file_done("1", records=7, size=1_000)
    with progress.running("ReadWet/Parse"):
        pid = os.fork()
        if pid == 0:  # a worker process: its own file, its own totals
            progress.file_done("2", records=5, size=500)
            progress.flush()
            os._exit(0)
        os.waitpid(pid, 0)
        totals = progress.read_totals(str(channel))
    assert (totals.processes, totals.files, totals.records) == (2, 2, 12)
    assert totals.bytes == 1_000 + 500 + 100  # finished files, and the position in one
    assert totals.running == {"ReadWet/Parse"}
    assert progress.read_totals(str(channel)).running == set()


def test_without_a_watcher_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(progress.ENV_DIR, raising=False)
    assert not progress.file_done("0", 1, 1)
    progress.flush()
    assert list(tmp_path.iterdir()) == []


def test_fused_stage_names_give_the_top_level_transforms() -> None:
    name = (
        "(((((ReadWet/Spread/ReshufflePerKey/GroupByKey/Read)+(ref_AppliedPTransform_ReadWet-"
        "Spread-RemoveRandomKeys_14))+(ref_AppliedPTransform_ReadWet-Parse_15))+"
        "(ref_AppliedPTransform_FilterLength-Decide_17))+(ref_AppliedPTransform_Report_23))+"
        "(DedupUrls/KeepOne/Group/Write)"
    )
    assert progress.stage_labels(name) == ["ReadWet", "FilterLength", "Report", "DedupUrls"]


def _display(channel: Path, sizes: list[int | None], now: list[float]) -> display.Display:
    return display.Display("c4 build", sizes, str(channel), sys.stderr, clock=lambda: now[0])


def test_the_line_says_what_is_known_and_no_more(channel: Path) -> None:
    now = [0.0]
    shown = _display(channel, [1_000_000, 3_000_000], now)
    assert shown.line() == "c4 build: 0:00:00 | read 0/2 files, 0.0/4.0 MB (0%), 0 records"
    progress.file_done("0", 262, 1_000_000)
    now[0] = 10.0
    # The first bytes seen: no rate yet, so no ETA.
    assert shown.line() == ("c4 build: 0:00:10 | read 1/2 files, 1.0/4.0 MB (25%), 262 records")
    progress.file_position("1", 1_000_000)
    now[0] = 20.0
    assert shown.line() == (
        "c4 build: 0:00:20 | read 1/2 files, 2.0/4.0 MB (50%), 262 records, read ETA 0:00:20"
    )
    progress.file_done("1", 10, 3_000_000)
    progress.note_stages(12)
    progress.note_stage("(DedupUrls/KeepOne/Group/Read)+(ref_AppliedPTransform_DedupUrls-S_2)")
    try:
        assert shown.line() == (
            "c4 build: 0:00:20 | stage 1/12: DedupUrls | read 2/2 files, 4.0/4.0 MB (100%), "
            "272 records, read done"
        )
    finally:
        progress.note_stages(0)


def test_unknown_sizes_give_no_total_and_no_eta(channel: Path) -> None:
    now = [5.0]
    shown = _display(channel, [None, 2_000_000], now)
    progress.file_done("0", 3, 1_500_000)
    now[0] = 50.0
    assert shown.line() == (
        "c4 build: 0:00:45 | read 1/2 files, 1.5 MB (sizes of 1 remote files unknown), 3 records"
    )


def test_dask_workers_report_what_they_run(channel: Path) -> None:
    shown = display.Display("c4 build", None, str(channel), sys.stderr)
    with progress.running("CleanPages/Decide"), progress.running("ReadWet/Parse"):
        assert shown.line().endswith(" | running: CleanPages, ReadWet")


def _build(out: Path, interval: str, *extra: str, files: int = 30) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*C4, "build", "--input", *[str(BIG)] * files, "--output", str(out), *extra],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, display.ENV_INTERVAL: interval},
    )


def _progress_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("c4 build: ")]


@pytest.mark.slow
@pytest.mark.parametrize("runner", ["DirectRunner", "DaskRunner"])
def test_a_build_shows_plain_lines_when_not_on_a_terminal(tmp_path: Path, runner: str) -> None:
    """Before: one log line per worker naming one file (``1 files, 10 records`` of a 3-file
    build). Now a line per interval: stage, files and bytes of the total, records."""
    n = 30 if runner == "DirectRunner" else 4  # the DaskRunner is ~10x slower here
    done = _build(tmp_path / "out", "0.1", "--runner", runner, files=n)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = _progress_lines(done.stderr)
    assert lines and all(LINE.match(line) for line in lines), lines
    assert "\r" not in done.stderr and "done in this worker" not in done.stderr
    files = [int(m.group(1)) for m in map(re.compile(rf"read (\d+)/{n} files").search, lines) if m]
    assert files == sorted(files) and files[-1] == n, lines
    total_mb = f"{n * BIG.stat().st_size / 1e6:,.1f}"
    assert any(f"/{total_mb} MB (100%)" in line and "read done" in line for line in lines)
    if runner == "DirectRunner":
        assert any(re.search(r"\| stage \d+/\d+: ReadWet", line) for line in lines), lines
    else:
        assert any("| running: " in line for line in lines), lines


@pytest.mark.slow
def test_on_a_terminal_the_line_is_redrawn_in_place(tmp_path: Path) -> None:
    main, worker = pty.openpty()
    proc = subprocess.Popen(
        [*C4, "build", "--input", *[str(BIG)] * 10, "--output", str(tmp_path / "out")],
        stdout=subprocess.DEVNULL,
        stderr=worker,
        env={**os.environ, display.ENV_INTERVAL: "0.1"},
    )
    os.close(worker)
    seen = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    assert proc.wait(timeout=600) == 0
    text = seen.decode()
    assert "\rc4 build: 0:00:" in text and "\x1b[K" in text
    assert text.count("\rc4 build: ") > text.count("\nc4 build: 0:")


@pytest.mark.slow
def test_progress_changes_no_output_byte(tmp_path: Path) -> None:
    watched = _build(tmp_path / "watched", "0.02", files=12)
    unwatched = _build(tmp_path / "unwatched", "0", files=12)
    assert watched.returncode == unwatched.returncode == 0
    assert _progress_lines(watched.stderr) and not _progress_lines(unwatched.stderr)

    def tree(root: Path) -> dict[str, bytes]:
        return {rel: p.read_bytes() for rel, p in output_tree(root).items()}

    a, b = tree(tmp_path / "watched"), tree(tmp_path / "unwatched")
    for timed in ("config.json", "run.json"):  # the output path; wall and CPU times
        a.pop(timed, None), b.pop(timed, None)
    assert a == b
