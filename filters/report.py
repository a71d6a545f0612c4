"""What a build's report counts, pure: sample keys, tallies, bounded samples, histograms.

No Beam and no I/O: the Beam side is ``pipeline/report/``. Every aggregate here is a function of
the data alone, whatever order it arrives in and however a runner cuts it into bundles, so the
report is byte-identical across reruns and runners like every other output.

- A *tally* counts ``(kind, key)`` pairs: pages dropped per reason and domain, kept documents per
  domain and TLD, languages detected, pages a stage changed, dead letters per reason. A stage adds
  to a ``Tallies`` per bundle and emits it as one ``TallyBatch`` (as counters travel); the exact
  sums are taken by a shuffle, and only each kind's top ``k`` by ``(-count, key)`` is kept
  (``smallest``), so memory is bounded however many domains there are.
- A *sample* is the ``k`` items with the smallest ``sample_key`` (64 bits of BLAKE2b of a doc_id
  or a URL; never Python's ``hash``, which is salted per process): a bottom-k sample, mergeable in
  any order, and coordinated across builds: two builds sample a URL alike, so comparing their
  samples finds documents present in one build only (``only_in``).
- Histograms have fixed 1-2-5 bins, so two builds' histograms overlay bin for bin.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple, TypeVar

from filters.lineage import document_domain

# Tally kinds. A drop is tallied under ``drop:<counter>`` (the TFDS counter of the reason).
DROP_PREFIX = "drop:"
DOMAIN = "domain"  # kept documents per domain
TLD = "tld"  # kept documents per top-level domain
LANGUAGE = "language"  # pages per top language at the language filter
LANGUAGE_UNSURE = "language-unsure"  # ... of which the detector was below the threshold
TOUCHED = "touched"  # pages a stage kept but changed (lines removed), per stage namespace
DEAD_LETTER = "dead-letter"  # dead letters per "stage<TAB>reason" (the reason's first word)
# Sample kinds: raw pages as read (before any rule) and kept documents.
RAW_SAMPLE = "sample:raw"
KEPT_SAMPLE = "sample:kept"
# How many of each kind survive (a tally kind's top k; a sample's k).
LIMITS: dict[str, int] = {
    DOMAIN: 100,
    TLD: 50,
    LANGUAGE: 200,
    LANGUAGE_UNSURE: 200,
    TOUCHED: 100,
    DEAD_LETTER: 100,
    RAW_SAMPLE: 300,
    KEPT_SAMPLE: 300,
}
DROP_LIMIT = 10
# Kept documents of the sample that the report lists (with an excerpt), and the excerpt's length.
DOCUMENT_SAMPLE = 200
EXCERPT_CHARS = 160
# A page's words are counted on its first this many characters (a raw page that long is one the
# length filter drops, at 190,000); it bounds what a sample holds while its bundle runs: at most
# 1.25 k texts of this size.
WORDS_CAP_CHARS = 200_000
NO_DOMAIN = "(none)"

# Bin edges: bin i holds edges[i] <= value < edges[i + 1]; the last bin is open.
CHAR_EDGES: tuple[int, ...] = (0, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000,
                               100_000, 200_000)  # fmt: skip
WORD_EDGES: tuple[int, ...] = (0, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000)
LINE_EDGES: tuple[int, ...] = (0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000)
EDGES: dict[str, tuple[int, ...]] = {"chars": CHAR_EDGES, "words": WORD_EDGES, "lines": LINE_EDGES}

T = TypeVar("T")
_blake2b = hashlib.blake2b


def sample_key(value: str) -> bytes:
    """8 bytes of BLAKE2b of ``value``: the order samples are drawn in, the same everywhere
    (bytes compare as their big-endian number)."""
    return _blake2b(value.encode("utf-8"), digest_size=8).digest()


def key_hex(key: bytes) -> str:
    """A sample key as 16 hex digits (JSON numbers lose bits past 2**53)."""
    return key.hex()


# The domain a document is tallied under: lineage's (its fast path serves both).
url_domain = document_domain


def tld_of(domain: str) -> str:
    """The last label of a domain (``uk`` of ``bbc.co.uk``); ``(none)`` without a domain."""
    if not domain:
        return NO_DOMAIN
    return domain.rpartition(".")[2]


def is_page_drop(counter: str) -> bool:
    """Whether a counter a decision returned names a page drop (``ns/filtered[:reason]``).

    Aliases (``badwords-filter-en/filtered``) pass too; the report keeps only the counters
    ``pipeline.summary.is_drop_counter`` accepts, as stats.json does.
    """
    name = counter.rpartition("/")[2]
    return name == "filtered" or name.startswith("filtered:")


class TallyBatch(NamedTuple):
    """One bundle's tallies: ``(kind, key, count)`` rows, sorted."""

    rows: tuple[tuple[str, str, int], ...]


