"""DedupUrls: one page per normalized URL, by the version's keeper rule (C4_SPEC §1.3).

A ``CombinePerKey`` whose accumulator is ``(best page, copies)``: runners that lift combiners
(Dataflow, the DirectRunner) keep one page per URL per bundle before the shuffle instead of
shipping every copy. The keeper is ``max(filters.dedup.url_dedup_rank)``, a total order, so the
result does not depend on the order a runner combines in.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import apache_beam as beam

from filters import dedup
from filters.records import Page
from filters.spec import C4Rules
from pipeline.transforms.common import Counters, CountingDoFn, SplitStage

Accumulator = tuple[Page | None, int]


class KeepUrlCopyFn(beam.CombineFn):
    """Combine the copies of one normalized URL into ``(kept page, number of copies)``."""

    def __init__(self, rules: C4Rules) -> None:
        super().__init__()
        self._rules = rules

    def _better(self, a: Page | None, b: Page | None) -> Page | None:
        if a is None:
            return b
        if b is None:
            return a
        rank = dedup.url_dedup_rank
        return b if rank(b, self._rules) > rank(a, self._rules) else a

    def create_accumulator(self) -> Accumulator:
        return (None, 0)

    def add_input(self, acc: Accumulator, page: Page) -> Accumulator:
        return (self._better(acc[0], page), acc[1] + 1)

    def merge_accumulators(self, accumulators: Iterable[Accumulator]) -> Accumulator:
        best: Page | None = None
        count = 0
        for page, n in accumulators:
            best = self._better(best, page)
            count += n
        return (best, count)

    def extract_output(self, acc: Accumulator) -> Accumulator:
        return acc


class _EmitKeptFn(CountingDoFn):
    def process(self, item: tuple[str, Accumulator]) -> Iterator[Page | Counters]:
        page, copies = item[1]
        counters = {k: v for k, v in dedup.url_dedup_counters(copies).items() if v}
        yield self.counted(counters)
        if page is not None:
            yield page


def _by_normalized_url(page: Page) -> tuple[str, Page]:
    return page.normalized_url, page


class DedupUrls(beam.PTransform):
    """Pages -> ``(pages, dead_letters, counters)`` with one page per normalized URL."""

    def __init__(self, rules: C4Rules) -> None:
        super().__init__()
        self._rules = rules

    def expand(
        self, pages: beam.PCollection
    ) -> tuple[beam.PCollection, beam.PCollection, beam.PCollection]:
        out = (
            pages
            | "KeyByUrl" >> beam.Map(_by_normalized_url)
            | "KeepOne" >> beam.CombinePerKey(KeepUrlCopyFn(self._rules))
            | "Emit" >> beam.ParDo(_EmitKeptFn())
        )
        return out | "Split" >> SplitStage()
