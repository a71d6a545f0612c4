"""DedupUrls: one page per normalized URL, by the version's keeper rule (C4_SPEC §1.3).

A ``CombinePerKey`` whose accumulator is ``(rank, best copy, copies)``: runners that lift
combiners (Dataflow, the DirectRunner) keep one copy per URL per bundle before the shuffle instead
of shipping every copy. The keeper is ``max(filters.dedup.url_dedup_rank)``, a total order that
does not read the text, so the result does not depend on the order a runner combines in.

The copies arrive as ``Pending`` records when the config cleans: the paragraph filter and
``clean_page`` already ran on them (``pipeline/transforms/common.py``), so the shuffle carries
cleaned text, and here the kept copy's decisions are counted and applied. Copies cross the
shuffle packed (``pipeline/transforms/packing.py``); only the kept one is unpacked. When
``DedupText``
follows (the version dedups text), each kept page leaves as ``Settled``, with the packed copy it
crossed the shuffle as, which ``DedupText`` ships on through its join without packing it again.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam

from filters import dedup
from filters.records import Page
from filters.spec import C4Rules
from pipeline.transforms.common import CountingDoFn, Pending, Settled, SplitPages, page_of
from pipeline.transforms.packing import pack, unpack

Copy = Page | Pending
Rank = tuple[str, int, int]
# (rank of the best copy, that copy packed by pipeline.transforms.packing, copies seen)
Accumulator = tuple[Rank | None, bytes | None, int]


class KeepUrlCopyFn(beam.CombineFn):
    """Combine the ``(rank, packed copy)`` of one URL into ``(rank, kept copy, copies)``."""

    def create_accumulator(self) -> Accumulator:
        return (None, None, 0)

    def add_input(self, acc: Accumulator, ranked: tuple[Rank, bytes]) -> Accumulator:
        rank, copy = ranked
        if acc[0] is None or rank > acc[0]:
            return (rank, copy, acc[2] + 1)
        return (acc[0], acc[1], acc[2] + 1)

    def merge_accumulators(self, accumulators: Iterable[Accumulator]) -> Accumulator:
        best: Rank | None = None
        kept: bytes | None = None
        count = 0
        for rank, copy, n in accumulators:
            if rank is not None and (best is None or rank > best):
                best, kept = rank, copy
            count += n
        return (best, kept, count)

    def extract_output(self, acc: Accumulator) -> Accumulator:
        return acc


class _SettleFn(CountingDoFn):
    """The kept copy of each URL: its pending decisions counted, and the page if it survived
    (as ``Settled`` with ``keep_packed``)."""

    def __init__(self, keep_packed: bool = False) -> None:
        super().__init__()
        self._keep_packed = keep_packed

    def process(self, item: tuple[str, Accumulator]) -> Iterator[Any]:
        _, packed, copies = item[1]
        counters = dedup.url_dedup_counters(copies)
        self.count(counters)
        if packed is None:
            return
        copy = unpack(packed)
        if self.report is not None and copies > 1:  # the copies dropped share its URL
            self.report.drop(counters, page_of(copy).url, copies - 1)
        if isinstance(copy, Pending):
            self.count(dict(copy.counters))
            if copy.dead is not None:
                yield copy.dead
                return
            if not copy.keep:
                if self.report is not None:
                    self.report.drop(dict(copy.counters), copy.page.url)
                return
        page = page_of(copy)
        yield Settled(page, packed) if self._keep_packed else page


def _ranked(rules: C4Rules) -> Any:
    def key(copy: Copy) -> tuple[str, tuple[Rank, bytes]]:
        page = page_of(copy)
        return page.normalized_url, (dedup.url_dedup_rank(page, rules), pack(copy))

    return key


class DedupUrls(beam.PTransform):
    """A union stream -> ``(stream, side)``: one page per normalized URL, and the items it
    passed by (dead letters, counters), kept apart so the pages are not copied to merge them."""

    def __init__(self, rules: C4Rules) -> None:
        super().__init__()
        self._rules = rules

    def expand(self, stream: beam.PCollection) -> tuple[beam.PCollection, beam.PCollection]:
        pages, rest = stream | "SplitPages" >> SplitPages()
        kept = (
            pages
            | "KeyByUrl" >> beam.Map(_ranked(self._rules))
            | "KeepOne" >> beam.CombinePerKey(KeepUrlCopyFn())
            | "Settle" >> beam.ParDo(_SettleFn(keep_packed=self._rules.dedupe))
        )
        return kept, rest
