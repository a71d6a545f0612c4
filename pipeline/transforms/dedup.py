"""DedupText: cross-document dedup of lines (2.x/3.x) or three-sentence windows (1.0.0).

Two shuffles, both on 16-byte md5 digests (``filters.dedup``), never a set of all lines in memory:

1. ``(key, Vote)`` per distinct line (or window) of each page -> ``CombinePerKey(VoteCombineFn)``:
   the smallest owner digest wins the key. The combiner lifts, so a line that occurs 10^6 times
   costs one vote per bundle, not 10^6 values on one worker (hot keys are free).
2. The keys each winner KEEPS, as ``(owner, key)``, are joined (``CoGroupByKey``) with the pages
   keyed by their owner digest; a page loses every key of its own that it was not sent. A page's
   group holds at most its own keys, so no group grows with the corpus.

Shipping kept keys rather than lost ones is what makes step 1 liftable: knowing every loser of a
key needs all of its votes in one place (a GroupByKey), knowing the winner does not.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam

from filters import dedup
from filters.records import Page
from filters.sentences import load_punkt
from filters.spec import C4Rules
from pipeline.transforms.common import (
    Counters,
    CountingDoFn,
    PageStageFn,
    SplitStage,
    is_counters,
)

Key = bytes
Owner = bytes


class VoteCombineFn(beam.CombineFn):
    """``filters.dedup.merge_votes`` as a CombineFn (associative, commutative, liftable)."""

    def create_accumulator(self) -> dedup.Vote | None:
        return None

    def add_input(self, acc: dedup.Vote | None, vote: dedup.Vote) -> dedup.Vote:
        return vote if acc is None else dedup.merge_votes(acc, vote)

    def merge_accumulators(self, accumulators: Iterable[dedup.Vote | None]) -> dedup.Vote | None:
        out: dedup.Vote | None = None
        for acc in accumulators:
            if acc is not None:
                out = acc if out is None else dedup.merge_votes(out, acc)
        return out

    def extract_output(self, acc: dedup.Vote | None) -> dedup.Vote | None:
        return acc

    def compact(self, acc: dedup.Vote | None) -> dedup.Vote | None:
        return acc


class _KeysFn(beam.DoFn):
    """A page -> its ``(key, Vote)`` pairs (windows need punkt, loaded once per worker)."""

    def __init__(self, rules: C4Rules) -> None:
        super().__init__()
        self._rules = rules
        self._sentences: Any = None

    def setup(self) -> None:
        if self._rules.dedup_unit == "span":
            self._sentences = load_punkt()

    def process(self, page: Page) -> Iterator[tuple[Key, dedup.Vote]]:
        if self._rules.dedup_unit == "span":
            yield from dedup.emit_window_keys(page, self._rules, self._sentences)
        else:
            yield from dedup.emit_line_keys(page, self._rules)


class _KeptByWinnerFn(CountingDoFn):
    """``(key, combined vote)`` -> ``(winner, key)`` if the winner keeps it; legacy counters."""

    def __init__(self, rules: C4Rules) -> None:
        super().__init__()
        self._rules = rules

    def process(self, item: tuple[Key, dedup.Vote]) -> Iterator[tuple[Owner, Key] | Counters]:
        key, combined = item
        if not dedup.loses(combined, combined.owner, self._rules):
            yield combined.owner, key
        counters = {k: v for k, v in dedup.key_counters(combined, self._rules).items() if v}
        if counters:
            yield self.counted(counters)


class _ApplyFn(PageStageFn):
    """``(owner, {"page": [Page], "kept": [key...]})`` -> the page without the keys it lost."""

    def __init__(self, rules: C4Rules) -> None:
        super().__init__()
        self._rules = rules
        self._sentences: Any = None
        self._kept: frozenset[bytes] = frozenset()
        self.stage = (
            dedup.WINDOWS_NAMESPACE if rules.dedup_unit == "span" else dedup.LINES_NAMESPACE
        )

    def setup(self) -> None:
        self._sentences = load_punkt()

    def decide(self, page: Page) -> tuple[Page | None, Counters]:
        rules, kept = self._rules, self._kept
        if rules.dedup_unit == "span":
            keys = dedup.page_window_hashes(page.text, self._sentences)
            lost = {k for k in keys if k not in kept}
            result = dedup.remove_windows(page.text, lost, rules, self._sentences)
        else:
            hashes = dedup.page_line_hashes(page.text, rules)
            lost = {h for h in hashes if h not in kept}
            result = dedup.remove_lines(page.text, lost, rules, self._sentences, hashes=hashes)
        counters = dict(result.counters)
        if result.text is None:
            return None, counters
        return page._replace(text=result.text), counters

    def process(self, item: Any) -> Iterator[Any]:  # type: ignore[override]
        _, grouped = item
        # One page per owner digest after URL dedup; more would be two URLs with one md5.
        self._kept = frozenset(grouped["kept"])
        for page in grouped["page"]:
            yield from super().process(page)
        self._kept = frozenset()


def _by_owner(rules: C4Rules) -> Any:
    def key(page: Page) -> tuple[Owner, Page]:
        return dedup.owner_digest(page, rules), page

    return key


def _is_pair(x: object) -> bool:
    return not isinstance(x, dict)


class DedupText(beam.PTransform):
    """Pages -> ``(pages, dead_letters, counters)`` with duplicated text removed across pages."""

    def __init__(self, rules: C4Rules) -> None:
        super().__init__()
        self._rules = rules

    def expand(
        self, pages: beam.PCollection
    ) -> tuple[beam.PCollection, beam.PCollection, beam.PCollection]:
        rules = self._rules
        winners = (
            pages
            | "EmitKeys" >> beam.ParDo(_KeysFn(rules))
            | "SmallestOwner" >> beam.CombinePerKey(VoteCombineFn())
            | "KeptByWinner" >> beam.ParDo(_KeptByWinnerFn(rules))
        )
        kept = winners | "KeptPairs" >> beam.Filter(_is_pair)
        key_counters = winners | "KeyCounters" >> beam.Filter(is_counters)
        keyed = pages | "KeyByOwner" >> beam.Map(_by_owner(rules))
        out = (
            {"page": keyed, "kept": kept}
            | "JoinKept" >> beam.CoGroupByKey()
            | "RemoveLost" >> beam.ParDo(_ApplyFn(rules))
        )
        new_pages, dead, counters = out | "Split" >> SplitStage()
        all_counters = (counters, key_counters) | "Counters" >> beam.Flatten()
        return new_pages, dead, all_counters
