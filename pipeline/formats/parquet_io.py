"""The Parquet copy of a split: INTERFACE.md's columns, zstd, same rows -> same bytes.

pyarrow writes no clock time, uuid or host into a file: the footer holds the schema, the
``created_by`` string (pyarrow's version) and statistics, so equal rows written with the same
pyarrow give equal bytes. The tests check that by writing twice.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import islice
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

PARQUET_SCHEMA: pa.Schema = pa.schema(
    [
        pa.field("url", pa.string(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        # TFDS keeps these three as text (WARC-Date and the WET headers as written).
        pa.field("timestamp", pa.string(), nullable=False),
        pa.field("content_type", pa.string(), nullable=False),
        pa.field("content_length", pa.string(), nullable=False),
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("source_file", pa.string(), nullable=False),
        pa.field("record_offset", pa.int64(), nullable=False),
        pa.field("record_id", pa.string(), nullable=False),
    ]
)
COLUMNS: tuple[str, ...] = tuple(PARQUET_SCHEMA.names)

# C4 pages average ~2 KB of text: 10k rows make ~20 MB row groups, small enough that
# `c4 trace`/`c4 forget` touch little data, large enough for good zstd ratios.
ROW_GROUP_ROWS = 10_000
COMPRESSION = "zstd"
COMPRESSION_LEVEL = 3
# Columns with few distinct values per file gain from dictionaries; unique ones only pay.
DICTIONARY_COLUMNS = ["timestamp", "content_type", "content_length", "source_file"]
# min/max of page texts and urls is useless for pruning and bloats the footer.
STATISTICS_COLUMNS = ["timestamp", "content_type", "content_length", "source_file", "record_offset"]

# Where the columns are allocated, and what the writer is given: the C library's malloc.
# pyarrow's default pool (mimalloc) hands freed pages back to the system and faults them in
# again for the next large buffer: WriteC4/WriteShards of the 85 MB benchmark took ~0.18
# thread-CPU-s less with this pool. (Parquet's page and compression buffers still come from
# Arrow's C++ default pool, which only ARROW_DEFAULT_MEMORY_POOL, set before pyarrow is imported,
# chooses.) The bytes written are the same with any pool.
MEMORY_POOL: pa.MemoryPool = pa.system_memory_pool()

PathOrFile = str | os.PathLike[str] | IO[bytes]


def parquet_filename(index: int, num_shards: int) -> str:
    """Returns a Parquet shard's file name, e.g. ``part-00000-of-00004.parquet``."""
    return f"part-{index:05d}-of-{num_shards:05d}.parquet"


def _batches(rows: Iterable[Mapping[str, Any]]) -> Iterator[pa.Table]:
    it = iter(rows)
    while batch := list(islice(it, ROW_GROUP_ROWS)):
        yield table_of(batch, PARQUET_SCHEMA)


def table_of(rows: Sequence[Mapping[str, Any]], schema: pa.Schema) -> pa.Table:
    """The rows as a table of ``schema``'s columns, allocated from ``MEMORY_POOL``.

    Raises:
        KeyError: a row lacks a column.
    """
    arrays = [
        pa.array([row[field.name] for row in rows], type=field.type, memory_pool=MEMORY_POOL)
        for field in schema
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


def _write(sink: Any, rows: Iterable[Mapping[str, Any]]) -> None:
    with pq.ParquetWriter(
        sink,
        PARQUET_SCHEMA,
        compression=COMPRESSION,
        compression_level=COMPRESSION_LEVEL,
        use_dictionary=DICTIONARY_COLUMNS,
        write_statistics=STATISTICS_COLUMNS,
        memory_pool=MEMORY_POOL,
    ) as writer:
        wrote = False
        for table in _batches(rows):
            writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
            wrote = True
        if not wrote:  # an empty shard is still a valid file with the schema
            writer.write_table(PARQUET_SCHEMA.empty_table())


def write_parquet(path_or_file: PathOrFile, rows: Iterable[Mapping[str, Any]]) -> int:
    """Writes rows as one zstd Parquet file with ``PARQUET_SCHEMA``.

    A path is written through a temporary file in the same directory and renamed into place,
    so a shard can be rewritten from its own rows (``c4 forget``).

    Args:
        path_or_file: a local path, or a binary file object.
        rows: mappings with every column of ``PARQUET_SCHEMA`` (extra keys are ignored),
            in file order; read lazily, ``ROW_GROUP_ROWS`` at a time.

    Returns:
        The number of bytes written.

    Raises:
        KeyError: a row lacks a column.
    """
    if not isinstance(path_or_file, str | os.PathLike):
        start = path_or_file.tell()
        _write(path_or_file, rows)
        return path_or_file.tell() - start
    path = os.fspath(path_or_file)
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out:
            _write(out, rows)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return os.path.getsize(path)
