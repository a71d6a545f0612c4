"""pipeline/runners/balanced_bundles.py: with two workers a stage runs as PARTS_PER_WORKER parts per
worker, each worker taking the next part when done, with Beam's results and errors."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import GlobalWindows

from pipeline.runners.balanced_bundles import PARTS_PER_WORKER
from pipeline.runners.direct import C4DirectRunner
from tests.conftest import TWO_WORKERS


class _BundleSizes(beam.DoFn):
    """Emits ``(pid, keys seen, slept)`` once per bundle; key 0 sleeps ``slow_s`` first."""

    def __init__(self, slow_s: float) -> None:
        self._slow_s = slow_s
        self._keys: list[int] = []

    def start_bundle(self) -> None:
        self._keys = []

    def process(self, kv: tuple[int, Any]) -> None:
        if kv[0] == 0:
            time.sleep(self._slow_s)
        self._keys.append(kv[0])

    def finish_bundle(self) -> Iterator[Any]:
        yield GlobalWindows.windowed_value((os.getpid(), tuple(self._keys)))


def _run(slow_s: float, keys: int, check: Callable[[list[Any]], None]) -> None:
    """Runs the stage on two workers; ``check`` gets every bundle's ``(pid, keys)`` (it runs in
    a worker: a failed assert fails the pipeline)."""
    with beam.Pipeline(runner=C4DirectRunner(), options=PipelineOptions(list(TWO_WORKERS))) as p:
        bundles = (
            p
            | beam.Create([(k, k) for k in range(keys)])
            | beam.GroupByKey()
            | beam.ParDo(_BundleSizes(slow_s))
        )
        assert_that(bundles, check, label="Bundles")
        keys_seen = bundles | beam.FlatMap(lambda bundle: bundle[1])
        assert_that(keys_seen, equal_to(list(range(keys))), label="EveryKeyOnce")


def _parts_around_a_slow_one(seen: list[tuple[int, tuple[int, ...]]]) -> None:
    assert len(seen) == 2 * PARTS_PER_WORKER, seen
    assert sorted(len(keys) for _, keys in seen) == [64 // len(seen)] * len(seen), seen
    slow_pid, slow_keys = next((pid, keys) for pid, keys in seen if 0 in keys)
    # The worker with the slow part ran nothing else.
    assert [keys for pid, keys in seen if pid == slow_pid] == [slow_keys], seen


def test_a_stage_runs_as_parts_and_a_slow_part_does_not_hold_the_others() -> None:
    # Key 0's part takes 3 s; the other worker runs every other part meanwhile. (Beam's
    # split would leave half of the parts behind the slow one, on its worker.)
    _run(3.0, 64, _parts_around_a_slow_one)


def _one_bundle_per_key(seen: list[tuple[int, tuple[int, ...]]]) -> None:
    assert sorted(keys for _, keys in seen) == [(0,), (1,), (2,)], seen


def test_fewer_keys_than_parts_runs_no_empty_bundle() -> None:
    _run(0.0, 3, _one_bundle_per_key)


def _fail_on_7(x: int) -> int:
    if x == 7:
        raise ValueError("element 7 is bad")
    return x


def test_an_error_in_one_part_fails_the_pipeline() -> None:
    options = PipelineOptions(list(TWO_WORKERS))
    with (
        pytest.raises(Exception, match="element 7 is bad"),
        beam.Pipeline(runner=C4DirectRunner(), options=options) as p,
    ):
        _ = p | beam.Create(list(range(20))) | beam.Reshuffle() | beam.Map(_fail_on_7)
