"""``DIR/drops/``: every page a rule dropped, with why (``c4 build --record_drops``).

``enable_drops`` turns on the stages' drop records (``pipeline/transforms/drops.py``: the stage
DoFns of the graph get ``record_drops``, as ``pipeline.report.taps`` gives them a recorder),
and ``WriteDrops`` writes them; ``c4 trace`` reads them back (``iter_drops``). Off by default:
without the option no stage makes a record and none of this is in the graph.

One row per dropped page (a ``DropRecord``), never a text:

- ``doc_id``, ``url``: the page (``url`` empty where it had none, and for a page DIR's forget
  ledger blocked);
- ``source_file``, ``record_offset``, ``record_id``: its WET record (``record_offset`` -1: not
  known);
- ``stage``, ``reason``: the counter that counted the drop, ``stage/reason`` a key of stats.json's
  ``reconciliation.dropped``;
- ``detail``: what the rule saw (lines left and removed per line rule, the length, the language);
- ``language``, ``probability``: the language filter's top prediction (null where none);
- ``winner_doc_id``, ``winner_url``: URL dedup's kept copy of the same normalized URL;
- ``credited_to``: line dedup (1.0.0: sentence windows), ``{owner_md5, count}`` of each page that
  kept lines this page lost, most first. ``owner_md5`` is the md5 hex of that page's URL as dedup
  compares it (3.x the URL, 2.x and 1.0.0 the normalized URL); ``c4 trace`` finds the page.

Files: ``DIR/drops/part-NNNNN-of-MMMMM.parquet``, one per ``FILES_PER_SHARD`` input files in
input order (a record's shard is its file's place in the input list), every shard written even
with no row, rows in input order (file, record offset): the files depend on the input and the
configuration only, so they are byte-identical across reruns and runners. ``drops/recorded`` in
stats.json's counters is the number of rows (not a drop reason: the reconciliation is as
before); it equals ``reconciliation.dropped_total``, since every dropped page has its row.

Private Beam APIs: ``apache_beam.pipeline.PipelineVisitor`` (marked "for internal use only"), to
walk the built graph to the stage DoFns that then record their drops, as ``pipeline.report.taps``
does for the report.
"""

from __future__ import annotations

import io
import posixpath
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.pipeline import PipelineVisitor

from pipeline import lineage
from pipeline.transforms.common import CountingDoFn
from pipeline.transforms.drops import (
    DropCredit,
    DropRecord,
    drop_file_index,
    merged_credits,
    unpack_drop,
)
from pipeline.write import join, write_atomic

DROPS_DIR = "drops"
# Input files per drops file: ~40k records a Common Crawl WET file, most of them dropped, ~100
# bytes a row compressed: ~30 MB a file, and a writer holds one file's rows.
FILES_PER_SHARD = 8
# stats.json counter: the rows written.
RECORDED = "drops/recorded"

