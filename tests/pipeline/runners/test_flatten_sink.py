"""pipeline/runners/flatten_sink.py: a Flatten that only feeds a GroupByKey writes into the group,
with the same groups as Beam's materialized Flatten; a Flatten with other consumers stays as it
was; our planning phases are Beam's with one more.

Private Beam APIs (docs/runners.md; ``pipeline.runners.PATCHED_BEAM_VERSION``):

- ``apache_beam.runners.portability.fn_api_runner.translations.create_and_optimize_stages``,
  patched to capture the phases ``FnApiRunner.create_stages`` passes it
  (``apache_beam.runners.portability.fn_api_runner.fn_runner.FnApiRunner``), and
  ``translations.expand_gbk``;
- ``apache_beam.runners.worker.bundle_processor.DATA_INPUT_URN`` and
  ``apache_beam.runners.worker.bundle_processor.DATA_OUTPUT_URN``: the runner's buffer reads and
  writes in the planned stages.
"""

from __future__ import annotations

from typing import Any

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import assert_that, equal_to

from pipeline.runners.direct import C4DirectRunner, _FnApiRunner
from tests.conftest import TWO_WORKERS


def _join(
    p: beam.Pipeline,
) -> tuple[beam.PCollection, tuple[beam.PCollection, beam.PCollection]]:
    left = p | "Left" >> beam.Create([("a", 1), ("b", 2), ("a", 3)])
    right = p | "Right" >> beam.Create([("a", "x"), ("c", "y")])
    joined = {"l": left, "r": right} | beam.CoGroupByKey()
    sorted_groups = joined | beam.MapTuple(lambda k, g: (k, sorted(g["l"]), sorted(g["r"])))
    # A Flatten with a second consumer besides its GroupByKey: materialized as Beam does.
    both = (left, right | "Str" >> beam.MapTuple(lambda k, v: (k, len(v)))) | beam.Flatten()
    counted = both | beam.GroupByKey() | beam.MapTuple(lambda k, vs: (k, sorted(vs)))
    seen = both | "Count" >> beam.combiners.Count.Globally()
    return sorted_groups, (counted, seen)


EXPECTED_JOIN = [("a", [1, 3], ["x"]), ("b", [2], []), ("c", [], ["y"])]


@pytest.mark.parametrize(
    "options",
    [[], list(TWO_WORKERS)],
    ids=["in_memory", "two_workers"],
)
def test_cogroupbykey_and_shared_flatten_give_beams_results(options: list[str]) -> None:
    with beam.Pipeline(runner=C4DirectRunner(), options=PipelineOptions(options)) as p:
        joined, (counted, seen) = _join(p)
        assert_that(joined, equal_to(EXPECTED_JOIN), label="Join")
        assert_that(counted, equal_to([("a", [1, 1, 3]), ("b", [2]), ("c", [1])]), label="Gbk")
        assert_that(seen, equal_to([5]), label="Seen")


def _stage_payloads(p: beam.Pipeline) -> list[tuple[str, bytes]]:
    from apache_beam.runners.worker import bundle_processor

    proto = p.to_runner_api()
    runner: Any = _FnApiRunner()
    _, stages = runner.create_stages(proto)
    data_urns = (bundle_processor.DATA_INPUT_URN, bundle_processor.DATA_OUTPUT_URN)
    return [
        (t.unique_name, t.spec.payload)
        for stage in stages
        for t in stage.transforms
        if t.spec.urn in data_urns
    ]


def test_only_the_flatten_with_one_group_consumer_is_sunk() -> None:
    p = beam.Pipeline()
    _join(p)
    payloads = _stage_payloads(p)
    materialized = {name for name, payload in payloads if payload.startswith(b"materialize:")}
    # The CoGroupByKey's Flatten writes into its group: no materialized buffer of it.
    assert not [n for n in materialized if "CoGroupByKeyImpl/Flatten" in n]
    sunk = [n for n, payload in payloads if "CoGroupByKeyImpl/Flatten/WriteGroup" in n]
    assert len(sunk) == 2
    assert all(payload.startswith(b"group:") for n, payload in payloads if n in sunk)
    # The shared Flatten is still written to and read from its materialized buffer.
    assert any(n.startswith("Flatten/Write/") for n in materialized)
    assert any(n == "Flatten/Read" for n in materialized)


def test_our_phases_are_beams_with_the_sink_after_expand_gbk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from apache_beam.runners.portability.fn_api_runner import fn_runner, translations

    from pipeline.runners import direct as direct_runner
    from pipeline.runners import flatten_sink

    seen: list[list[Any]] = []

    def capture(proto: Any, phases: list[Any], **kwargs: Any) -> tuple[None, list[Any]]:
        seen.append(list(phases))
        return None, []

    monkeypatch.setattr(translations, "create_and_optimize_stages", capture)
    fn_runner.FnApiRunner().create_stages(beam.Pipeline().to_runner_api())
    assert seen == [list(direct_runner.BEAM_PHASES)]  # Beam's list has not moved under us
    ours = flatten_sink.phases(list(direct_runner.BEAM_PHASES))
    at = ours.index(translations.expand_gbk)
    assert ours[at + 1] is flatten_sink.sink_flattens_into_groups
    assert [p for p in ours if p is not flatten_sink.sink_flattens_into_groups] == seen[0]
