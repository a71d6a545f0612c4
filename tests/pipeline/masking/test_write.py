"""The masked sinks' pure parts: TFRecord examples tf.data parses, deterministic Parquet."""

from __future__ import annotations

import io

import numpy as np
import pyarrow.parquet as pq
import tensorflow as tf

from pipeline.masking.packing import MaskedExample
from pipeline.masking.write import (
    MASKED_SCHEMA,
    num_shards,
    parquet_bytes,
    shard_paths,
    split_totals,
    tf_example,
)


def _example(n: int, seed: int = 7) -> MaskedExample:
    inputs = np.arange(2, n + 2, dtype=np.int32)
    inputs[-1] = 1
    targets = np.array([8099, 5, 6, 1], dtype=np.int32)
    return MaskedExample(inputs, targets, ("doc-a", "doc-b"), seed, 3, 4)


def test_tf_example_parses_as_int64_lists() -> None:
    example = _example(512)
    spec = {
        "inputs": tf.io.FixedLenSequenceFeature([], tf.int64, allow_missing=True),
        "targets": tf.io.FixedLenSequenceFeature([], tf.int64, allow_missing=True),
    }
    parsed = tf.io.parse_single_example(tf_example(example), spec)
    assert parsed["inputs"].dtype == tf.int64
    assert parsed["inputs"].numpy().tolist() == example.inputs.tolist()
    assert parsed["targets"].numpy().tolist() == example.targets.tolist()
    # The protobuf library's own serialization agrees byte for byte.
    proto = tf.train.Example()
    proto.ParseFromString(tf_example(example))
    assert proto.SerializeToString(deterministic=True) == tf_example(example)


def test_parquet_rows_schema_and_determinism() -> None:
    examples = [_example(n, seed=n) for n in (10, 300, 512)]
    data = parquet_bytes(examples)
    assert data == parquet_bytes(examples)
    table = pq.read_table(io.BytesIO(data))
    assert table.schema.equals(MASKED_SCHEMA)
    rows = table.to_pylist()
    assert [r["seed"] for r in rows] == [10, 300, 512]
    assert rows[1]["inputs"] == examples[1].inputs.tolist()
    assert rows[0]["doc_ids"] == ["doc-a", "doc-b"]
    assert pq.read_table(io.BytesIO(parquet_bytes([]))).num_rows == 0


def test_shards_and_totals() -> None:
    assert [num_shards(n, 64) for n in (0, 1, 64, 65, 128)] == [1, 1, 1, 2, 2]
    assert shard_paths("gs://b/out/masked", "train", 1, 2) == (
        "gs://b/out/masked/tfrecord/train/part-00001-of-00002.tfrecord",
        "gs://b/out/masked/parquet/train/part-00001-of-00002.parquet",
    )
    records = [
        {
            "split": "train",
            "shard": s,
            "num_shards": 2,
            "examples": 5,
            "packs": 1,
            "documents": 3,
            "inputs_tokens": 50,
            "targets_tokens": 9,
        }
        for s in (1, 0)
    ]
    assert split_totals(records) == {
        "train": {
            "shards": 2,
            "examples": 10,
            "packs": 2,
            "documents": 6,
            "inputs_tokens": 100,
            "targets_tokens": 18,
        }
    }
