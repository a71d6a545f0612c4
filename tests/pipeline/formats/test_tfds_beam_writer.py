"""Our C4 shards against TFDS's own Beam writer run on the same pages (DirectRunner).

TFDS's ``BeamWriter`` is what built C4: running it here on real pages and comparing shard
names, lengths, bytes counted and the examples of every shard in order checks
``example_sort_key`` + ``shard_of_key`` + ``compact_shards`` + ``encode_example`` as a whole.
"""

from __future__ import annotations

import apache_beam as beam
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from tensorflow_datasets.core import file_adapters, naming, writer
from tensorflow_datasets.core.example_serializer import ExampleSerializer
from tensorflow_datasets.core.utils import shard_utils

from pipeline.formats.tfds_layout import C4_FEATURES
from pipeline.formats.tfrecord import read_tfrecord
from tests.pipeline.formats import real_docs
from tests.pipeline.formats.test_tfds_layout import write_split

pytestmark = pytest.mark.slow


def parsed(records):
    return [tf.train.Example.FromString(r) for r in records]


@pytest.mark.parametrize("num_shards", [16])  # 40 pages in 16 key ranges: one is empty
def test_same_shards_and_order_as_tfds_beam_writer(tmp_path, num_shards):
    docs = list(real_docs())
    features = tfds.features.FeaturesDict({name: tfds.features.Text() for name in C4_FEATURES})
    theirs_dir = tmp_path / "theirs"
    theirs_dir.mkdir()
    tfds_writer = writer.BeamWriter(
        serializer=ExampleSerializer(features.get_serialized_info()),
        filename_template=naming.ShardedFileTemplate(
            data_dir=theirs_dir, dataset_name="c4", split="train", filetype_suffix="tfrecord"
        ),
        hash_salt="train",
        disable_shuffling=False,
        example_writer=writer.ExampleWriter(file_adapters.FileFormat.TFRECORD),
        shard_config=shard_utils.ShardConfig(num_shards=num_shards),
    )
    with beam.Pipeline(runner="DirectRunner") as pipeline:
        examples = pipeline | beam.Create([(d["url"], features.encode_example(d)) for d in docs])
        tfds_writer.write_from_pcollection(examples)
    their_lengths, their_bytes = tfds_writer.finalize()

    ours_dir = tmp_path / "ours"
    ours_dir.mkdir()
    info = write_split(ours_dir, "train", docs, num_shards)

    assert info.shard_lengths == their_lengths
    assert info.num_bytes == their_bytes
    their_files = sorted(p.name for p in theirs_dir.iterdir())
    assert sorted(p.name for p in ours_dir.iterdir()) == their_files
    for name in their_files:
        ours = list(read_tfrecord(ours_dir / name))
        assert parsed(ours) == parsed(read_tfrecord(theirs_dir / name))
