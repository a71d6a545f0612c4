"""Same input and config -> byte-identical output on every runner we support.

The whole ``build_pipeline`` (stages and sinks) runs on the DirectRunner in memory, on the
DirectRunner with two worker processes (started as new processes in the test, forked by ``c4
build``), and on ``C4DaskRunner`` over a local dask.distributed cluster (threads, then
processes); every output file (``report.html`` too) but ``config.json`` (which records the
runner) and ``run.json`` (the run's facts, written by ``c4 build``) must be
byte-identical, and the documents must equal the in-memory run's.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.build import build_pipeline
from pipeline.config import make_build_config
from pipeline.runners.dask import C4DaskRunner
from tests.conftest import REAL_WET, TWO_WORKERS, output_tree

INPUTS = [str(p) for p in REAL_WET if "excerpt-262" in p.name or "excerpt-25" in p.name]


def _files(root: Path) -> dict[str, bytes]:
    return {
        rel: p.read_bytes()
        for rel, p in output_tree(root).items()
        if p.name not in ("config.json", "run.json")
    }


def _build(out: Path, runner: Any, options: list[str]) -> dict[str, bytes]:
    config = make_build_config(INPUTS, str(out), runner=type(runner).__name__)
    p = beam.Pipeline(runner=runner, options=PipelineOptions(options))
    build_pipeline(p, config)
    p.run().wait_until_finish()
    return _files(out)


# A process-based LocalCluster spawns workers that re-import ``__main__``; under pytest that
# hangs, so that run is a script of its own.
DASK_PROCESSES_SCRIPT = """
import sys
import apache_beam as beam
import dask.distributed as dd
from apache_beam.options.pipeline_options import PipelineOptions
from pipeline.build import build_pipeline
from pipeline.config import make_build_config
from pipeline.runners.dask import C4DaskRunner

if __name__ == "__main__":
    out, inputs = sys.argv[1], sys.argv[2:]
    with dd.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                         dashboard_address=None) as cluster:
        config = make_build_config(inputs, out, runner="C4DaskRunner")
        options = PipelineOptions(["--dask_client_address", cluster.scheduler_address])
        p = beam.Pipeline(runner=C4DaskRunner(), options=options)
        build_pipeline(p, config)
        p.run().wait_until_finish()
"""


def _build_on_dask_processes(out: Path, tmp: Path) -> dict[str, bytes]:
    script = tmp / "dask_processes.py"
    script.write_text(DASK_PROCESSES_SCRIPT)
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(repo)}
    done = subprocess.run(
        [sys.executable, str(script), str(out), *INPUTS],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=repo,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return _files(out)


def _build_with_c4_forked_workers(out: Path) -> dict[str, bytes]:
    """``c4 build`` with two worker processes, which it forks
    (``pipeline/runners/forked_workers.py``)."""
    repo = Path(__file__).resolve().parents[2]
    command = [sys.executable, "-m", "pipeline.cli", "build", "--input", *INPUTS]
    done = subprocess.run(
        [*command, "--output", str(out), *TWO_WORKERS],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=repo,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "2 SDK worker(s) forked from this process" in done.stderr
    return _files(out)


@pytest.mark.slow
def test_every_runner_writes_the_same_bytes(tmp_path: Path, dask_threads: str) -> None:
    assert len(INPUTS) == 2
    direct = beam.runners.DirectRunner
    reference = _build(tmp_path / "in_memory", direct(), ["--direct_running_mode", "in_memory"])
    assert any(name.endswith(".parquet") for name in reference)
    assert "stats.json" in reference
    assert "report.html" in reference and "report/aggregates.json" in reference
    runs = {
        "multi_processing": (direct(), list(TWO_WORKERS)),
        "dask_threads": (C4DaskRunner(), ["--dask_client_address", dask_threads]),
        "dask_processes": None,
        "c4_forked_workers": None,
    }
    for name, run in runs.items():
        if name == "c4_forked_workers":
            got = _build_with_c4_forked_workers(tmp_path / name)
        elif run is None:
            got = _build_on_dask_processes(tmp_path / name, tmp_path)
        else:
            got = _build(tmp_path / name, *run)
        assert sorted(got) == sorted(reference), name
        differ = [f for f in reference if got[f] != reference[f]]
        assert not differ, f"{name}: {differ}"
