"""A FnApiRunner optimization phase: a ``Flatten`` that only feeds a ``GroupByKey`` writes
straight into the group's buffer.

Beam 2.77's FnApiRunner materializes every multi-input ``Flatten`` (``translations.sink_flattens``,
whose TODO reads "Actually attempt to sink rather than always materialize"): each input is
written to a list buffer in the runner, then a stage of its own reads the whole buffer back
only to write it, unchanged, into the grouping buffer of the ``GroupByKey`` behind it. Every
``CoGroupByKey`` is such a ``Flatten`` and ``GroupByKey``; a C4 build has two (``DedupText``'s
join of pages with their kept keys, ``WriteC4``'s join of documents with their split's plan), so
the pages crossed the runner's data channel twice more than the shuffles need: 88 of the 159 MB
the runner took in for 200 MB of WET, the whole of it a serial stage barrier apart.

``sink_flattens_into_groups`` rewrites that pattern before Beam's own ``sink_flattens`` runs:
each input of the ``Flatten`` (transcoded to the ``Flatten``'s output coder first, as Beam's
phase does) writes to the ``GroupByKey``'s grouping buffer, and the ``Flatten`` read and the
group write disappear. The group then holds the same elements, arriving in another order; no
DoFn of ours depends on the order within a group (the determinism tests compare runs across
worker counts and runners byte for byte).

Private Beam APIs (docs/runners.md; ``pipeline.runners.PATCHED_BEAM_VERSION``):

- ``apache_beam.runners.portability.fn_api_runner.translations``: a phase is a function of
  ``Stage``s and a ``TransformContext`` (its ``add_data_channel_coder``), placed after
  ``translations.expand_gbk`` and before ``translations.sink_flattens``; the rewrite uses
  ``translations.fix_flatten_coders`` and the stages ``expand_gbk`` makes: a group write is a
  one-transform stage whose payload starts with ``group:``;
- ``apache_beam.runners.worker.bundle_processor.DATA_OUTPUT_URN``: the URN of those writes;
- ``apache_beam.portability.common_urns`` (``FLATTEN``) and
  ``apache_beam.portability.api.beam_runner_api_pb2`` (``PTransform``, ``FunctionSpec``): the
  runner API's URNs and protos.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from apache_beam.portability import common_urns
from apache_beam.portability.api import beam_runner_api_pb2
from apache_beam.runners.portability.fn_api_runner import translations
from apache_beam.runners.worker import bundle_processor

_FLATTEN = common_urns.primitives.FLATTEN.urn
_GROUP_PREFIX = b"group:"


def _only(stage: translations.Stage) -> beam_runner_api_pb2.PTransform | None:
    return stage.transforms[0] if len(stage.transforms) == 1 else None


def _group_writes_by_input(
    stages: list[translations.Stage],
) -> dict[str, tuple[translations.Stage, bytes]]:
    """The ``GroupByKey`` write stages (``expand_gbk``'s) and their grouping buffers, by the
    PCollection they write, for PCollections that nothing else consumes."""
    consumers: dict[str, int] = defaultdict(int)
    for stage in stages:
        for transform in stage.transforms:
            for pcoll in transform.inputs.values():
                consumers[pcoll] += 1
    writes = {}
    for stage in stages:
        transform = _only(stage)
        if (
            transform is not None
            and transform.spec.urn == bundle_processor.DATA_OUTPUT_URN
            and transform.spec.payload.startswith(_GROUP_PREFIX)
        ):
            (pcoll,) = transform.inputs.values()
            if consumers[pcoll] == 1:
                writes[pcoll] = (stage, transform.spec.payload)
    return writes


def _group_writers(
    flatten: beam_runner_api_pb2.PTransform, stage: translations.Stage, buffer_id: bytes
) -> list[translations.Stage]:
    """One stage per input of ``flatten`` that writes it into the grouping buffer."""
    writers = []
    for local_in, pcoll_in in flatten.inputs.items():
        name = f"{flatten.unique_name}/WriteGroup/{local_in}"
        write = beam_runner_api_pb2.PTransform(
            unique_name=name,
            inputs={local_in: pcoll_in},
            spec=beam_runner_api_pb2.FunctionSpec(
                urn=bundle_processor.DATA_OUTPUT_URN, payload=buffer_id
            ),
            environment_id=flatten.environment_id,
        )
        writers.append(
            translations.Stage(
                name, [write], downstream_side_inputs=frozenset(), must_follow=stage.must_follow
            )
        )
    return writers


def sink_flattens_into_groups(
    stages: Iterable[translations.Stage], context: translations.TransformContext
) -> Iterator[translations.Stage]:
    """FnApiRunner phase (after ``expand_gbk``): ``Flatten`` -> ``GroupByKey`` without the
    materialized ``Flatten`` (module docstring). Other stages pass through unchanged."""
    stages = list(stages)
    group_writes = _group_writes_by_input(stages)
    sunk: dict[translations.Stage, list[translations.Stage]] = {}
    rewritten: list[translations.Stage] = []
    for stage in stages:
        transform = _only(stage)
        if transform is None or transform.spec.urn != _FLATTEN or len(transform.inputs) < 2:
            rewritten.append(stage)
            continue
        (output,) = transform.outputs.values()
        if output not in group_writes:
            rewritten.append(stage)
            continue
        group_write, buffer_id = group_writes[output]
        # Each input must reach the group in the coder the group decodes (the Flatten's output).
        for fixed in translations.fix_flatten_coders([stage], context, _FLATTEN):
            if fixed is not stage:
                rewritten.append(fixed)
        sunk[group_write] = _group_writers(transform, stage, buffer_id)
        rewritten.extend(sunk[group_write])
        # The group's buffer is built with the data-channel coder of the GroupByKey's input.
        context.add_data_channel_coder(output, False)
    for stage in rewritten:
        if stage in sunk:
            continue
        replaced = [w for s in stage.must_follow if s in sunk for w in sunk[s]]
        if replaced:
            stage.must_follow = frozenset(
                [s for s in stage.must_follow if s not in sunk] + replaced
            )
        yield stage


def phases(default: list[Any]) -> list[Any]:
    """The FnApiRunner's phases with ``sink_flattens_into_groups`` right after ``expand_gbk``."""
    at = default.index(translations.expand_gbk) + 1
    return [*default[:at], sink_flattens_into_groups, *default[at:]]
