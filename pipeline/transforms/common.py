"""What every stage shares: one union stream, counters per bundle, dead letters.

Why one stream: Beam's DaskRunner merges a multi-output ParDo's tags into one bag, so stages do
not use tagged outputs. Each per-page stage is one ``ParDo`` over ``Page | Pending | DeadLetter |
dict`` items: it decides on pages and passes everything else through untouched, and the stream
is split by type (``SplitPages``, ``SplitStage``) only where a shuffle or a sink needs it. A
stage therefore costs one ``ParDo``, not one plus three ``Filter``s.

Why counters as data: DaskRunner's ``metrics()`` raises, and Metrics are best-effort on some
runners, so counters (``"namespace/name" -> n``, TFDS 3.1.0 names) also travel as data: each DoFn
sums them over its bundle and emits one dict in ``finish_bundle`` (a few per stage and worker, not
one per page); ``pipeline/write.py`` sums them for stats.json. Beam Metrics are incremented
there too, for the Dataflow UI.

Why ``Pending``: the stages between URL dedup and line dedup (paragraph filter, clean) run
*before* the URL-dedup shuffle, on every copy of a URL, so that the shuffle carries cleaned text
(under a third of the raw bytes on our corpora) instead of raw pages. Their decisions wait in a
``Pending`` record and ``DedupUrls`` settles them for the one copy it keeps; the others' counters
are discarded, so every counter and every document is what the version's order (C4_SPEC §1.1)
gives. The price: the copies a URL dedup drops are cleaned too (2 % of pages in our corpora).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindows

from filters.records import DeadLetter, Page
from filters.report import Recorder
from pipeline.transforms.drops import drop_record

_LOG = logging.getLogger(__name__)
EXCERPT_CHARS = 200
Counters = dict[str, int]


class FileDone(NamedTuple):
    """A marker in the per-file stream of ``c4 build --resumable``
    (``pipeline/transforms/resume.py``): every element of ``key``'s input file is before it."""

    key: str


class Pending(NamedTuple):
    """A page whose post-URL-dedup decisions are made but not yet counted (see module doc).

    Attributes:
        page: the page, its text already transformed by the provisional stages; ``text`` is
            ``""`` once a stage dropped it (nothing downstream reads it).
        counters: what the provisional stages counted for this copy.
        keep: False once a provisional stage dropped the page.
        dead: the dead letter of a stage that failed on this copy, else None.
    """

    page: Page
    counters: tuple[tuple[str, int], ...] = ()
    keep: bool = True
    dead: DeadLetter | None = None


class Settled(NamedTuple):
    """A page ``DedupUrls`` kept, with the packed copy it was kept as, for ``DedupText``.

    ``DedupText`` reads the page's lines before its join and ships the page through the join;
    shipping ``packed`` (``pipeline/transforms/packing.py``; a ``Page`` or a ``Pending`` whose page
    is
    ``page``) saves packing every page a second time.
    """

    page: Page
    packed: bytes


def prefixed(namespace: str, counters: Mapping[str, int]) -> Counters:
    """``{"passed": 1}`` -> ``{"clean-page/passed": 1}``; names that carry a namespace stay."""
    return {(k if "/" in k else f"{namespace}/{k}"): v for k, v in counters.items() if v}


def page_of(item: Page | Pending | Settled) -> Page:
    """The page a ``Page``, ``Pending`` or ``Settled`` record carries."""
    return item if isinstance(item, Page) else item.page


# A tuple, not ``Page | Pending | Settled``: isinstance is ~6x faster with it, per element.
_PAGE_LIKE = (Page, Pending, Settled)


def is_page_like(x: object) -> bool:
    return isinstance(x, _PAGE_LIKE)


def is_not_page(x: object) -> bool:
    return not isinstance(x, _PAGE_LIKE)


def is_dead_letter(x: object) -> bool:
    return isinstance(x, DeadLetter)


def is_counters(x: object) -> bool:
    return isinstance(x, dict)


class CountingDoFn(beam.DoFn):
    """A DoFn that sums its counters over a bundle and emits them as one dict at its end.

    In a build that writes a report, ``pipeline.report`` gives every such DoFn of the graph a
    ``report`` (``filters.report.Recorder``): the stage tells it what it decides and sees (pages
    dropped per reason and domain, ...), and its tallies and samples leave with the bundle too.
    """

    report: Recorder | None = None
    # ``c4 build --record_drops`` (``pipeline.drops.enable_drops``): a dropped page also leaves a
    # packed ``pipeline.transforms.drops.DropRecord`` in the stream.
    record_drops = False

    def __init__(self) -> None:
        super().__init__()
        self._bundle: Counter[str] = Counter()

    def start_bundle(self) -> None:
        self._bundle = Counter()
        if self.report is not None:
            self.report.reset()

    def count(self, counters: Mapping[str, int]) -> None:
        """Add ``counters`` to this bundle's totals."""
        bundle = self._bundle
        for key, value in counters.items():
            if value:
                bundle[key] += value

    def bundle_counters(self) -> Counters:
        """This bundle's totals, which are then reset; Beam Metrics are incremented by them."""
        counters = {k: v for k, v in sorted(self._bundle.items()) if v}
        self._bundle = Counter()
        for key, value in counters.items():
            namespace, _, name = key.rpartition("/")
            Metrics.counter(namespace or "c4", name).inc(value)
        return counters

    def finish_bundle(self) -> Iterator[Any]:
        for part in self.flush_parts():
            yield GlobalWindows.windowed_value(part)

    def flush_parts(self) -> Iterator[Any]:
        """What the bundle's end emits (its counters, its report's parts), now: ``c4 build
        --resumable`` flushes at each input file's end, so a file's stream is whole by itself
        (``pipeline/transforms/resume.py``)."""
        counters = self.bundle_counters()
        if counters:
            yield counters
        if self.report is not None:
            yield from self.report.parts()