class SamplePart(NamedTuple):
    """One bundle's sample of a kind: its items, sorted, at most the kind's limit."""

    kind: str
    items: list[tuple[Any, ...]]


class Tallies:
    """``(kind, key)`` counts of one bundle (``add``, ``add_drop``), emitted as a ``TallyBatch``."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str], int] = {}

    def __bool__(self) -> bool:
        return bool(self._counts)

    def add(self, kind: str, key: str, n: int = 1) -> None:
        counts = self._counts
        counts[kind, key] = counts.get((kind, key), 0) + n

    def add_drop(self, counters: Mapping[str, int], url: str, n: int = 1) -> None:
        """A page dropped with ``counters`` (its decision's): one per drop counter, by domain."""
        domain = ""
        for name in counters:
            if is_page_drop(name):
                domain = domain or url_domain(url) or NO_DOMAIN
                self.add(DROP_PREFIX + name, domain, n)

    def batch(self) -> TallyBatch:
        """The counts so far as one batch; the tallies start again from nothing."""
        rows = tuple(sorted((kind, key, n) for (kind, key), n in self._counts.items()))
        self._counts = {}
        return TallyBatch(rows)


class Recorder:
    """What a stage saw in one bundle, for the report: tallies and samples.

    The stages of a build that writes a report each hold one (``CountingDoFn.report``) and tell
    it what they decide: pages dropped (``drop``) or changed (``touched``), the language detected
    (``language``), each raw page as read (``raw_page``) and each document kept (``kept``). At
    the end of a bundle ``parts()`` gives a ``TallyBatch`` and ``SamplePart``\\ s to emit.

    The words of a sampled page are counted when its bundle ends, for the pages still in the
    sample only: counting every page's words would cost more than the whole report may. And a
    recorder remembers, from bundle to bundle, the ``k`` smallest keys it has sampled: no page
    with a larger key than the ``k``-th can be among the ``k`` smallest of the whole build (those
    ``k`` pages are in it, whatever bundle, retried or not, they end up committed in), so later
    bundles consider fewer pages.

    Args:
        normalized_url: the documents' ``url`` feature is their normalized url (1.0.0).
    """

    def __init__(self, normalized_url: bool = False) -> None:
        self.normalized_url = normalized_url
        self.tallies = Tallies()
        self._raw: BottomK | None = None
        self._kept: BottomK | None = None
        self._raw_seen: list[tuple[Any, ...]] = []  # the k smallest (key, name) sampled so far
        self._kept_seen: list[tuple[Any, ...]] = []

    def reset(self) -> None:
        """Start a bundle: nothing recorded (the keys seen stay)."""
        self.tallies = Tallies()
        self._raw = self._kept = None

    def drop(self, counters: Mapping[str, int], url: str, n: int = 1) -> None:
        self.tallies.add_drop(counters, url, n)

    def touched(self, stage: str) -> None:
        self.tallies.add(TOUCHED, stage)

    def language(self, language: str, unsure: bool) -> None:
        self.tallies.add(LANGUAGE, language)
        if unsure:
            self.tallies.add(LANGUAGE_UNSURE, language)

    def raw_page(self, doc_id: str, text: str) -> None:
        sample = self._raw
        if sample is None:
            sample = self._raw = BottomK(LIMITS[RAW_SAMPLE], _ceiling(self._raw_seen, RAW_SAMPLE))
        key = _blake2b(doc_id.encode("utf-8"), digest_size=8).digest()
        if sample.accepts((key, doc_id)):
            # Words and lines wait for the bundle's end (most pages leave the sample before);
            # only the first WORDS_CAP_CHARS characters are held, so a longer page's lines are
            # counted now.
            lines = _lines(text) if len(text) > WORDS_CAP_CHARS else -1
            sample.offer((key, doc_id, len(text), lines, text[:WORDS_CAP_CHARS]))

    def kept(self, split: str, page: Any, domain: str | None = None) -> None:
        """A document kept: ``page`` is a ``filters.records.Page``; ``domain`` the one lineage
        recorded, when known (else ``url_domain`` of the page's url)."""
        url = page.normalized_url if self.normalized_url else page.url
        if domain is None:
            domain = url_domain(page.url or url)
        self.tallies.add(DOMAIN, domain or NO_DOMAIN)
        self.tallies.add(TLD, tld_of(domain))
        sample = self._kept
        if sample is None:
            sample = self._kept = BottomK(
                LIMITS[KEPT_SAMPLE], _ceiling(self._kept_seen, KEPT_SAMPLE)
            )
        key = _blake2b(url.encode("utf-8"), digest_size=8).digest()
        if sample.accepts((key, url)):
            sample.offer((key, url, split, page))

    def parts(self) -> list[TallyBatch | SamplePart]:
        """This bundle's tallies and samples (sorted); the recorder starts again from nothing."""
        out: list[TallyBatch | SamplePart] = []
        if self.tallies:
            out.append(self.tallies.batch())
        if self._raw is not None:
            items = [
                (key, doc_id, chars, len(text.split()), lines if lines >= 0 else _lines(text))
                for key, doc_id, chars, lines, text in self._raw.items()
            ]
            self._raw_seen = _seen(self._raw_seen, items, RAW_SAMPLE)
            out.append(SamplePart(RAW_SAMPLE, items))
        if self._kept is not None:
            kept = [kept_item(*item) for item in self._kept.items()]
            self._kept_seen = _seen(self._kept_seen, kept, KEPT_SAMPLE)
            out.append(SamplePart(KEPT_SAMPLE, kept))
        self.reset()
        return out


def _seen(
    seen: list[tuple[Any, ...]], items: Sequence[tuple[Any, ...]], kind: str
) -> list[tuple[Any, ...]]:
    """The ``limit`` smallest ``(key, name)`` of ``seen`` and of a bundle's sorted items."""
    return merge_smallest([seen, [tuple(item[:2]) for item in items]], LIMITS[kind])


def _ceiling(seen: list[tuple[Any, ...]], kind: str) -> tuple[Any, ...] | None:
    """Above this ``(key, name)`` no item can be among a kind's smallest (``Recorder``)."""
    return seen[-1] if len(seen) == LIMITS[kind] else None


def _lines(text: str) -> int:
    return text.count("\n") + 1 if text else 0


def kept_item(key: bytes, url: str, split: str, page: Any) -> tuple[Any, ...]:
    """A kept-sample item: key, url, split, doc_id, source_file, record_offset, chars, words,
    lines, excerpt (``pipeline.report.aggregates.KEPT_FIELDS``)."""
    size = lengths_of(page.text)
    return (key, url, split, page.doc_id, page.source_file, int(page.record_offset),
            size.chars, size.words, size.lines, excerpt(page.text))  # fmt: skip


def limit_of(kind: str) -> int:
    """How many items of ``kind`` the report keeps."""
    return DROP_LIMIT if kind.startswith(DROP_PREFIX) else LIMITS.get(kind, 100)


def tally_item(key: str, count: int) -> tuple[int, str]:
    """A summed tally as an item ``smallest`` ranks: most counted first, then by key."""
    return (-count, key)


def smallest(items: Iterable[T], k: int) -> list[T]:
    """The ``k`` smallest items, sorted (items compare whole: make their first fields unique)."""
    return heapq.nsmallest(k, items)  # type: ignore[type-var]


def merge_smallest(lists: Iterable[Sequence[T]], k: int) -> list[T]:
    """``smallest`` of sorted lists merged: the same whatever the lists' order or cut."""
    return list(itertools.islice(heapq.merge(*lists), k))  # type: ignore[type-var]


class BottomK:
    """The ``k`` smallest items offered, kept in at most ``1.25 k`` slots between trims.

    ``accepts(prefix)`` tells before an item is built whether it could still be among the ``k``
    smallest (items are tuples; ``prefix`` is their first fields), so a stage pays for building
    only the items that might stay.
    """

    def __init__(self, k: int, ceiling: tuple[Any, ...] | None = None) -> None:
        self.k = k
        self._ceiling = ceiling  # no item whose prefix is above it can belong (Recorder)
        self._items: list[tuple[Any, ...]] = []
        self._bound: tuple[Any, ...] | None = None

    def accepts(self, prefix: tuple[Any, ...]) -> bool:
        if self._ceiling is not None and prefix > self._ceiling:
            return False
        return self._bound is None or prefix <= self._bound[: len(prefix)]

    def offer(self, item: tuple[Any, ...]) -> None:
        if self._bound is not None and item >= self._bound:
            return
        self._items.append(item)
        if len(self._items) >= self.k + max(16, self.k // 4):
            self._trim()

    def _trim(self) -> None:
        self._items.sort()
        del self._items[self.k :]
        if len(self._items) == self.k:
            self._bound = self._items[-1]

    def items(self) -> list[tuple[Any, ...]]:
        """The ``k`` smallest, sorted; the sample starts again from nothing."""
        self._trim()
        items, self._items, self._bound = self._items, [], None
        return items


class Lengths(NamedTuple):
    """A text's size three ways: characters, whitespace-separated words, lines."""

    chars: int
    words: int
    lines: int


def lengths_of(text: str) -> Lengths:
    """``Lengths`` of a text; words are counted on its first ``WORDS_CAP_CHARS`` characters."""
    return Lengths(len(text), len(text[:WORDS_CAP_CHARS].split()), _lines(text))


def histogram(values: Iterable[int], edges: Sequence[int]) -> list[int]:
    """Counts per bin: bin ``i`` holds ``edges[i] <= v < edges[i + 1]``, the last bin is open."""
    counts = [0] * len(edges)
    for value in values:
        lo, hi = 0, len(edges) - 1
        while lo < hi:  # the last edge <= value
            mid = (lo + hi + 1) // 2
            if edges[mid] <= value:
                lo = mid
            else:
                hi = mid - 1
        counts[lo] += 1
    return counts


def quantiles(values: Iterable[int], points: Sequence[int] = (10, 50, 90)) -> list[int]:
    """Nearest-rank percentiles of ``values`` (``[]`` for none)."""
    ordered = sorted(values)
    if not ordered:
        return []
    return [ordered[max(0, -(-p * len(ordered) // 100) - 1)] for p in points]


def length_summary(rows: Sequence[Lengths]) -> dict[str, Any]:
    """Histograms, percentiles and means of a sample's lengths, for ``aggregates.json``."""
    out: dict[str, Any] = {"sample": len(rows)}
    for field, edges in EDGES.items():
        values = [getattr(r, field) for r in rows]
        out[field] = {
            "edges": list(edges),
            "counts": histogram(values, edges),
            "p10_p50_p90": quantiles(values),
            "mean": round(sum(values) / len(values), 1) if values else 0.0,
        }
    return out


def excerpt(text: str) -> str:
    """The start of a text on one line, for the report's sample of documents."""
    return " ".join(text[: EXCERPT_CHARS * 2].split())[:EXCERPT_CHARS]


def only_in(
    ours: Sequence[Mapping[str, Any]], theirs: Sequence[Mapping[str, Any]], complete: bool
) -> list[Mapping[str, Any]]:
    """Documents of our sample that the other build does not hold, from the two samples alone.

    Both samples are the smallest sample keys of each build's URLs. Below the other sample's
    largest key (or anywhere, if it holds every document: ``complete``) a URL missing from it is
    missing from the other build; above it nothing can be said, so those are left out.
    """
    bound = None if complete or not theirs else theirs[-1]["key"]
    present = {d["url"] for d in theirs}
    return [d for d in ours if d["url"] not in present and (bound is None or d["key"] <= bound)]
