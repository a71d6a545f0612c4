"""``DIR/run.json``: the facts of one run, which vary from run to run (the report links to it).

``report.html`` depends only on the data and the configuration; how the run went does not:
runner and its options, host, wall and CPU time, throughput, when. ``c4 build`` writes them here
when its pipeline has finished (a Dataflow job launched by ``c4 submit`` is not waited for, so it
has none: its metrics are in the Dataflow console).
"""

from __future__ import annotations

import os
import platform
import resource
import time
from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.report.store import RUN_JSON, read_json, write_json
from pipeline.write import join


def cpu_seconds() -> float:
    """User + system CPU of this process and of the child processes it has waited for (SDK
    worker processes, when they are done)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_facts(
    runner: str, beam_args: Sequence[str], wall_seconds: float, stats: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The content of ``run.json`` for a run that took ``wall_seconds``."""
    cpu = cpu_seconds()
    facts: dict[str, Any] = {
        "runner": runner,
        "beam_args": list(beam_args),
        "host": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "wall_seconds": round(wall_seconds, 3),
        "cpu_seconds": round(cpu, 3),
        "cpu_seconds_is": "user + system of c4 build and the worker processes it waited for",
    }
    if stats:
        records = int(stats["reconciliation"]["input_records"])
        wet_bytes = int(stats.get("counters", {}).get("input/bytes", 0))
        facts["input_records"] = records
        facts["wet_bytes"] = wet_bytes
        if wall_seconds > 0:
            facts["throughput"] = {
                "wet_MB_per_wall_second": round(wet_bytes / 1e6 / wall_seconds, 3),
                "records_per_wall_second": round(records / wall_seconds, 1),
                "wet_MB_per_cpu_second": round(wet_bytes / 1e6 / cpu, 3) if cpu else None,
            }
    return facts


def write_run_json(
    output_dir: str,
    runner: str,
    beam_args: Sequence[str],
    wall_seconds: float,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Write ``DIR/run.json`` for the run that just finished; ``extra``: more facts of it (what
    a ``--resumable`` build reused)."""
    stats = read_json(join(output_dir, "stats.json"))
    facts = run_facts(runner, beam_args, wall_seconds, stats)
    write_json(join(output_dir, RUN_JSON), {**facts, **(extra or {})})
