"""A dask worker process killed mid-build: dask runs its tasks again, and the output is
byte-identical to the DirectRunner's.

``c4 build --runner DaskRunner`` starts its own local cluster (``pipeline/runners/dask_worker.py``:
a process of its own running a LocalCluster of two single-threaded worker *processes*). Once
the build is under way (a worker has read some input files and the others are still being
read) the test SIGKILLs that worker, as an OOM kill would: every task it was running and every
result it held is lost. Dask's nanny starts a new worker, the scheduler runs the lost tasks
again (from their inputs; ours have no side effect but their output files, written atomically),
and the build must end as if nothing happened.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from pipeline.runners.dask_worker import is_worker
from tests.conftest import REAL_WET, output_tree

BIG = max(REAL_WET, key=lambda p: p.stat().st_size)
FILES = 24
C4 = [sys.executable, "-m", "pipeline.cli", "build"]
TIMEOUT_S = 600


def _files(root: Path) -> dict[str, bytes]:
    return {
        rel: path.read_bytes()
        for rel, path in output_tree(root).items()
        if path.name not in ("config.json", "run.json")  # they name the runner
    }


def _workers(c4: psutil.Process) -> list[psutil.Process]:
    """The dask worker processes below the ``c4`` process."""
    found = []
    for proc in c4.children(recursive=True):
        try:
            parent = proc.parent()
            line, above = " ".join(proc.cmdline()), " ".join(parent.cmdline()) if parent else ""
        except psutil.Error:
            continue
        if is_worker(line, above):
            found.append(proc)
    return found


def _reports(tmp: Path) -> dict[int, dict]:
    """What each process of the build reported (``pipeline/runners/progress.py``), by pid."""
    out = {}
    for path in tmp.glob("c4-progress-*/*.json"):
        try:
            out[int(path.stem)] = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
    return out


@pytest.mark.slow
def test_a_killed_worker_changes_nothing(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    inputs = [str(BIG)] * FILES
    direct = subprocess.run(
        [*C4, "--input", *inputs, "--output", str(tmp_path / "direct")],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert direct.returncode == 0, direct.stderr[-3000:]

    # A TMPDIR of its own, to find the progress reports in; short, as a user's: under a long one
    # the cluster spawns its workers instead of forking them (dask_worker.main).
    progress_tmp = Path(tempfile.mkdtemp(prefix="c4-kill-"))
    request.addfinalizer(lambda: shutil.rmtree(progress_tmp, ignore_errors=True))
    build = subprocess.Popen(
        [*C4, "--input", *inputs, "--output", str(tmp_path / "dask"), "--runner", "DaskRunner"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "TMPDIR": str(progress_tmp), "C4_PROGRESS_INTERVAL": "3600"},
    )
    c4 = psutil.Process(build.pid)
    deadline = time.monotonic() + TIMEOUT_S
    victim = None
    while victim is None:
        if build.poll() is not None:
            stderr = build.stderr.read().decode() if build.stderr else ""
            raise AssertionError(f"the build ended before a worker was killed:\n{stderr[-3000:]}")
        assert time.monotonic() < deadline
        workers = {p.pid: p for p in _workers(c4)}
        reports = _reports(progress_tmp)
        read = sum(r.get("files", 0) for r in reports.values())
        busy = [pid for pid in workers if reports.get(pid, {}).get("files", 0) > 0]
        if busy and 0 < read < FILES:  # it holds results, and reading goes on
            victim = workers[busy[0]]
            victim.send_signal(signal.SIGKILL)
        time.sleep(0.02)
    killed_at_read, before = read, set(workers)

    # The nanny starts another worker in its place, and the build goes on to the end.
    replaced = False
    while build.poll() is None:
        assert time.monotonic() < deadline, "the build did not end after the kill"
        replaced = replaced or any(p.pid not in before for p in _workers(c4))
        time.sleep(0.05)
    stderr = build.stderr.read().decode() if build.stderr else ""
    assert build.returncode == 0, stderr[-3000:]
    assert 0 < killed_at_read < FILES
    assert replaced, "no worker took the killed one's place"

    dask, reference = _files(tmp_path / "dask"), _files(tmp_path / "direct")
    assert sorted(dask) == sorted(reference)
    assert [rel for rel in reference if dask[rel] != reference[rel]] == []
