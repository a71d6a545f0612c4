"""``c4 submit`` follows its Dataflow job: URL, state and counters until it ends; Ctrl-C detaches.

No Dataflow runs offline, so the job is a stand-in implementing the methods of Beam's
``DataflowPipelineResult`` that ``pipeline/cloud/monitor.py`` calls (``job_id()``, ``state``,
``metrics().query()``), returning what Beam's own classes hold (``PipelineState`` values,
``MetricResult``s with ``MetricKey``s): the one stand-in of the suite, since no Dataflow exists
here.

Private Beam APIs (docs/runners.md; ``pipeline.runners.PATCHED_BEAM_VERSION``):

- ``apache_beam.runners.dataflow.dataflow_runner.DataflowPipelineResult``: the stand-in is
  checked to have the methods of the result it stands for;
- ``apache_beam.metrics.execution.MetricKey`` and ``apache_beam.metrics.metricbase.MetricName``:
  the counters are built as Beam's ``DataflowMetrics.query`` builds them.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from apache_beam.metrics.execution import MetricKey
from apache_beam.metrics.metric import MetricResults
from apache_beam.metrics.metricbase import MetricName
from apache_beam.runners.dataflow.dataflow_runner import DataflowPipelineResult
from apache_beam.runners.runner import PipelineState

from pipeline.cloud import monitor

PROJECT, REGION, JOB = "my-project-123", "us-central1", "2026-12-06_01_02_03-123456789"


class _Metrics:
    def __init__(self, counters: list[Any] | None, fail: bool = False) -> None:
        self.counters = counters
        self.fail = fail

    def query(self, filter: Any = None) -> dict[str, list[Any]]:
        if self.fail:
            raise RuntimeError("metrics API unavailable")
        return {MetricResults.COUNTERS: self.counters or []}


def _counter(namespace: str, name: str, value: int, step: str = "ReadWet/Parse") -> Any:
    from apache_beam.metrics.metric import MetricResult

    return MetricResult(MetricKey(step, MetricName(namespace, name)), value, value)


class FakeDataflowResult:
    """States and counters in sequence, one per ``state`` read, as the service would answer."""

    def __init__(self, polls: list[tuple[str, list[Any] | None]]) -> None:
        self.polls = polls
        self.reads = 0

    def job_id(self) -> str:
        return JOB

    @property
    def state(self) -> str:
        state = self.polls[min(self.reads, len(self.polls) - 1)][0]
        self.reads += 1
        return state

    def metrics(self) -> _Metrics:
        counters = self.polls[min(self.reads - 1, len(self.polls) - 1)][1]
        return _Metrics(counters, fail=counters is None)


def test_the_stand_in_has_the_methods_of_beams_result() -> None:
    for name in ("job_id", "metrics"):
        assert inspect.isfunction(getattr(DataflowPipelineResult, name))
    assert isinstance(DataflowPipelineResult.state, property)


def _follow(result: FakeDataflowResult, sleep: Any = None) -> tuple[int, list[str]]:
    lines: list[str] = []
    now = [0.0]

    def tick(seconds: float) -> None:
        now[0] += seconds

    code = monitor.follow(
        result, PROJECT, REGION, interval_s=30, write=lines.append,
        sleep=sleep or tick, clock=lambda: now[0],
    )  # fmt: skip
    return code, lines


def test_follows_until_done_with_url_and_counters() -> None:
    result = FakeDataflowResult(
        [
            (PipelineState.PENDING, []),
            (PipelineState.RUNNING, [_counter("input", "records", 5)]),
            (
                PipelineState.RUNNING,
                [
                    _counter("input", "records", 700),
                    _counter("input", "records", 300, step="other"),
                    _counter("split-wet-file", "wet-file", 3),
                ],
            ),
            (PipelineState.DONE, [_counter("input", "records", 1000)]),
        ]
    )
    code, lines = _follow(result)
    assert code == 0
    assert lines[0] == (
        f"c4 submit: job {JOB} submitted: https://console.cloud.google.com/dataflow/jobs/"
        f"{REGION}/{JOB}?project={PROJECT}"
    )
    assert f"gcloud dataflow jobs cancel {JOB} --region {REGION}" in lines[1]
    assert lines[2:] == [
        "c4 submit: 0:00:00 PENDING | no counters yet",
        "c4 submit: 0:00:30 RUNNING | records 5",
        "c4 submit: 0:01:00 RUNNING | files 3 | records 1,000",
        "c4 submit: 0:01:30 DONE | records 1,000",
        f"c4 submit: job {JOB} done",
    ]


def test_a_failed_job_exits_1_and_unknown_counters_are_said_so() -> None:
    result = FakeDataflowResult([(PipelineState.RUNNING, None), (PipelineState.FAILED, [])])
    code, lines = _follow(result)
    assert code == 1
    assert lines[2] == "c4 submit: 0:00:00 RUNNING | counters unavailable"
    assert lines[-1].startswith(f"c4 submit: job {JOB} ended FAILED; see https://")


def test_ctrl_c_detaches_and_says_how_to_cancel() -> None:
    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    result = FakeDataflowResult([(PipelineState.RUNNING, [])])
    code, lines = _follow(result, sleep=interrupted)
    assert code == 130
    assert lines[-1] == (
        f"c4 submit: detached; job {JOB} keeps running on Dataflow. To cancel it: "
        f"gcloud dataflow jobs cancel {JOB} --region {REGION} --project {PROJECT}"
    )


def test_under_the_interrupt_handler_ctrl_c_prints_the_detach_line() -> None:
    """``c4 submit`` runs under ``interrupt_exits``: the handler prints the line ``follow`` set."""
    from pipeline import command

    seen: list[str | None] = []

    def look(seconds: float) -> None:
        seen.append(command._interrupt_line)
        raise KeyboardInterrupt

    _follow(FakeDataflowResult([(PipelineState.RUNNING, [])]), sleep=look)
    assert seen == [monitor.detach_line(PROJECT, REGION, JOB)]
    command.set_interrupt_line(None)


@pytest.mark.parametrize(
    ("state", "name"),
    [(PipelineState.RUNNING, "RUNNING"), ("PipelineState.DONE", "DONE"), ("done", "DONE")],
)
def test_state_names(state: Any, name: str) -> None:
    assert monitor.state_name(state) == name