def dead_letter_for(page: Page, stage: str, exc: BaseException) -> DeadLetter:
    """The dead letter of a page a stage could not process."""
    return DeadLetter(
        stage=stage,
        source_file=page.source_file,
        record_offset=page.record_offset,
        reason=f"{type(exc).__name__}: {exc}"[:EXCERPT_CHARS],
        excerpt=page.text[:EXCERPT_CHARS],
    )


class PageStageFn(CountingDoFn):
    """Pages in, each page (maybe changed) or nothing out; everything else passes through.

    Subclasses implement ``decide``. An exception in ``decide`` dead-letters the page, so a single
    odd page cannot fail a whole build and the reconciliation still balances. A ``provisional``
    stage (one that runs before ``DedupUrls`` although C4 orders it after) records its decision
    in a ``Pending`` instead of counting it.
    """

    stage = "stage"
    provisional = False

    def decide(self, page: Page) -> tuple[Page | None, Counters]:
        raise NotImplementedError

    def drop_records(self, page: Page, counters: Counters) -> Iterator[Any]:
        """What a page ``decide`` dropped leaves in the stream when drops are recorded; stages
        that can say more than their counter (``drop_record``'s fields) override it."""
        yield drop_record(page, counters)

    def process(self, item: Any) -> Iterator[Any]:
        if isinstance(item, Pending) or (self.provisional and isinstance(item, Page)):
            yield self._provisionally(item if isinstance(item, Pending) else Pending(item))
            return
        if not isinstance(item, Page):
            if isinstance(item, FileDone):  # the file's own parts go before its end marker
                yield from self.flush_parts()
            yield item
            return
        try:
            kept, counters = self.decide(item)
        except Exception as exc:
            _LOG.warning("%s failed on %s: %s", self.stage, item.doc_id, exc)
            yield dead_letter_for(item, self.stage, exc)
            return
        self.count(counters)
        if self.report is not None:
            if kept is None:
                self.report.drop(counters, item.url)
            elif len(kept.text) != len(item.text):
                self.report.touched(self.stage)
        if kept is not None:
            yield kept
        elif self.record_drops:
            yield from self.drop_records(item, counters)

    def _provisionally(self, pending: Pending) -> Pending:
        if not pending.keep:
            return pending
        try:
            kept, counters = self.decide(pending.page)
        except Exception as exc:
            dead = dead_letter_for(pending.page, self.stage, exc)
            return pending._replace(page=pending.page._replace(text=""), keep=False, dead=dead)
        merged = _merged(pending.counters, counters)
        if kept is None:
            return Pending(pending.page._replace(text=""), merged, keep=False)
        return Pending(kept, merged)


def _merged(
    counters: tuple[tuple[str, int], ...], more: Mapping[str, int]
) -> tuple[tuple[str, int], ...]:
    """``Counter(dict(counters)) + Counter(more)`` as pairs (positive counts, first seen first),
    without building two Counters per page."""
    total = dict(counters)
    for key, value in more.items():
        total[key] = total.get(key, 0) + value
    return tuple((key, value) for key, value in total.items() if value > 0)


class SplitPages(beam.PTransform):
    """A union stream -> ``(pages, everything else)``; pages are ``Page``, ``Pending`` or
    ``Settled``."""

    def expand(self, stream: beam.PCollection) -> tuple[beam.PCollection, beam.PCollection]:
        pages = stream | "Pages" >> beam.Filter(is_page_like)
        rest = stream | "Rest" >> beam.Filter(is_not_page)
        return pages, rest


class SplitStage(beam.PTransform):
    """A union stream -> ``(docs or pages, dead_letters, counters)``, by type, no tagged outputs."""

    def expand(
        self, stream: beam.PCollection
    ) -> tuple[beam.PCollection, beam.PCollection, beam.PCollection]:
        docs = stream | "Docs" >> beam.Filter(is_doc)
        dead = stream | "DeadLetters" >> beam.Filter(is_dead_letter)
        counters = stream | "Counters" >> beam.Filter(is_counters)
        return docs, dead, counters


def is_not_doc(x: object) -> bool:
    return not is_doc(x)


def is_doc(x: object) -> bool:
    """A document of the final stream, ``(split, page)``, or a page of an earlier one."""
    return type(x) is tuple or isinstance(x, Page)


class PageStage(beam.PTransform):
    """A composite around one ``PageStageFn``: a union stream in, the same kind of stream out."""

    def __init__(self, fn: PageStageFn) -> None:
        super().__init__()
        self._fn = fn

    def expand(self, stream: beam.PCollection) -> beam.PCollection:
        return stream | "Decide" >> beam.ParDo(self._fn)
