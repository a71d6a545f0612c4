"""Output formats, as pure functions (no Beam): TFRecord/tf.Example, TFDS's layout, Parquet.

The Beam sinks under ``pipeline/io/`` call these; ``c4 forget`` and the tests read back with
them.
"""

from pipeline.formats.parquet_io import PARQUET_SCHEMA, parquet_filename, write_parquet
from pipeline.formats.tfds_layout import (
    SplitInfo,
    c4_features_json,
    dataset_info_json,
    example_sort_key,
    num_shards_for,
    shard_filename,
    shard_of,
    shard_of_key,
    write_metadata,
)
from pipeline.formats.tfrecord import (
    decode_example,
    encode_example,
    frame_record,
    read_tfrecord,
    write_tfrecord,
)

__all__ = [
    "PARQUET_SCHEMA",
    "SplitInfo",
    "c4_features_json",
    "dataset_info_json",
    "decode_example",
    "encode_example",
    "example_sort_key",
    "frame_record",
    "num_shards_for",
    "parquet_filename",
    "read_tfrecord",
    "shard_filename",
    "shard_of",
    "shard_of_key",
    "write_metadata",
    "write_parquet",
    "write_tfrecord",
]