SCHEMA: pa.Schema = pa.schema(
    [
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("url", pa.string(), nullable=False),
        pa.field("source_file", pa.string(), nullable=False),
        pa.field("record_offset", pa.int64(), nullable=False),
        pa.field("record_id", pa.string(), nullable=False),
        pa.field("stage", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("detail", pa.string(), nullable=False),
        pa.field("language", pa.string(), nullable=False),
        pa.field("probability", pa.float64()),
        pa.field("winner_doc_id", pa.string(), nullable=False),
        pa.field("winner_url", pa.string(), nullable=False),
        pa.field(
            "credited_to",
            pa.list_(
                pa.struct(
                    [
                        pa.field("owner_md5", pa.string(), nullable=False),
                        pa.field("count", pa.int64(), nullable=False),
                    ]
                )
            ),
            nullable=False,
        ),
    ]
)
COLUMNS: tuple[str, ...] = tuple(SCHEMA.names)


class _Enabling(PipelineVisitor):  # type: ignore[misc]
    """Private Beam API (``PipelineVisitor``, as ``pipeline.report.taps``): reaches the DoFn
    objects the ``ParDo``\\ s hold before the graph is serialized."""

    def __init__(self) -> None:
        self.count = 0

    def visit_transform(self, node: Any) -> None:
        fn = getattr(node.transform, "fn", None)
        if isinstance(fn, CountingDoFn):
            fn.record_drops = True
            self.count += 1


def enable_drops(pipeline: beam.Pipeline) -> int:
    """Make every stage applied to ``pipeline`` so far record its drops; how many stages."""
    visitor = _Enabling()
    pipeline.visit(visitor)
    return visitor.count


def drops_shards(n_files: int) -> int:
    """How many drops files a build over ``n_files`` input files writes (at least one)."""
    return max(1, -(-n_files // FILES_PER_SHARD))


def drops_filename(index: int, count: int) -> str:
    return f"part-{index:05d}-of-{count:05d}.parquet"


def drops_path(output_dir: str, index: int, count: int) -> str:
    return join(output_dir, DROPS_DIR, drops_filename(index, count))


def _row(record: DropRecord, credits: Sequence[tuple[str, int]]) -> dict[str, Any]:
    return {
        "doc_id": record.doc_id,
        "url": record.url,
        "source_file": record.source_file,
        "record_offset": int(record.record_offset),
        "record_id": record.record_id,
        "stage": record.stage,
        "reason": record.reason,
        "detail": record.detail,
        "language": record.language,
        "probability": record.probability,
        "winner_doc_id": record.winner_doc_id,
        "winner_url": record.winner_url,
        "credited_to": [{"owner_md5": owner, "count": n} for owner, n in credits],
    }


def drops_rows(items: Iterable[DropRecord | DropCredit]) -> list[dict[str, Any]]:
    """One shard's rows: each record with the credits of its doc_id merged in (line dedup's
    records only), in input order (file, record offset)."""
    records: list[DropRecord] = []
    credits: dict[str, list[tuple[tuple[str, int], ...]]] = {}
    for item in items:
        if isinstance(item, DropRecord):
            records.append(item)
        elif isinstance(item, DropCredit):
            credits.setdefault(item.doc_id, []).append(item.credited_to)
    rows = []
    for record in records:
        credited = record.credited_to
        if record.doc_id in credits and record.stage.startswith("dedupe-"):
            credited = merged_credits([credited, *credits[record.doc_id]])
        rows.append((record, _row(record, credited)))
    # A record has one row: (file, offset) orders them; the rest only makes the order total.
    rows.sort(key=lambda pair: _order(pair[0]))
    return [row for _, row in rows]


def _order(r: DropRecord) -> tuple[Any, ...]:
    return (r.file_index, r.record_offset, r.source_file, r.doc_id, r.stage, r.reason, r.url)


def drops_bytes(rows: Sequence[Mapping[str, Any]]) -> bytes:
    """One drops file: zstd Parquet, no statistics (as lineage): same rows, same bytes."""
    table = pa.Table.from_pylist(list(rows), schema=SCHEMA)
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd", write_statistics=False)
    return buffer.getvalue()


class _WriteDropsFn(beam.DoFn):
    """``(shard, its records and credits)`` -> the shard's file; a ``drops/recorded`` count."""

    def __init__(self, output_dir: str, count: int) -> None:
        self._output_dir = output_dir
        self._count = count

    def process(self, group: tuple[int, Iterable[Any]]) -> Iterator[dict[str, int]]:
        shard, items = group
        rows = drops_rows(unpack_drop(item) for item in items if item is not None)
        write_atomic(drops_path(self._output_dir, shard, self._count), drops_bytes(rows))
        yield {RECORDED: len(rows)}


class WriteDrops(beam.PTransform):  # type: ignore[misc]
    """Packed ``DropRecord``\\ s and ``DropCredit``\\ s (``pipeline/transforms/drops.py``) ->
    ``DIR/drops/`` (under ``write_dir``, the commit's staging area); out: a counter dict per file
    (``drops/recorded``), for stats.json."""

    def __init__(self, write_dir: str, n_files: int) -> None:
        super().__init__()
        self._write_dir = write_dir
        self._per_shard = FILES_PER_SHARD
        self._count = drops_shards(n_files)

    def expand(self, drops: beam.PCollection) -> beam.PCollection:
        per_shard, count = self._per_shard, self._count
        keyed = drops | "KeyByShard" >> beam.Map(
            lambda item: (min(drop_file_index(item) // per_shard, count - 1), item)
        )
        # Every shard is written, with or without rows: a reader finds the whole set.
        every = drops.pipeline | "EveryShard" >> beam.Create([(i, None) for i in range(count)])
        return (
            (keyed, every)
            | "WithEveryShard" >> beam.Flatten()
            | "GroupByShard" >> beam.GroupByKey()
            | "WriteShards" >> beam.ParDo(_WriteDropsFn(self._write_dir, count))
        )


# --- reading (c4 trace) -----------------------------------------------------------------------


def drops_files(output_dir: str) -> list[str]:
    """The drops files of a build, in shard order ([] where there are none)."""
    return lineage.match_paths(posixpath.join(output_dir.rstrip("/"), DROPS_DIR, "part-*.parquet"))


def iter_drops(output_dir: str, columns: Sequence[str] | None = None) -> Iterator[dict[str, Any]]:
    """Every row of ``DIR/drops/``, file by file."""
    for path in drops_files(output_dir):
        yield from lineage.read_rows(path, columns)


def recorded(resolved: Mapping[str, Any]) -> bool:
    """Whether a build (its config.json) recorded its drops."""
    return bool(resolved.get("record_drops", False))
