"""pipeline/formats/parquet_io.py: INTERFACE.md's schema, zstd, deterministic bytes."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.formats import parquet_io
from pipeline.formats.parquet_io import PARQUET_SCHEMA, parquet_filename, write_parquet
from tests.pipeline.formats import real_docs

INTERFACE_COLUMNS = [
    "url",
    "text",
    "timestamp",
    "content_type",
    "content_length",
    "doc_id",
    "source_file",
    "record_offset",
    "record_id",
]


def rows():
    return [
        {
            "url": d["url"],
            "text": d["text"],
            "timestamp": d["timestamp"],
            "content_type": d["content-type"],
            "content_length": d["content-length"],
            "doc_id": f"{i:08x}-0000-4000-8000-000000000000",
            "source_file": "crawl-data/CC-MAIN-2026-12/segments/x/wet/y.warc.wet.gz",
            "record_offset": 1000 * i + 7,
            "record_id": f"<urn:uuid:{i:08x}-0000-4000-8000-000000000000>",
        }
        for i, d in enumerate(real_docs())
    ]


def test_schema_is_the_interface():
    assert PARQUET_SCHEMA.names == INTERFACE_COLUMNS
    assert PARQUET_SCHEMA.field("record_offset").type == pa.int64()
    assert all(
        PARQUET_SCHEMA.field(c).type == pa.string()
        for c in INTERFACE_COLUMNS
        if c != "record_offset"
    )


def test_round_trip_zstd(tmp_path):
    path = tmp_path / parquet_filename(0, 4)
    written = write_parquet(path, iter(rows()))
    assert written == path.stat().st_size
    table = pq.read_table(path)
    assert table.schema.equals(PARQUET_SCHEMA)
    assert table.to_pylist() == rows()
    meta = pq.ParquetFile(path).metadata
    assert {meta.row_group(0).column(i).compression for i in range(meta.num_columns)} == {"ZSTD"}
    assert not list(tmp_path.glob("*.tmp"))


def test_same_rows_same_bytes(tmp_path):
    first = io.BytesIO()
    write_parquet(first, rows())
    write_parquet(tmp_path / "a.parquet", rows())
    assert (tmp_path / "a.parquet").read_bytes() == first.getvalue()
    second = io.BytesIO()
    write_parquet(second, rows())
    assert second.getvalue() == first.getvalue()


def test_row_groups_and_extra_keys(tmp_path, monkeypatch):
    monkeypatch.setattr(parquet_io, "ROW_GROUP_ROWS", 16)
    data = [dict(r, language="en") for r in rows()]  # extra keys (a Page's fields) are ignored
    write_parquet(tmp_path / "x.parquet", data)
    meta = pq.ParquetFile(tmp_path / "x.parquet").metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [16, 16, 8]
    assert pq.read_table(tmp_path / "x.parquet").to_pylist() == rows()


def test_empty_shard_is_a_valid_file(tmp_path):
    write_parquet(tmp_path / "e.parquet", [])
    table = pq.read_table(tmp_path / "e.parquet")
    assert table.num_rows == 0 and table.schema.equals(PARQUET_SCHEMA)


def test_missing_column_fails_and_leaves_nothing(tmp_path):
    bad = rows()[:2]
    del bad[1]["doc_id"]
    with pytest.raises(KeyError):
        write_parquet(tmp_path / "bad.parquet", bad)
    assert list(tmp_path.iterdir()) == []


def test_filename():
    assert parquet_filename(0, 4) == "part-00000-of-00004.parquet"
    assert parquet_filename(1023, 1024) == "part-01023-of-01024.parquet"


def test_columns_come_from_the_system_pool():
    """pyarrow's default pool (mimalloc) refaults its pages at every large buffer: the columns
    of a shard are allocated from ``MEMORY_POOL``, the C library's malloc, and the default pool
    gets none of them."""
    assert parquet_io.MEMORY_POOL.backend_name == "system"
    default = pa.default_memory_pool()
    system_before = parquet_io.MEMORY_POOL.num_allocations()
    default_before = default.num_allocations()
    table = parquet_io.table_of(rows(), PARQUET_SCHEMA)
    assert table.to_pylist() == rows()
    assert parquet_io.MEMORY_POOL.num_allocations() >= system_before + len(PARQUET_SCHEMA)
    if default.backend_name != "system":
        assert default.num_allocations() == default_before


def test_pool_does_not_change_the_bytes():
    """The bytes are those of a table built in pyarrow's default pool, as before the pool."""
    data = rows()
    ours = io.BytesIO()
    write_parquet(ours, data)
    table = pa.Table.from_pydict(
        {c: [r[c] for r in data] for c in INTERFACE_COLUMNS}, PARQUET_SCHEMA
    )
    theirs = io.BytesIO()
    with pq.ParquetWriter(
        theirs,
        PARQUET_SCHEMA,
        compression="zstd",
        compression_level=3,
        use_dictionary=parquet_io.DICTIONARY_COLUMNS,
        write_statistics=parquet_io.STATISTICS_COLUMNS,
    ) as writer:
        writer.write_table(table, row_group_size=parquet_io.ROW_GROUP_ROWS)
    assert ours.getvalue() == theirs.getvalue()
