"""The report's combiners: tallies summed exactly, then every kind cut to its bounded top.

``ReportParts`` takes two collections: what the stages and taps emitted (``TallyBatch``\\ es and
``SamplePart``\\ s) and the build's stats dict (one element), and returns one element: per kind,
the items the report keeps (``filters/report.py``'s ``limit_of``).

Tallies are summed exactly in ``buckets`` key ranges (crc32 of the key): every ``(kind, key)``
is summed whole in one bucket, so the top ``k`` of each bucket holds every key of the overall top
``k``, and no worker holds more than a bucket's keys. The buckets grow with the input, as line
dedup's do. A bundle's tallies travel as one table per bucket, not one element per key: on a
small build, per-element overhead would be most of what the report costs. Sample parts merge
per kind. Then all parts meet in one ``ReportCombineFn``. Everything is exact and order-free,
so the result depends on the data only.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam

from filters import report as rules
from pipeline import summary
from pipeline.report.aggregates import STATS_KIND
from pipeline.report.taps import SamplePart

Parts = dict[str, list[Any]]
Part = tuple[str, list[Any]]
Table = dict[tuple[str, str], int]
# Per key: a bucket's summed tallies, or a sample kind's merged items.
Summed = Table | SamplePart | None
# Tally buckets per input file, and their bounds (as pipeline.transforms.dedup.vote_buckets).
BUCKETS_PER_FILE = 4
MAX_BUCKETS = 1 << 16


def tally_buckets(n_files: int) -> int:
    """How many key ranges a build over ``n_files`` input files sums its tallies in."""
    return max(BUCKETS_PER_FILE, min(MAX_BUCKETS, BUCKETS_PER_FILE * n_files))


def _merge(acc: Summed, value: Summed) -> Summed:
    if acc is None:
        return dict(value) if isinstance(value, dict) else value
    if isinstance(acc, dict):
        assert isinstance(value, dict)
        for key, n in value.items():
            acc[key] = acc.get(key, 0) + n
        return acc
    assert isinstance(value, SamplePart)
    items = rules.merge_smallest([acc.items, value.items], rules.limit_of(acc.kind))
    return SamplePart(acc.kind, items)


class SumFn(beam.CombineFn):  # type: ignore[misc]
    """Per bucket: tables of ``(kind, key) -> count`` summed; per sample kind: bundles merged
    (sorted lists: the ``limit_of(kind)`` smallest of their union)."""

    def create_accumulator(self) -> Summed:
        return None

    def add_input(self, acc: Summed, value: Summed) -> Summed:
        return _merge(acc, value)

    def merge_accumulators(self, accumulators: Iterable[Summed]) -> Summed:
        out: Summed = None
        for acc in accumulators:
            if acc is not None:
                out = _merge(out, acc)
        return out

    def extract_output(self, acc: Summed) -> Summed:
        return acc


class ReportCombineFn(beam.CombineFn):  # type: ignore[misc]
    """``(kind, items)`` parts -> per kind, its ``limit_of(kind)`` smallest items, sorted.

    Parts are appended and cut back to the limit once a kind holds twice as many, so memory is
    bounded by the kinds' limits, not by the number of keys.
    """

    def create_accumulator(self) -> Parts:
        return {}

    def add_input(self, acc: Parts, part: Part) -> Parts:
        kind, items = part
        held = acc.setdefault(kind, [])
        held.extend(items)
        limit = rules.limit_of(kind)
        if len(held) > 2 * limit:
            acc[kind] = rules.smallest(held, limit)
        return acc

    def merge_accumulators(self, accumulators: Iterable[Parts]) -> Parts:
        merged: Parts = {}
        for acc in accumulators:
            for kind, items in acc.items():
                self.add_input(merged, (kind, items))
        return merged

    def extract_output(self, acc: Parts) -> Parts:
        return {k: rules.smallest(v, rules.limit_of(k)) for k, v in sorted(acc.items())}


def bucket_of(key: str, buckets: int) -> int:
    """The tally bucket of a key (crc32: the same in every process, unlike ``hash``)."""
    return zlib.crc32(key.encode("utf-8")) % buckets


def keyed(
    item: rules.TallyBatch | SamplePart, buckets: int
) -> Iterator[tuple[tuple[str, Any], Summed]]:
    """What a stage or tap emitted, keyed for ``SumFn``: a table per bucket, or the sample."""
    if isinstance(item, SamplePart):
        yield ("sample", item.kind), item
        return
    tables: dict[int, Table] = {}
    for kind, key, n in item.rows:
        table = tables.setdefault(bucket_of(key, buckets), {})
        table[kind, key] = table.get((kind, key), 0) + n
    for bucket, table in sorted(tables.items()):
        yield ("tally", bucket), table


def to_parts(summed: tuple[tuple[str, Any], Summed]) -> Iterator[tuple[str, Part]]:
    """A bucket's sums -> per kind, its top items; a merged sample -> its part."""
    _, value = summed
    if isinstance(value, SamplePart):
        yield "", (value.kind, value.items)
        return
    per_kind: dict[str, list[tuple[int, str]]] = {}
    for (kind, key), n in (value or {}).items():
        per_kind.setdefault(kind, []).append(rules.tally_item(key, n))
    for kind, items in sorted(per_kind.items()):
        yield "", (kind, rules.smallest(items, rules.limit_of(kind)))


def stats_part(stats: dict[str, Any]) -> tuple[str, Part]:
    return "", (STATS_KIND, [(0, summary.json_text(stats))])


class ReportParts(beam.PTransform):  # type: ignore[misc]
    """``(tally batches and sample parts, stats)`` -> one ``("", parts)`` element."""

    def __init__(self, buckets: int = BUCKETS_PER_FILE) -> None:
        super().__init__()
        self._buckets = buckets

    def expand(self, inputs: tuple[beam.PCollection, beam.PCollection]) -> beam.PCollection:
        emitted, stats = inputs
        summed = (
            emitted
            | "Keyed" >> beam.FlatMap(keyed, buckets=self._buckets)
            | "Sum" >> beam.CombinePerKey(SumFn())
            | "ToParts" >> beam.FlatMap(to_parts)
        )
        return (
            (summed, stats | "StatsPart" >> beam.Map(stats_part))
            | "AllParts" >> beam.Flatten()
            | "MergeParts" >> beam.CombinePerKey(ReportCombineFn())
        )
