"""``DIR/lineage/``: written by ``c4 build``, one row per kept document, exact on where it lives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from filters.lineage import content_digest, document_domain
from filters.urls import normalize_url
from pipeline.cli import main
from tests.pipeline.forget import fixtures as ff


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ff.build(tmp_path_factory.mktemp("lineage") / "out", mask=False)


def test_one_row_per_document_in_shard_order(built: Path) -> None:
    lineage_files = sorted((built / "lineage/train").glob("*.parquet"))
    parquet_files = sorted((built / "parquet/train").glob("*.parquet"))
    assert [p.name for p in lineage_files] == [p.name for p in parquet_files]
    info = json.loads((built / "c4/en/3.1.0/dataset_info.json").read_text())
    assert info["splits"][0]["numBytes"] == str(
        sum(r["example_bytes"] for r in ff.parquet_rows(built, "lineage/*/*.parquet"))
    )
    for lineage_path, parquet_path in zip(lineage_files, parquet_files, strict=True):
        rows = ff.parquet_rows(built, f"lineage/train/{lineage_path.name}")
        docs = ff.parquet_rows(built, f"parquet/train/{parquet_path.name}")
        assert len(rows) == len(docs) > 0
        tfrecord = built / rows[0]["tfrecord_file"]
        examples = ff.tfrecord_examples(tfrecord)
        for i, (row, doc) in enumerate(zip(rows, docs, strict=True)):
            assert row["doc_id"] == doc["doc_id"]
            assert row["url"] == doc["url"]
            assert row["normalized_url"] == normalize_url(doc["url"])
            assert row["domain"] == document_domain(doc["url"])
            assert (row["source_file"], row["record_offset"]) == (
                doc["source_file"],
                doc["record_offset"],
            )
            assert row["sha256"] == content_digest(doc["text"])
            assert row["text_bytes"] == len(doc["text"].encode())
            assert row["tfrecord_index"] == row["parquet_row"] == i
            assert row["parquet_file"] == f"parquet/train/{parquet_path.name}"
            assert examples[i]["url"][0].decode() == doc["url"]


def test_lineage_follows_compacted_shards(tmp_path: Path) -> None:
    # 8 planned shards for 14 documents: some key ranges are empty, the rest are renumbered.
    out = tmp_path / "out"
    assert main(["build", "--output", str(out), "--num_shards", "8"]) == 0
    names = sorted(p.name for p in (out / "parquet/train").glob("*.parquet"))
    assert sorted(p.name for p in (out / "lineage/train").glob("*.parquet")) == names
    assert not names[0].endswith("-of-00008.parquet")
    for row in ff.parquet_rows(out, "lineage/*/*.parquet"):
        assert (out / row["tfrecord_file"]).is_file()
        assert (out / row["parquet_file"]).is_file()
