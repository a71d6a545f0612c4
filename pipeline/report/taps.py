"""Where the report takes its numbers in the build: the stages themselves, per bundle.

``enable_report(pipeline, rules)`` gives every stage DoFn of the graph (every ``CountingDoFn``) a
``filters.report.Recorder``: the stages then tell it what they decide and see (pages dropped per
reason and domain, pages line dedup changed, the language detected, raw pages as read, documents
kept), and it leaves each bundle as a ``TallyBatch`` and ``SamplePart``\\ s, in the stream the
stages pass on, beside their counters (``pipeline/transforms/common.py``). The recorders are set
on the DoFn objects the ``ParDo``\\ s hold before the graph is serialized to run: no stage takes
a report flag, and no transform is added to the graph for them (Beam spends milliseconds of CPU
applying each transform, and a small build's whole report may cost only a hundred or so).

``KeptDocumentsFn`` records documents read back from a build's outputs, for
``pipeline.report.recompute``.

Private Beam APIs: ``apache_beam.pipeline.PipelineVisitor`` (marked "for internal use only"),
to walk the built graph and reach the DoFn objects its ``ParDo``\\ s hold, so the recorders ride
on the stages instead of adding transforms.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.pipeline import PipelineVisitor
from apache_beam.transforms.window import GlobalWindows

from filters import report as rules
from filters.records import Page
from filters.spec import C4Rules
from pipeline.transforms.common import CountingDoFn


class _Enabling(PipelineVisitor):  # type: ignore[misc]
    def __init__(self, normalized_url: bool) -> None:
        self.normalized_url = normalized_url
        self.count = 0

    def visit_transform(self, node: Any) -> None:
        fn = getattr(node.transform, "fn", None)
        if isinstance(fn, CountingDoFn):
            fn.report = rules.Recorder(self.normalized_url)
            self.count += 1


def normalized_url(c4_rules: C4Rules) -> bool:
    """Whether the documents' ``url`` feature is the normalized url (``pipeline.write.url_of``)."""
    return c4_rules.version == "1.0.0"


def enable_report(pipeline: beam.Pipeline, c4_rules: C4Rules) -> int:
    """Give every stage applied to ``pipeline`` so far a recorder; how many stages got one."""
    visitor = _Enabling(normalized_url(c4_rules))
    pipeline.visit(visitor)
    return visitor.count


class KeptDocumentsFn(beam.DoFn):
    """``(split, page, domain)`` read back from a build -> per bundle, its recorder's parts."""

    def __init__(self, c4_rules: C4Rules) -> None:
        super().__init__()
        self._recorder = rules.Recorder(normalized_url(c4_rules))

    def start_bundle(self) -> None:
        self._recorder.reset()

    def process(self, doc: tuple[str, Page, str]) -> Iterator[Any]:
        split, page, domain = doc
        self._recorder.kept(split, page, domain)
        return iter(())

    def finish_bundle(self) -> Iterator[Any]:
        for part in self._recorder.parts():
            yield GlobalWindows.windowed_value(part)
