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

With ``c4 build --record_drops`` the accumulator also lists the copies it did not keep (their ids
and source records, taken from a copy when it loses: only duplicates are unpacked for it), and
each leaves a ``DropRecord`` naming the copy kept; so does a kept copy a pending stage dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam

from filters import dedup, paragraph
from filters.records import Page
from filters.spec import C4Rules
from pipeline.transforms.common import CountingDoFn, Pending, Settled, SplitPages, page_of
from pipeline.transforms.drops import DropRecord, drop_record, line_detail, pack_drop
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


# doc_id, url, source_file, record_offset, record_id, file_index of a copy not kept
Loser = tuple[str, str, str, int, str, int]
# ``Accumulator`` and the copies not kept
LosersAccumulator = tuple[Rank | None, bytes | None, int, list[Loser]]


def _loser(packed: bytes) -> Loser:
    page = page_of(unpack(packed))
    return (
        page.doc_id,
        page.url,
        page.source_file,
        page.record_offset,
        page.record_id,
        page.file_index,
    )


class KeepUrlCopyListingLosersFn(beam.CombineFn):
    """``KeepUrlCopyFn`` that also lists the copies it does not keep (``--record_drops``)."""

    def create_accumulator(self) -> LosersAccumulator:
        return (None, None, 0, [])

    def add_input(self, acc: LosersAccumulator, ranked: tuple[Rank, bytes]) -> LosersAccumulator:
        rank, copy = ranked
        best, kept, count, losers = acc
        if best is None or rank > best:
            if kept is not None:
                losers.append(_loser(kept))
            return (rank, copy, count + 1, losers)
        losers.append(_loser(copy))
        return (best, kept, count + 1, losers)

    def merge_accumulators(self, accumulators: Iterable[LosersAccumulator]) -> LosersAccumulator:
        best: Rank | None = None
        kept: bytes | None = None
        count = 0
        losers: list[Loser] = []
        for rank, copy, n, lost in accumulators:
            count += n
            losers.extend(lost)
            if rank is None or copy is None:
                continue
            if best is None or rank > best:
                if kept is not None:
                    losers.append(_loser(kept))
                best, kept = rank, copy
            else:
                losers.append(_loser(copy))
        return (best, kept, count, losers)

    def extract_output(self, acc: LosersAccumulator) -> LosersAccumulator:
        return acc


def _loser_record(loser: Loser, kept: Page) -> bytes:
    doc_id, url, source_file, record_offset, record_id, file_index = loser
    record = DropRecord(
        doc_id=doc_id,
        url=url,
        source_file=source_file,
        record_offset=record_offset,
        record_id=record_id,
        stage=dedup.URL_NAMESPACE,
        reason="filtered",
        detail="another copy of its normalized URL was kept",
        winner_doc_id=kept.doc_id,
        winner_url=kept.url,
        file_index=file_index,
    )
    return pack_drop(record)


class _SettleFn(CountingDoFn):
    """The kept copy of each URL: its pending decisions counted, and the page if it survived
    (as ``Settled`` with ``keep_packed``)."""

    def __init__(self, keep_packed: bool = False) -> None:
        super().__init__()
        self._keep_packed = keep_packed

    def process(self, item: tuple[str, Accumulator | LosersAccumulator]) -> Iterator[Any]:
        packed, copies = item[1][1], item[1][2]
        counters = dedup.url_dedup_counters(copies)
        self.count(counters)
        if packed is None:
            return
        copy = unpack(packed)
        if self.report is not None and copies > 1:  # the copies dropped share its URL
            self.report.drop(counters, page_of(copy).url, copies - 1)
        if self.record_drops and len(item[1]) > 3:
            losers: list[Loser] = item[1][3]  # type: ignore[misc]
            yield from (_loser_record(loser, page_of(copy)) for loser in losers)
        if isinstance(copy, Pending):
            self.count(dict(copy.counters))
            if copy.dead is not None:
                yield copy.dead
                return
            if not copy.keep:
                if self.report is not None:
                    self.report.drop(dict(copy.counters), copy.page.url)
                if self.record_drops:
                    pending = dict(copy.counters)
                    yield drop_record(copy.page, pending, detail=_pending_detail(pending))
                return
        page = page_of(copy)
        yield Settled(page, packed) if self._keep_packed else page


def _pending_detail(counters: dict[str, int]) -> str:
    """Why a pending stage dropped a page: ``clean_page``'s line counts, or the paragraph rule."""
    if any(name.startswith("clean-page/") for name in counters):
        return line_detail({k: v for k, v in counters.items() if k.startswith("clean-page/")})
    if counters.get(f"{paragraph.NAMESPACE}/filtered"):
        return (
            f"fewer than {paragraph.MIN_PARAGRAPHS} lines of at least "
            f"{paragraph.MIN_PARAGRAPH_LEN} characters"
        )
    return ""


def _ranked(rules: C4Rules) -> Any:
    def key(copy: Copy | Settled) -> tuple[str, tuple[Rank, bytes]]:
        page = page_of(copy)
        # Settled: packed already, by the spill of ``c4 build --resumable`` (resume.py)
        packed = copy.packed if type(copy) is Settled else pack(copy)
        return page.normalized_url, (dedup.url_dedup_rank(page, rules), packed)

    return key


class DedupUrls(beam.PTransform):
    """A union stream -> ``(stream, side)``: one page per normalized URL, and the items it
    passed by (dead letters, counters), kept apart so the pages are not copied to merge them.

    ``record_drops``: the copies not kept and the pending drops leave ``DropRecord``\\ s in the
    stream (module docstring)."""

    def __init__(self, rules: C4Rules, record_drops: bool = False) -> None:
        super().__init__()
        self._rules = rules
        self._record_drops = record_drops

    def expand(self, stream: beam.PCollection) -> tuple[beam.PCollection, beam.PCollection]:
        pages, rest = stream | "SplitPages" >> SplitPages()
        settle = _SettleFn(keep_packed=self._rules.dedupe)
        settle.record_drops = self._record_drops
        kept = (
            pages
            | "KeyByUrl" >> beam.Map(_ranked(self._rules))
            | "KeepOne"
            >> beam.CombinePerKey(
                KeepUrlCopyListingLosersFn() if self._record_drops else KeepUrlCopyFn()
            )
            | "Settle" >> beam.ParDo(settle)
        )
        return kept, rest
