"""pipeline/runners/direct.py: the DirectRunner c4 uses is the FnApiRunner, never Prism, and its
subprocess workers start through pipeline.runners.sdk_worker.

Private Beam APIs (docs/runners.md; ``pipeline.runners.PATCHED_BEAM_VERSION``):

- ``apache_beam.runners.portability.prism_runner.PrismRunner.run_pipeline``, patched to fail the
  test if anything tries Prism.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability import prism_runner
from apache_beam.testing.util import assert_that, equal_to

from pipeline.runners import forked_workers
from pipeline.runners.direct import C4DirectRunner, worker_command
from pipeline.runners.select import make_runner
from tests.conftest import TWO_WORKERS


def _worker_facts(_: Any) -> tuple[int, str, bool]:
    return os.getpid(), os.path.basename(sys.argv[0]), "pandas" in sys.modules


@pytest.fixture
def no_prism(monkeypatch: pytest.MonkeyPatch) -> None:
    """Prism fails the test if anything tries it (it downloads its binary when it can)."""

    def tried(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("Prism was tried")

    monkeypatch.setattr(prism_runner.PrismRunner, "run_pipeline", tried)


@pytest.mark.usefixtures("no_prism")
def test_directrunner_is_the_fnapi_runner_and_never_tries_prism() -> None:
    runner = make_runner("DirectRunner")
    assert isinstance(runner, C4DirectRunner)
    with beam.Pipeline(runner=runner) as p:
        out = p | beam.Create([1, 2, 3]) | beam.Map(lambda x: x * 2)
        assert_that(out, equal_to([2, 4, 6]))


def test_multi_processing_workers_start_through_pipeline_sdk_worker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Workers are new processes when this one may not fork (test_forked_workers.py: when it may).
    monkeypatch.setattr(forked_workers, "can_fork", lambda: False)
    assert worker_command().split()[1:3] == ["-m", "pipeline.runners.sdk_worker"]
    options = PipelineOptions(list(TWO_WORKERS))
    here = os.getpid()
    with beam.Pipeline(runner=C4DirectRunner(), options=options) as p:
        facts = p | beam.Create(list(range(4))) | beam.Reshuffle() | beam.Map(_worker_facts)
        programs = facts | "Program" >> beam.Map(lambda f: (f[1], f[2], f[0] != here))
        # Each worker ran pipeline/runners/sdk_worker.py as __main__, in its own process, without
        # pandas.
        assert_that(programs | beam.Distinct(), equal_to([("sdk_worker.py", False, True)]))


@pytest.mark.usefixtures("no_prism")
def test_beams_own_directrunner_runs_on_the_fnapi_runner_in_tests() -> None:
    with beam.Pipeline() as p:  # Beam's default runner, as many unit tests use it
        assert_that(p | beam.Create([1]) | beam.Map(lambda x: x + 1), equal_to([2]))
