"""``DIR/lineage/``: one Parquet row per kept document: where it came from, where it lives.

``DIR/lineage/<split>/part-NNNNN-of-MMMMM.parquet`` mirrors the data shard of the same name: the
same documents in the same order, so the lineage of a shard is written (and rewritten by ``c4
forget``) together with it and never needs a global pass. Paths in it are relative to DIR, so a
local and a ``gs://`` copy of a build agree. Masked examples are in ``lineage/masked/``, written
by masking (``pipeline/masking/lineage.py``); ``masked_locations`` scans the masked Parquet files'
own ``doc_ids`` column instead, for outputs masked before that table existed.

No Beam transforms here: ``pipeline/write.py`` calls ``lineage_bytes`` from its shard writer, and
``c4 trace``/``c4 forget`` read through ``FileSystems`` (local paths and ``gs://`` alike).
"""

from __future__ import annotations

import io
import posixpath
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from filters.lineage import content_digest, document_domain
from pipeline.formats import parquet_io

LINEAGE_DIR = "lineage"
LINEAGE_SCHEMA: pa.Schema = pa.schema(
    [
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("url", pa.string(), nullable=False),
        pa.field("normalized_url", pa.string(), nullable=False),
        pa.field("domain", pa.string(), nullable=False),
        pa.field("source_file", pa.string(), nullable=False),
        pa.field("record_offset", pa.int64(), nullable=False),
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("split", pa.string(), nullable=False),
        pa.field("tfrecord_file", pa.string(), nullable=False),
        pa.field("tfrecord_index", pa.int64(), nullable=False),
        pa.field("parquet_file", pa.string(), nullable=False),
        pa.field("parquet_row", pa.int64(), nullable=False),
        # What the document adds to dataset_info.json's numBytes and stats.json's text_bytes:
        # ``c4 forget`` recomputes both from lineage alone, without reading the shards again.
        pa.field("example_bytes", pa.int64(), nullable=False),
        pa.field("text_bytes", pa.int64(), nullable=False),
    ]
)
COLUMNS: tuple[str, ...] = tuple(LINEAGE_SCHEMA.names)
_SHARD_SUFFIX_RE = re.compile(r"(\d{5}-of-\d{5})")


def lineage_path(output_dir: str, split: str, parquet_name: str) -> str:
    """``DIR/lineage/<split>/<the data shard's Parquet name>``."""
    return posixpath.join(output_dir.rstrip("/"), LINEAGE_DIR, split, parquet_name)


def lineage_row(
    page: Any,
    url: str,
    example_bytes: int,
    split: str,
    position: int,
    tfrecord_file: str,
    parquet_file: str,
) -> dict[str, Any]:
    """The lineage row of one document (``page`` is a ``filters.records.Page``)."""
    return {
        "doc_id": page.doc_id,
        "url": url,
        "normalized_url": page.normalized_url,
        "domain": document_domain(page.url or url),
        "source_file": page.source_file,
        "record_offset": int(page.record_offset),
        "sha256": content_digest(page.text),
        "split": split,
        "tfrecord_file": tfrecord_file,
        "tfrecord_index": position,
        "parquet_file": parquet_file,
        "parquet_row": position,
        "example_bytes": example_bytes,
        "text_bytes": len(page.text.encode("utf-8")),
    }


def lineage_bytes(rows: Sequence[Mapping[str, Any]]) -> bytes:
    """One lineage file's bytes: zstd Parquet, no statistics, same rows -> same bytes."""
    table = parquet_io.table_of(rows, LINEAGE_SCHEMA)
    buffer = io.BytesIO()
    pq.write_table(
        table,
        buffer,
        compression="zstd",
        write_statistics=False,
        memory_pool=parquet_io.MEMORY_POOL,
    )
    return buffer.getvalue()


def read_bytes(path: str) -> bytes:
    """A whole file through ``FileSystems``."""
    with FileSystems.open(path) as handle:
        return bytes(handle.read())


def read_rows(path: str, columns: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The rows of a Parquet file (any file system), as dicts."""
    table = pq.read_table(
        io.BytesIO(read_bytes(path)), columns=list(columns) if columns else None, use_threads=False
    )
    rows: list[dict[str, Any]] = table.to_pylist()
    return rows


def match_paths(pattern: str) -> list[str]:
    """Sorted paths matching a glob on any file system ([] when none)."""
    result = FileSystems.match([pattern])[0]
    return sorted(m.path for m in result.metadata_list)


def lineage_files(output_dir: str) -> list[str]:
    """Every lineage file of a build, in split and shard order."""
    return match_paths(posixpath.join(output_dir.rstrip("/"), LINEAGE_DIR, "*", "part-*.parquet"))


def iter_lineage(output_dir: str) -> Iterator[dict[str, Any]]:
    """Every lineage row of a build."""
    for path in lineage_files(output_dir):
        yield from read_rows(path)


def shard_suffix(name: str) -> str:
    """``NNNNN-of-MMMMM`` of a shard's file name ('' if it has none)."""
    found = _SHARD_SUFFIX_RE.search(posixpath.basename(name))
    return found.group(1) if found else ""


def masked_parquet_files(output_dir: str) -> list[str]:
    """``DIR/masked/parquet/<split>/*.parquet``, sorted."""
    base = posixpath.join(output_dir.rstrip("/"), "masked", "parquet", "*", "*.parquet")
    return match_paths(base)


def masked_twin(output_dir: str, parquet_path: str) -> str:
    """The TFRecord file holding the same masked examples as a masked Parquet file ('' if none).

    ``c4 mask`` writes ``masked/tfrecord/<split>/`` shards numbered like the Parquet ones, in
    the same order; the twin is the one with the same ``NNNNN-of-MMMMM``.
    """
    split = posixpath.basename(posixpath.dirname(parquet_path))
    suffix = shard_suffix(parquet_path)
    base = posixpath.join(output_dir.rstrip("/"), "masked", "tfrecord", split, "*")
    for path in match_paths(base):
        if suffix and shard_suffix(path) == suffix and ".tmp" not in path:
            return path
    return ""


def relative(output_dir: str, path: str) -> str:
    """A path inside DIR as lineage and reports spell it: relative, ``/``-separated."""
    base = output_dir.rstrip("/") + "/"
    return path[len(base) :] if path.startswith(base) else path


def masked_locations(output_dir: str, doc_ids: Iterable[str]) -> dict[str, list[str]]:
    """doc_id -> ``masked/parquet/<split>/<file>#<row>`` of every masked example holding it."""
    wanted = set(doc_ids)
    found: dict[str, list[str]] = {d: [] for d in wanted}
    if not wanted:
        return found
    for path in masked_parquet_files(output_dir):
        for row, item in enumerate(read_rows(path, ["doc_ids"])):
            for doc_id in set(item["doc_ids"] or ()) & wanted:
                found[doc_id].append(f"{relative(output_dir, path)}#{row}")
    return found
