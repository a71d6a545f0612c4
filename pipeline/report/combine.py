"""The report's merges: tallies summed exactly, samples merged, every kind cut to its bounded top.

``ReportParts`` takes what the stages emitted beside the documents (their ``TallyBatch``\\ es and
``SamplePart``\\ s, dead letters, counters) flattened with the build's stats dict, and returns one
``("", parts)`` element whose parts ``merge_parts`` turns into, per kind, the items the report
keeps (``filters/report.py``'s ``limit_of``).

Tallies are summed exactly in ``buckets`` key ranges (crc32 of the key): every ``(kind, key)`` is
summed whole in one bucket, so the top ``k`` of each bucket holds every key of the overall top
``k``, and no worker holds more than a bucket's keys; the buckets grow with the input, as line
dedup's do. A bundle's tallies travel as one table per bucket, not one element per key. Samples
merge per kind. Everything is exact and order-free, so the result depends on the data only.

Two ``GroupByKey``\\ s, not ``CombinePerKey``\\ s: what crosses them is already summed per bundle,
so lifting would save little, and Beam spends several times the CPU applying a ``CombinePerKey``
(~12 ms) as a ``GroupByKey`` (~3 ms) when it builds the graph, which on a small build is a good
part of what the whole report may cost. Each group is merged as it is read, keeping only sums of
its bucket or the best items of its kind.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import apache_beam as beam

from filters import report as rules
from filters.records import DeadLetter
from filters.report import SamplePart, TallyBatch
from pipeline import summary
from pipeline.report.aggregates import STATS_KIND

Parts = dict[str, list[Any]]
Part = tuple[str, list[Any]]
Table = dict[tuple[str, str], int]
# Tally buckets per input file, and their bounds (as pipeline.transforms.dedup.vote_buckets).
BUCKETS_PER_FILE = 4
MAX_BUCKETS = 1 << 16
TALLY, SAMPLE, STATS = "tally", "sample", "stats"


def tally_buckets(n_files: int) -> int:
    """How many key ranges a build over ``n_files`` input files sums its tallies in."""
    return max(BUCKETS_PER_FILE, min(MAX_BUCKETS, BUCKETS_PER_FILE * n_files))


def bucket_of(key: str, buckets: int) -> int:
    """The tally bucket of a key (crc32: the same in every process, unlike ``hash``)."""
    return zlib.crc32(key.encode("utf-8")) % buckets


def dead_letter_row(letter: DeadLetter) -> tuple[str, str, int]:
    """A dead letter as a tally row: its stage and the first word of its reason."""
    reason = letter.reason.split(":", 1)[0].strip()[:80] or "unknown"
    return rules.DEAD_LETTER, f"{letter.stage}\t{reason}", 1


def is_stats(item: object) -> bool:
    """The build's stats (stats.json's content), not a stage's partial counters."""
    return isinstance(item, dict) and "reconciliation" in item


def keyed(item: Any, buckets: int) -> Iterator[tuple[tuple[str, Any], Any]]:
    """An element beside the documents, keyed for grouping: a table of tallies per bucket, a
    sample by kind, the stats; partial counters and anything else are not the report's."""
    if isinstance(item, SamplePart):
        yield (SAMPLE, item.kind), item
        return
    if isinstance(item, DeadLetter):
        rows: tuple[tuple[str, str, int], ...] = (dead_letter_row(item),)
    elif isinstance(item, TallyBatch):
        rows = item.rows
    elif is_stats(item):
        yield (STATS, ""), summary.json_text(item)
        return
    else:
        return
    tables: dict[int, Table] = {}
    for kind, key, n in rows:
        table = tables.setdefault(bucket_of(key, buckets), {})
        table[kind, key] = table.get((kind, key), 0) + n
    for bucket, table in sorted(tables.items()):
        yield (TALLY, bucket), table


def merged(group: tuple[tuple[str, Any], Iterable[Any]]) -> Iterator[tuple[str, Part]]:
    """A group -> its parts: a bucket's tables summed, then per kind its top items; a kind's
    samples merged; the stats as they are."""
    (what, key), values = group
    if what == STATS:
        for text in values:
            yield "", (STATS_KIND, [(0, text)])
        return
    if what == SAMPLE:
        limit = rules.limit_of(key)
        items: list[Any] = []
        for part in values:
            items = rules.merge_smallest([items, part.items], limit)
        yield "", (key, items)
        return
    total: Table = {}
    for table in values:
        for name, n in table.items():
            total[name] = total.get(name, 0) + n
    per_kind: dict[str, list[tuple[int, str]]] = {}
    for (kind, name), n in total.items():
        per_kind.setdefault(kind, []).append(rules.tally_item(name, n))
    for kind, found in sorted(per_kind.items()):
        yield "", (kind, rules.smallest(found, rules.limit_of(kind)))


def merge_parts(parts: Iterable[Part]) -> Parts:
    """Parts -> per kind, its ``limit_of(kind)`` smallest items, sorted; held parts are cut back
    to the limit once a kind holds twice as many, so memory stays bounded by the limits."""
    held: Parts = {}
    for kind, items in parts:
        found = held.setdefault(kind, [])
        found.extend(items)
        if len(found) > 2 * rules.limit_of(kind):
            held[kind] = rules.smallest(found, rules.limit_of(kind))
    return {k: rules.smallest(v, rules.limit_of(k)) for k, v in sorted(held.items())}


def split_stats(parts: Mapping[str, list[Any]]) -> tuple[str, Parts]:
    """``(stats.json text, the other parts)``."""
    rest = dict(parts)
    return rest.pop(STATS_KIND)[0][1], rest


class ReportParts(beam.PTransform):  # type: ignore[misc]
    """What the stages emitted beside the documents, and the stats -> one ``("", parts)``."""

    def __init__(self, buckets: int = BUCKETS_PER_FILE) -> None:
        super().__init__()
        self._buckets = buckets

    def expand(self, emitted: beam.PCollection) -> beam.PCollection:
        return (
            emitted
            | "Keyed" >> beam.FlatMap(keyed, buckets=self._buckets)
            | "GroupParts" >> beam.GroupByKey()
            | "MergeGroups" >> beam.FlatMap(merged)
            | "GatherParts" >> beam.GroupByKey()
        )
