"""Masked lineage: per document, the masked examples that hold its tokens.

``DIR/lineage/masked/<split>/part-NNNNN-of-MMMMM.parquet`` mirrors the masked shard of the same
name (``DIR/masked/{parquet,tfrecord}/<split>/``): one row per document the shard holds, in order
of its first example, with the location of every example holding it (the masked Parquet file and
row, the TFRecord file and position: the same number, the twins hold the same examples in the
same order). A document lives in one pack and a pack in one shard, so a shard's table is written
by the shard's own writer (``WriteMasked``) and rewritten by ``c4 forget`` from the shard alone.

Paths are relative to the directory holding ``lineage/``: DIR for ``DIR/masked``; for ``c4 mask
--output MDIR`` elsewhere, the table is ``MDIR/lineage/<split>/`` and paths are relative to MDIR.
"""

from __future__ import annotations

import io
import posixpath
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline import lineage

LOCATION: pa.DataType = pa.struct(
    [
        pa.field("parquet_file", pa.string(), nullable=False),
        pa.field("parquet_row", pa.int64(), nullable=False),
        pa.field("tfrecord_file", pa.string(), nullable=False),
        pa.field("tfrecord_index", pa.int64(), nullable=False),
    ]
)
MASKED_LINEAGE_SCHEMA: pa.Schema = pa.schema(
    [
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("masked", pa.list_(LOCATION), nullable=False),
    ]
)


def layout(masked_dir: str, build_dir: str | None = None) -> tuple[str, str]:
    """``(table directory, root its paths are relative to)`` for masked output in ``masked_dir``.

    ``build_dir``'s own ``masked/`` gets ``DIR/lineage/masked`` (next to the build's lineage,
    where ``c4 trace DIR`` looks); any other MDIR keeps its table inside: ``MDIR/lineage``.
    """
    masked = masked_dir.rstrip("/")
    if build_dir is not None and masked == posixpath.join(build_dir.rstrip("/"), "masked"):
        root = build_dir.rstrip("/")
        return posixpath.join(root, lineage.LINEAGE_DIR, "masked"), root
    return posixpath.join(masked, lineage.LINEAGE_DIR), masked


def table_path(table_dir: str, parquet_path: str) -> str:
    """The table file of a masked Parquet shard: same split, same file name."""
    split = posixpath.basename(posixpath.dirname(parquet_path))
    return posixpath.join(table_dir, split, posixpath.basename(parquet_path))


def table_rows(
    doc_ids: Sequence[Sequence[str]], parquet_file: str, tfrecord_file: str
) -> list[dict[str, Any]]:
    """One row per document of a shard whose examples hold ``doc_ids`` (in example order)."""
    places: dict[str, list[dict[str, Any]]] = {}
    for row, held in enumerate(doc_ids):
        # A document appears once per example however many times the example lists it.
        for doc_id in dict.fromkeys(held):
            places.setdefault(doc_id, []).append(
                {
                    "parquet_file": parquet_file,
                    "parquet_row": row,
                    "tfrecord_file": tfrecord_file,
                    "tfrecord_index": row,
                }
            )
    return [{"doc_id": d, "masked": p} for d, p in places.items()]


def table_bytes(rows: Sequence[Mapping[str, Any]]) -> bytes:
    """One table file: zstd Parquet, no statistics, same rows -> same bytes."""
    table = pa.Table.from_pydict(
        {name: [row[name] for row in rows] for name in MASKED_LINEAGE_SCHEMA.names},
        schema=MASKED_LINEAGE_SCHEMA,
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd", write_statistics=False)
    return buffer.getvalue()


def shard_table_bytes(
    doc_ids: Sequence[Sequence[str]], root: str, parquet_path: str, tfrecord_path: str
) -> bytes:
    """The table file of one masked shard, from its examples' ``doc_ids``."""
    rows = table_rows(
        doc_ids, lineage.relative(root, parquet_path), lineage.relative(root, tfrecord_path)
    )
    return table_bytes(rows)


def table_files(table_dir: str) -> list[str]:
    """Every table file under ``table_dir`` (``<split>/part-*.parquet``), sorted."""
    return lineage.match_paths(posixpath.join(table_dir, "*", "part-*.parquet"))


def format_location(location: Mapping[str, Any]) -> str:
    """``masked/parquet/<split>/<file>#<row>``: how ``c4 trace`` names a masked example."""
    return f"{location['parquet_file']}#{location['parquet_row']}"


def read_locations(table_dir: str, doc_ids: Iterable[str]) -> dict[str, list[str]] | None:
    """doc_id -> its masked examples, from the table; None when there is no table."""
    files = table_files(table_dir)
    if not files:
        return None
    wanted = set(doc_ids)
    found: dict[str, list[str]] = {d: [] for d in wanted}
    for path in files:
        for row in lineage.read_rows(path):
            if row["doc_id"] in wanted:
                found[row["doc_id"]].extend(format_location(m) for m in row["masked"])
    return found
