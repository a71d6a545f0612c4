"""What every stage shares: one output of a union type, counters as data, dead letters.

Why no tagged outputs: Beam's DaskRunner merges a multi-output ParDo's tags into one bag, so each
stage's DoFn emits ``Page | DeadLetter | dict`` on its single main output and ``SplitStage``
separates them with ``Filter``s, which every runner runs the same way.

Why counters as data: DaskRunner's ``metrics()`` raises, and Metrics are best-effort on some
runners, so each decision's counters (``"namespace/name" -> n``, TFDS 3.1.0 names) also travel as
a small dict; ``pipeline/write.py`` sums them for stats.json. Beam Metrics are still incremented,
for the Dataflow UI.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from filters.records import DeadLetter, Page

_LOG = logging.getLogger(__name__)
EXCERPT_CHARS = 200
Counters = dict[str, int]


def prefixed(namespace: str, counters: Mapping[str, int]) -> Counters:
    """``{"passed": 1}`` -> ``{"clean-page/passed": 1}``; names that carry a namespace stay."""
    return {(k if "/" in k else f"{namespace}/{k}"): v for k, v in counters.items() if v}


def is_page(x: object) -> bool:
    return isinstance(x, Page)


def is_dead_letter(x: object) -> bool:
    return isinstance(x, DeadLetter)


def is_counters(x: object) -> bool:
    return isinstance(x, dict)


class CountingDoFn(beam.DoFn):
    """A DoFn whose counters go to Beam Metrics and, as a dict, to its output."""

    def __init__(self) -> None:
        super().__init__()
        self._metrics: dict[str, Any] = {}

    def _metric(self, key: str) -> Any:
        counter = self._metrics.get(key)
        if counter is None:
            namespace, _, name = key.rpartition("/")
            counter = Metrics.counter(namespace or "c4", name)
            self._metrics[key] = counter
        return counter

    def counted(self, counters: Counters) -> Counters:
        """Increment the Beam Metrics of ``counters`` and return them, to be yielded as data."""
        for key, value in counters.items():
            if value:
                self._metric(key).inc(value)
        return counters


class PageStageFn(CountingDoFn):
    """One page in; the page (maybe changed) or nothing out, plus its counters.

    Subclasses implement ``decide``. An exception in ``decide`` dead-letters the page, so a single
    odd page cannot fail a whole build and the reconciliation still balances.
    """

    stage = "stage"

    def decide(self, page: Page) -> tuple[Page | None, Counters]:
        raise NotImplementedError

    def process(self, page: Page) -> Iterator[Page | DeadLetter | Counters]:
        try:
            kept, counters = self.decide(page)
        except Exception as exc:
            _LOG.warning("%s failed on %s: %s", self.stage, page.doc_id, exc)
            yield dead_letter_for(page, self.stage, exc)
            return
        if counters:
            yield self.counted(counters)
        if kept is not None:
            yield kept


def dead_letter_for(page: Page, stage: str, exc: BaseException) -> DeadLetter:
    """The dead letter of a page a stage could not process."""
    return DeadLetter(
        stage=stage,
        source_file=page.source_file,
        record_offset=page.record_offset,
        reason=f"{type(exc).__name__}: {exc}"[:EXCERPT_CHARS],
        excerpt=page.text[:EXCERPT_CHARS],
    )


class SplitStage(beam.PTransform):
    """A union stream -> ``(pages, dead_letters, counters)``, by type, without tagged outputs."""

    def expand(
        self, pcoll: beam.PCollection
    ) -> tuple[beam.PCollection, beam.PCollection, beam.PCollection]:
        pages = pcoll | "Pages" >> beam.Filter(is_page)
        dead = pcoll | "DeadLetters" >> beam.Filter(is_dead_letter)
        counters = pcoll | "Counters" >> beam.Filter(is_counters)
        return pages, dead, counters


class PageStage(beam.PTransform):
    """A composite around one ``PageStageFn``: pages in, ``(pages, dead_letters, counters)`` out."""

    def __init__(self, fn: PageStageFn) -> None:
        super().__init__()
        self._fn = fn

    def expand(
        self, pages: beam.PCollection
    ) -> tuple[beam.PCollection, beam.PCollection, beam.PCollection]:
        out = pages | "Decide" >> beam.ParDo(self._fn)
        return out | "Split" >> SplitStage()
