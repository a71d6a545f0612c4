"""pipeline/runners/forked_workers.py: with two multi-processing workers, a single-threaded process
forks them (they run the DoFns with the parent's modules, and are reaped); unused ones exit when
released; a process with other threads starts them as new processes (test_direct.py).

Each case runs in a script of its own: a test runner has threads, so it never forks.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]

PIPELINE_SCRIPT = """
import json, os, sys
from pipeline.runners.startup import import_beam
import_beam()
import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from pipeline.runners.direct import C4DirectRunner

def facts(x):
    return (x, os.getppid(), os.path.basename(sys.argv[0]), os.getpid())

workers = ["--direct_num_workers", "2", "--direct_running_mode", "multi_processing"]
options = PipelineOptions(workers)
with beam.Pipeline(runner=C4DirectRunner(), options=options) as p:
    got = p | beam.Create(list(range(6))) | beam.Reshuffle() | beam.Map(facts)
    got | beam.combiners.ToList() | beam.Map(lambda rows: print(json.dumps(sorted(rows))))
try:
    os.waitpid(-1, os.WNOHANG)
    children_left = True
except ChildProcessError:
    children_left = False
print(json.dumps({"parent": os.getpid(), "children_left": children_left}))
"""

RELEASE_SCRIPT = """
import json, os
from pipeline.runners.startup import import_beam
import_beam()
from pipeline.runners import forked_workers

forked = forked_workers.fork_workers(2)
taken = forked_workers.take()
forked_workers.release_unused()  # the one not taken
os.close(taken.pipe)  # as a runner's hand-over would, with nothing: the child exits 0
_, status = os.waitpid(taken.pid, 0)
try:
    os.waitpid(-1, os.WNOHANG)
    children_left = True
except ChildProcessError:
    children_left = False
print(json.dumps({"forked": forked, "taken_exit": os.waitstatus_to_exitcode(status),
                  "children_left": children_left}))
"""


def _run(script: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()


@pytest.mark.slow
def test_a_single_threaded_process_forks_its_two_workers_and_reaps_them() -> None:
    *rows_lines, summary_line = _run(PIPELINE_SCRIPT)
    rows = json.loads(rows_lines[-1])
    summary = json.loads(summary_line)
    assert [r[0] for r in rows] == list(range(6))
    # Forked: the children of this process, still running its program ("-c"), not sdk_worker.py.
    assert {r[1] for r in rows} == {summary["parent"]}
    assert {r[2] for r in rows} == {"-c"}
    assert len({r[3] for r in rows}) <= 2
    assert summary["children_left"] is False


def test_unused_forked_workers_exit_when_released() -> None:
    (line,) = _run(RELEASE_SCRIPT)
    assert json.loads(line) == {"forked": 2, "taken_exit": 0, "children_left": False}
