"""DedupText: cross-document dedup of lines (2.x/3.x) or three-sentence windows (1.0.0).

Two shuffles, both on 16-byte md5 digests (``filters.dedup``), never a set of all lines in memory:

1. Votes: each distinct line (or window) of a page is a ``Vote`` for its owner digest; the smallest
   owner wins the key. Votes are merged in the emitting worker first (one table per bundle,
   flushed every ``FLUSH_VOTES`` votes), then sent as one table of packed rows
   (``pipeline/transforms/vote_rows.py``, 44 bytes a vote) per *vote bucket* (a hash range of the
   keys) to
   ``CombinePerKey(VoteRowsCombineFn)``, which merges the tables of a bucket. A line that occurs
   10^6 times costs one vote per bundle (hot keys are free), and the shuffle carries a few
   tables per bundle instead of one element per line.
2. The keys each winner KEEPS, as tables of ``(owner, key)`` rows per *page bucket* (a hash
   range of the owner digests), are joined (``CoGroupByKey``) with the pages keyed by their page
   bucket; a page loses every key of its own that it was not sent. A group holds the pages of
   one bucket and only their keys, and buckets grow with the input (below), so no group grows
   with the corpus; one element carries the keys of many pages.

Shipping kept keys rather than lost ones is what makes step 1 a combine: knowing every loser of a
key needs all of its votes in one place (a GroupByKey), knowing the winner does not.

Beside its votes, the emitting worker sends per page bucket a table of ``(owner, distinct keys)``
rows (``Whole``, 20 bytes a page: +0.7 % on the join's bytes at 85 MB) for the pages that keep
their text if they own every key they have (3.x: and repeat no line within). A page that kept as
many keys as that lost nothing: the apply step gives its result without hashing its lines again
(``filters.dedup.remove_no_lines``); only the pages that lose a line are hashed twice.

Buckets (``vote_buckets``, the same number for votes and pages) grow with the number of input
files: a sample run has a handful (few, large tables), a crawl of 64k files has 2^20 (about 10^4
keys and a few thousand pages per bucket), so no bucket outgrows a worker.

With ``c4 build --record_drops``, a page this stage drops also sends the keys it lost
(``LostKeys``, per vote bucket) to a third join with the merged votes of the keys that occur more
than once (the only ones a page can lose), which names the owner that won each
(``DropCredit``: owner md5s and how many keys each won). Without it the graph is as above.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindows

from filters import dedup
from filters.records import Page
from filters.sentences import load_punkt
from filters.spec import C4Rules
from pipeline.transforms import vote_rows
from pipeline.transforms.common import (
    Counters,
    CountingDoFn,
    PageStageFn,
    Settled,
    SplitPages,
    is_counters,
    page_of,
)
from pipeline.transforms.drops import (
    DropCredit,
    credits_of,
    drop_record,
    is_lost_keys,
    is_not_lost_keys,
    line_detail,
    lost_key_asks,
    merged_credits,
    pack_drop,
    window_detail,
)
from pipeline.transforms.packing import pack, unpack
from pipeline.transforms.resume import JoinPlan, KeptJoin, answer_key, prime_text_key

# Votes a bundle collects before it merges and ships them (44 bytes each as rows).
FLUSH_VOTES = 200_000
# Tables an accumulator holds before it merges them.
MERGE_EVERY = 16
# Vote buckets per input file, and their bounds (module doc).
BUCKETS_PER_FILE = 8
MAX_BUCKETS = 1 << 20


def vote_buckets(n_files: int) -> int:
    """How many vote buckets a build over ``n_files`` input files uses."""
    return max(BUCKETS_PER_FILE, min(MAX_BUCKETS, BUCKETS_PER_FILE * n_files))


class VoteRowsCombineFn(beam.CombineFn):
    """The serialized vote tables of one bucket -> one merged table
    (``pipeline.transforms.vote_rows``).

    Associative and commutative; the accumulator is a list of tables merged when compacted,
    so adding a table costs nothing until the runner ships or extracts it.
    """

    def create_accumulator(self) -> list[bytes]:
        return []

    def add_input(self, acc: list[bytes], table: bytes) -> list[bytes]:
        acc.append(table)
        # Bounded: a hot bucket's tables are merged as they come, not all held until the end.
        return self.compact(acc) if len(acc) >= MERGE_EVERY else acc

    def merge_accumulators(self, accumulators: Iterable[list[bytes]]) -> list[bytes]:
        return [vote_rows.merge_bytes(t for acc in accumulators for t in acc)]

    def compact(self, acc: list[bytes]) -> list[bytes]:
        return [vote_rows.merge_bytes(acc)] if len(acc) > 1 else acc

    def extract_output(self, acc: list[bytes]) -> bytes:
        return vote_rows.merge_bytes(acc)


class Whole(NamedTuple):
    """Beside ``_KeysFn``'s vote tables: a ``vote_rows.whole_by_bucket`` table for a page bucket
    (the pages that keep their text if they own all their line keys, and how many they have)."""

    bucket: int
    table: bytes


def _is_whole(x: object) -> bool:
    return isinstance(x, Whole)


def _is_votes(x: object) -> bool:
    return not isinstance(x, Whole)


class _KeysFn(beam.DoFn):
    """Pages -> ``(bucket, table)``: the bundle's votes, merged, one table per vote bucket; for
    lines, also ``Whole`` tables (``vote_rows.whole_by_bucket``): with them the apply step
    (``_ApplyFn``) hashes again only the pages that lose a line, not every page."""

    def __init__(self, rules: C4Rules, buckets: int) -> None:
        super().__init__()
        self._rules = rules
        self._buckets = buckets
        self._sentences: Any = None
        self._keys: list[bytes] = []
        self._owners: list[bytes] = []
        self._counts: list[int] = []
        self._whole_owners: list[bytes] = []
        self._whole_counts: list[int] = []

    def setup(self) -> None:
        if self._rules.dedup_unit == "span":
            self._sentences = load_punkt()

    def start_bundle(self) -> None:
        self._keys, self._owners, self._counts = [], [], []
        self._whole_owners, self._whole_counts = [], []

    # Any: a ``Whole`` must not be encoded as the ``(int, bytes)`` the votes are.
    def process(self, item: Page | Settled) -> Iterator[Any]:
        page = page_of(item)
        rules = self._rules
        owner = dedup.owner_digest(page, rules)
        if rules.dedup_unit == "span":
            counted = Counter(dedup.page_window_hashes(page.text, self._sentences))
        else:
            hashes = dedup.page_line_hashes(page.text, rules)
            counted = Counter(hashes)  # ``filters.dedup.votes_for``, as columns
            if dedup.whole_if_owned(len(hashes), len(counted), rules):
                self._whole_owners.append(owner)
                self._whole_counts.append(len(counted))
        self._keys.extend(counted)
        self._owners.extend([owner] * len(counted))
        self._counts.extend(counted.values())
        if len(self._keys) >= FLUSH_VOTES:
            yield from self._flush()

    def finish_bundle(self) -> Iterator[Any]:
        for item in self._flush():
            yield GlobalWindows.windowed_value(item)

    def _flush(self) -> Iterator[Any]:
        rows = vote_rows.merge(vote_rows.rows_of(self._keys, self._owners, self._counts))
        self._keys, self._owners, self._counts = [], [], []
        yield from vote_rows.by_bucket(rows, self._buckets)
        whole = vote_rows.whole_by_bucket(self._whole_owners, self._whole_counts, self._buckets)
        self._whole_owners, self._whole_counts = [], []
        yield from (Whole(bucket, table) for bucket, table in whole)


class _KeptByWinnerFn(CountingDoFn):
    """``(vote bucket, merged table)`` -> ``(page bucket, the (winner, key) pairs kept)``."""

    def __init__(self, rules: C4Rules, buckets: int) -> None:
        super().__init__()
        self._rules = rules
        self._buckets = buckets

    def process(self, item: tuple[int, bytes]) -> Iterator[tuple[int, bytes]]:
        rows = vote_rows.from_bytes(item[1])
        span = self._rules.dedup_unit == "span"
        self.count(vote_rows.key_counters(rows, self._rules.major, span))
        yield from vote_rows.kept_by_bucket(rows, span, self._buckets)


class _ApplyFn(PageStageFn):
    """``(page bucket, {"page": [(owner, packed copy)], "kept": [kept-pair tables], "whole":
    [Whole tables]})`` -> each page without the keys it lost (a packed copy is a ``Page`` or a
    settled ``Pending``). A page its ``Whole`` row says loses nothing if it kept as many keys as
    it has is not hashed again (``filters.dedup.remove_no_lines``)."""

    # ``c4 build --resumable`` (pipeline/transforms/resume.py): the page's answer key is primed
    # for the language stage (``resume.answer_key``).
    resume_dir: str | None = None

    def __init__(self, rules: C4Rules, buckets: int = BUCKETS_PER_FILE) -> None:
        super().__init__()
        self._rules = rules
        self._buckets = buckets
        self._sentences: Any = None
        self._kept: frozenset[bytes] = frozenset()
        self._whole = False  # the page in hand owns all of its keys and repeats none
        self._lost: set[bytes] = set()
        self._packed = b""  # the page in hand as the join carried it
        self.stage = (
            dedup.WINDOWS_NAMESPACE if rules.dedup_unit == "span" else dedup.LINES_NAMESPACE
        )

    def setup(self) -> None:
        self._sentences = load_punkt()

    def decide(self, page: Page) -> tuple[Page | None, Counters]:
        rules, kept = self._rules, self._kept
        if self._whole:
            lost: set[bytes] = set()
            result = dedup.remove_no_lines(page.text, rules, self._sentences)
        elif rules.dedup_unit == "span":
            lines = dedup.split_lines(page.text, self._sentences)  # punkt once, not twice
            keys = dedup.page_window_hashes(page.text, self._sentences, lines)
            lost = {k for k in keys if k not in kept}
            result = dedup.remove_windows(page.text, lost, rules, self._sentences, lines)
        else:
            hashes = dedup.page_line_hashes(page.text, rules)
            lost = {h for h in hashes if h not in kept}
            result = dedup.remove_lines(page.text, lost, rules, self._sentences, hashes=hashes)
        counters = dict(result.counters)
        if result.text is None:
            self._lost = lost
            return None, counters
        if self.resume_dir is not None:  # the language stage's key for the text it gets
            prime_text_key(result.text, answer_key(self._packed, lost, self._whole))
        return page._replace(text=result.text), counters

    def drop_records(self, page: Page, counters: Counters) -> Iterator[Any]:
        span = self._rules.dedup_unit == "span"
        detail = window_detail(counters) if span else line_detail(counters)
        yield drop_record(page, counters, detail=detail)
        owner = dedup.owner_digest(page, self._rules)
        yield from lost_key_asks(page, owner, self._lost, self._buckets)

    def process(self, item: Any) -> Iterator[Any]:  # type: ignore[override]
        _, grouped = item
        kept = vote_rows.kept_keys(grouped["kept"])
        # Absent from a join kept by an earlier version (--resumable): every page is hashed.
        whole = vote_rows.whole_counts(grouped.get("whole", ()))
        empty: frozenset[bytes] = frozenset()
        for owner, packed in grouped["page"]:
            # One page per owner digest after URL dedup; more would be two URLs with one md5.
            self._kept = kept.get(owner, empty)
            # Its kept keys are some of its own: as many means all of them.
            self._whole = whole.get(owner, -1) == len(self._kept)
            self._packed = packed
            yield from super().process(page_of(unpack(packed)))
        self._kept, self._whole = empty, False


class _CreditFn(beam.DoFn):
    """``(vote bucket, {"votes": [duplicated keys' table], "asks": [LostKeys]})`` -> per asking
    page, a ``DropCredit`` naming the owners that won its lost keys."""

    def process(self, item: tuple[int, dict[str, Iterable[Any]]]) -> Iterator[bytes]:
        asks = list(item[1]["asks"])
        if not asks:
            return
        won = vote_rows.winners(item[1]["votes"])
        for ask in asks:
            credits = tuple(credits_of(ask.keys, won, ask.owner).items())
            if credits:
                credit = DropCredit(ask.doc_id, merged_credits([credits]), ask.file_index)
                yield pack_drop(credit)


def _duplicated(item: tuple[int, bytes]) -> Iterator[tuple[int, bytes]]:
    table = vote_rows.duplicated(item[1])
    if table:
        yield item[0], table


def _by_page_bucket(rules: C4Rules, buckets: int) -> Any:
    def key(item: Page | Settled) -> tuple[int, tuple[bytes, bytes]]:
        page = page_of(item)
        packed = item.packed if isinstance(item, Settled) else pack(item)
        owner = dedup.owner_digest(page, rules)
        return vote_rows.owner_bucket(owner, buckets), (owner, packed)

    return key


def _is_pair(x: object) -> bool:
    return not isinstance(x, dict)


class DedupText(beam.PTransform):
    """A union stream -> ``(stream, side)``: duplicated text removed across pages, and the items
    it passed by or counted elsewhere (dead letters, counters), kept apart from the pages.

    ``record_drops``: dropped pages leave ``DropRecord``\\ s, and the side carries a
    ``DropCredit`` per page that lost keys to others (module docstring).

    ``join`` (``c4 build --resumable``): the join is kept (``pipeline.transforms.resume.KeptJoin``)
    with everything else that crosses it (the side, and the items ``(stream, passed_by)`` hands
    over: what ``DedupUrls`` passed by); with a complete plan the input is PBegin, and only what
    follows the join runs.
    """

    def __init__(
        self,
        rules: C4Rules,
        buckets: int = BUCKETS_PER_FILE,
        record_drops: bool = False,
        resume_dir: str | None = None,
        join: JoinPlan | None = None,
    ) -> None:
        super().__init__()
        self._rules = rules
        self._buckets = buckets
        self._record_drops = record_drops
        self._resume_dir = resume_dir
        self._join = join

    def expand(self, stream: Any) -> tuple[beam.PCollection, beam.PCollection]:
        join = self._join
        if join is not None and join.complete:  # everything up to the join was kept: read it
            return self._after_join(*self._kept_parts(stream | "JoinKept" >> KeptJoin(join)))
        passed_by: tuple[beam.PCollection, ...] = ()
        if isinstance(stream, tuple):
            stream, *rest_of = stream
            passed_by = tuple(rest_of)
        rules = self._rules
        pages, rest = stream | "SplitPages" >> SplitPages()
        emitted = pages | "EmitKeys" >> beam.ParDo(_KeysFn(rules, self._buckets))
        merged = (
            emitted
            | "Votes" >> beam.Filter(_is_votes)
            | "SmallestOwner" >> beam.CombinePerKey(VoteRowsCombineFn())
        )
        whole = emitted | "WholeTables" >> beam.Filter(_is_whole) | "KeyWhole" >> beam.Map(tuple)
        winners = merged | "KeptByWinner" >> beam.ParDo(_KeptByWinnerFn(rules, self._buckets))
        kept = winners | "KeptPairs" >> beam.Filter(_is_pair)
        key_counters = winners | "KeyCounters" >> beam.Filter(is_counters)
        keyed = pages | "KeyByPageBucket" >> beam.Map(_by_page_bucket(rules, self._buckets))
        if join is None:
            parts = {"page": keyed, "kept": kept, "whole": whole}
            grouped = parts | "JoinKept" >> beam.CoGroupByKey()
            votes = None
            if self._record_drops:
                votes = merged | "DuplicatedKeys" >> beam.FlatMap(_duplicated)
            return self._after_join(grouped, (key_counters, rest), votes)
        side = (key_counters, rest, *passed_by) | "ToKeep" >> beam.Flatten()
        tagged = {"page": keyed, "kept": kept, "whole": whole, KeptJoin.SIDE: side}
        if self._record_drops:
            tagged["votes"] = merged | "DuplicatedKeys" >> beam.FlatMap(_duplicated)
        return self._after_join(*self._kept_parts(tagged | "JoinKept" >> KeptJoin(join)))

    def _kept_parts(
        self, grouped: beam.PCollection
    ) -> tuple[beam.PCollection, tuple[beam.PCollection, ...], beam.PCollection | None]:
        """A kept join's groups -> ``_after_join``'s arguments: the groups, the side they carry
        and, with ``record_drops``, the duplicated keys' tables."""
        side = grouped | "KeptSide" >> beam.FlatMap(_side_of)
        if not self._record_drops:
            return grouped, (side,), None
        return grouped, (side,), grouped | "KeptVotes" >> beam.FlatMap(_votes_of)

    def _after_join(
        self,
        grouped: beam.PCollection,
        side: tuple[beam.PCollection, ...],
        votes: beam.PCollection | None,
    ) -> tuple[beam.PCollection, beam.PCollection]:
        """The join's groups -> the pages without their lost keys, and the side (``side``, and
        with ``record_drops`` the credits, from ``votes``: the duplicated keys' tables)."""
        apply = _ApplyFn(self._rules, self._buckets)
        apply.record_drops = self._record_drops
        apply.resume_dir = self._resume_dir
        out = grouped | "RemoveLost" >> beam.ParDo(apply)
        if not self._record_drops:
            return out, side | "Side" >> beam.Flatten()
        asks = out | "LostKeys" >> beam.Filter(is_lost_keys)
        credits = (
            {
                "votes": votes,
                "asks": asks | "KeyByVoteBucket" >> beam.Map(lambda ask: (ask.bucket, ask)),
            }
            | "JoinLost" >> beam.CoGroupByKey()
            | "Credit" >> beam.ParDo(_CreditFn())
        )
        out = out | "Pages" >> beam.Filter(is_not_lost_keys)
        return out, (*side, credits) | "Side" >> beam.Flatten()


def _side_of(group: tuple[int, dict[str, list[Any]]]) -> list[Any]:
    return group[1][KeptJoin.SIDE]


def _votes_of(group: tuple[int, dict[str, list[Any]]]) -> Iterator[tuple[int, bytes]]:
    return ((group[0], table) for table in group[1].get("votes", ()))
