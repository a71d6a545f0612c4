"""``c4 submit`` after submission: the job's URL, then its state and counters until it ends.

It reads Beam's ``DataflowPipelineResult`` through its public methods only: ``job_id()``,
``state`` (each read asks the Dataflow service) and ``metrics().query()`` (the job's counters,
which our stages increment as Beam Metrics next to the counters they carry as data). Ctrl-C
detaches: the job keeps running on Dataflow, and the line printed says how to cancel it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

# How often the service is asked (the Dataflow API's quota is per minute and project).
POLL_SECONDS = 30.0
# Beam's PipelineState names where a job is over.
TERMINAL_STATES = frozenset({"DONE", "FAILED", "CANCELLED", "UPDATED", "DRAINED"})
# The counters a status line shows, in order, with their label.
SHOWN_COUNTERS = (
    ("split-wet-file/wet-file", "files"),
    ("input/records", "records"),
    ("input/bytes", "WET bytes"),
    ("download/failed", "downloads failed"),
)


def job_url(project: str, region: str, job_id: str) -> str:
    """The job's page in the Cloud console."""
    return f"https://console.cloud.google.com/dataflow/jobs/{region}/{job_id}?project={project}"


def cancel_command(project: str, region: str, job_id: str) -> str:
    """The command that cancels the job."""
    return f"gcloud dataflow jobs cancel {job_id} --region {region} --project {project}"


def detach_line(project: str, region: str, job_id: str) -> str:
    """What Ctrl-C prints while ``c4 submit`` follows a job."""
    return (
        f"c4 submit: detached; job {job_id} keeps running on Dataflow. To cancel it: "
        f"{cancel_command(project, region, job_id)}"
    )


def state_name(state: Any) -> str:
    """``PipelineState.RUNNING`` (an enum or a string, as runners give it) -> ``RUNNING``."""
    return str(getattr(state, "value", state)).rsplit(".", 1)[-1].upper()


def counters(result: Any) -> dict[str, int] | None:
    """``namespace/name -> value`` summed over steps; None when the service gave none."""
    try:
        found = result.metrics().query()
    except Exception:  # the metrics call failed this time: say "unknown", try again later
        return None
    out: dict[str, int] = {}
    for item in found.get("counters", []):
        metric = item.key.metric
        value = item.committed if item.committed is not None else item.attempted
        if value is None:
            continue
        name = f"{metric.namespace}/{metric.name}"
        out[name] = out.get(name, 0) + int(value)
    return out


def status_line(state: str, values: Mapping[str, int] | None, elapsed_s: float) -> str:
    """``c4 submit: 0:12:03 RUNNING | files 12 | records 3,456`` (what is known, no more)."""
    minutes, seconds = divmod(int(elapsed_s), 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"c4 submit: {hours}:{minutes:02d}:{seconds:02d} {state}"]
    if values is None:
        parts.append("counters unavailable")
    else:
        shown = [f"{label} {values[name]:,}" for name, label in SHOWN_COUNTERS if name in values]
        parts += shown or ["no counters yet"]
    return " | ".join(parts)


def follow(
    result: Any,
    project: str,
    region: str,
    interval_s: float = POLL_SECONDS,
    write: Callable[[str], None] = print,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Print the job's URL, then its state and counters every ``interval_s`` until it ends.

    Returns:
        0 when the job is DONE, 1 when it ended otherwise, 130 when Ctrl-C detached.
    """
    from pipeline.command import INTERRUPTED, set_interrupt_line

    job_id = result.job_id()
    detach = detach_line(project, region, job_id)
    set_interrupt_line(detach)  # under pipeline.command.interrupt_exits: Ctrl-C prints this
    where = (project, region, job_id)
    write(f"c4 submit: job {job_id} submitted: {job_url(*where)}")
    write(f"c4 submit: following it; Ctrl-C detaches (to cancel: {cancel_command(*where)})")
    started = clock()
    try:
        while True:
            state = state_name(result.state)
            write(status_line(state, counters(result), clock() - started))
            if state in TERMINAL_STATES:
                break
            sleep(interval_s)
    except KeyboardInterrupt:
        write(detach)
        return INTERRUPTED
    if state == "DONE":
        write(f"c4 submit: job {job_id} done")
        return 0
    write(f"c4 submit: job {job_id} ended {state}; see {job_url(project, region, job_id)}")
    return 1
