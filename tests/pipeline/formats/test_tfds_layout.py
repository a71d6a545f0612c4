"""pipeline/formats/tfds_layout.py: the files TFDS 4.9.10 writes, and TFDS reading ours."""

from __future__ import annotations

import json

import pytest
import tensorflow_datasets as tfds
from google.protobuf import json_format
from tensorflow_datasets.core import hashing, naming, shuffle
from tensorflow_datasets.core import splits as splits_lib
from tensorflow_datasets.core.proto import dataset_info_pb2
from tensorflow_datasets.core.utils import shard_utils

from pipeline.formats.tfds_layout import (
    C4_FEATURES,
    C4_FEATURES_V1,
    SplitInfo,
    c4_features_json,
    compact_shards,
    dataset_info_json,
    dataset_info_text,
    example_sort_key,
    features_for_version,
    features_text,
    num_shards_for,
    shard_filename,
    shard_lengths_for,
    shard_of,
    shard_of_key,
    write_metadata,
)
from pipeline.formats.tfrecord import encode_example, write_tfrecord
from tests.pipeline.formats import real_docs

# C4_SPEC §4: AllenAI's c4/en 3.0.1 figures (examples, num_bytes) per split.
C4_EN_TRAIN = (364_868_892, 828_589_180_707)
C4_EN_VALIDATION = (364_608, 825_767_266)


def write_split(builder_dir, split, docs, num_shards):
    """Writes a split as TFDS's Beam writer does, with our functions only; returns its SplitInfo."""
    serialized = sorted((example_sort_key(split, d["url"]), encode_example(d)) for d in docs)
    max_key = serialized[-1][0]
    buckets = [[] for _ in range(num_shards)]
    for key, data in serialized:
        buckets[shard_of_key(key, max_key, num_shards)].append(data)
    shards = [b for b in buckets if b]
    assert compact_shards([len(b) for b in buckets]) == [len(b) for b in shards]
    for index, shard in enumerate(shards):
        write_tfrecord(builder_dir / shard_filename(split, index, len(shards)), shard)
    return SplitInfo(split, [len(s) for s in shards], sum(len(d) for _, d in serialized))


def in_tfds_order(split, docs):
    return sorted(docs, key=lambda d: example_sort_key(split, d["url"]))


def as_text(example):
    return {k: v.numpy().decode("utf-8") for k, v in example.items()}


@pytest.fixture(scope="module")
def docs():
    return list(real_docs())


@pytest.fixture(scope="module")
def en_dir(tmp_path_factory, docs):
    """DIR with a c4/en/3.1.0 of 34 train examples in 3 shards and 6 validation in 1."""
    data_dir = tmp_path_factory.mktemp("out")
    builder_dir = data_dir / "c4" / "en" / "3.1.0"
    builder_dir.mkdir(parents=True)
    infos = [
        write_split(builder_dir, "train", docs[:34], 3),
        write_split(builder_dir, "validation", docs[34:], 1),
    ]
    write_metadata(builder_dir, "en", "3.1.0", infos)
    return data_dir


def test_builder_from_directory_reads_our_c4_en(en_dir, docs):
    builder = tfds.builder_from_directory(str(en_dir / "c4" / "en" / "3.1.0"))
    assert builder.info.splits["train"].num_examples == 34
    assert builder.info.splits["validation"].num_examples == 6
    assert builder.info.splits["train"].num_shards == 3
    assert sorted(builder.info.features.keys()) == sorted(C4_FEATURES)
    for split, expected in (("train", docs[:34]), ("validation", docs[34:])):
        got = [as_text(e) for e in builder.as_dataset(split=split, shuffle_files=False)]
        assert got == in_tfds_order(split, expected)


def test_tfds_load_reads_our_c4_en_3_1_0(en_dir, docs):
    ds = tfds.load("c4/en:3.1.0", data_dir=str(en_dir), download=False, split="validation")
    assert [as_text(e) for e in ds] == in_tfds_order("validation", docs[34:])
    train = tfds.load("c4/en:3.1.0", data_dir=str(en_dir), download=False, split="train[:5]")
    assert [as_text(e) for e in train] == in_tfds_order("train", docs[:34])[:5]


@pytest.mark.parametrize(
    ("config", "version", "splits"),
    [
        ("en", "2.2.0", ("train", "validation")),
        ("realnewslike", "2.2.0", ("train", "validation")),
        ("en", "1.0.0", ("train",)),
        ("multilingual", "3.1.0", ("en", "en-validation", "und")),
    ],
)
def test_other_configs_and_versions_load(tmp_path, docs, config, version, splits):
    builder_dir = tmp_path / "c4" / config / version
    builder_dir.mkdir(parents=True)
    names = features_for_version(version)
    pages = [{k: d[k] for k in names} for d in docs[:12]]
    parts = [pages[i :: len(splits)] for i in range(len(splits))]
    infos = [write_split(builder_dir, s, p, 2) for s, p in zip(splits, parts, strict=True)]
    write_metadata(builder_dir, config, version, infos)
    builder = tfds.builder_from_directory(str(builder_dir))
    assert builder.info.config_name == config
    assert str(builder.info.version) == version
    assert sorted(builder.info.features.keys()) == sorted(names)
    for split, part in zip(splits, parts, strict=True):
        assert builder.info.splits[split].num_examples == len(part)
        got = [as_text(e) for e in builder.as_dataset(split=split, shuffle_files=False)]
        assert got == in_tfds_order(split, part)


def tfds_written_metadata(tmp_path, config, version, split_infos):
    """The features.json and dataset_info.json TFDS itself writes for the C4 builder."""
    builder = tfds.builder(f"c4/{config}:{version}", data_dir=str(tmp_path / "unused"))
    template = naming.ShardedFileTemplate(
        data_dir=builder.data_dir, dataset_name="c4", filetype_suffix="tfrecord"
    )
    builder.info.set_splits(
        splits_lib.SplitDict(
            [
                splits_lib.SplitInfo(
                    name=s.name,
                    shard_lengths=s.shard_lengths,
                    num_bytes=s.num_bytes,
                    filename_template=template.replace(split=s.name),
                )
                for s in split_infos
            ]
        )
    )
    out = tmp_path / "tfds"
    out.mkdir()
    builder.info.write_to_directory(out)
    return (out / "features.json").read_text(), (out / "dataset_info.json").read_text()


@pytest.mark.parametrize("config", ["en", "en.noclean", "realnewslike", "multilingual"])
def test_metadata_is_byte_identical_to_what_tfds_writes(tmp_path, config):
    infos = [SplitInfo("train", [3, 2, 4], 123_456_789_012), SplitInfo("validation", [7], 99)]
    features, info = tfds_written_metadata(tmp_path, config, "3.1.0", infos)
    assert features_text(c4_features_json(C4_FEATURES)) == features
    ours = dataset_info_json(config, "3.1.0", infos, release_notes={}, license_text="")
    assert dataset_info_text(ours) == info


def test_full_dataset_info_parses_as_the_tfds_proto():
    infos = [SplitInfo("train", [3], 10)]
    text = dataset_info_text(dataset_info_json("en", "3.1.0", infos, download_size=5))
    proto = json_format.Parse(text, dataset_info_pb2.DatasetInfo())  # strict: unknown fields fail
    assert proto.redistribution_info.license.startswith("ODC-BY")
    assert sorted(proto.release_notes) == ["1.0.0", "2.2.0", "3.1.0"]
    assert proto.splits[0].shard_lengths == [3] and proto.download_size == 5
    v1 = dataset_info_json("en", "1.0.0", infos)
    assert list(v1["releaseNotes"]) == ["1.0.0"]


def test_features_json_of_1_0_0():
    got = c4_features_json(C4_FEATURES_V1)
    assert list(got["featuresDict"]["features"]) == ["text", "url"]
    feature = tfds.features.FeaturesDict.from_json(json.loads(features_text(got)))
    assert sorted(feature.keys()) == ["text", "url"]


def test_shard_filename_is_tfds_template():
    template = naming.ShardedFileTemplate(
        data_dir="/d", dataset_name="c4", split="train", filetype_suffix="tfrecord"
    )
    for index, total in ((0, 1024), (1023, 1024), (3, 8), (0, 1)):
        expected = template.sharded_filepath(shard_index=index, num_shards=total).name
        assert shard_filename("train", index, total) == expected
    assert shard_filename("train", 0, 1024) == "c4-train.tfrecord-00000-of-01024"


def test_example_sort_key_is_tfds_hasher(docs):
    urls = [d["url"] for d in docs] + ["http://a.com/x\\y", "http://ü.de/ß", ""]
    for split in ("train", "validation", "en-validation"):
        hasher = hashing.Hasher(split)
        assert [example_sort_key(split, u) for u in urls] == [hasher.hash_key(u) for u in urls]


def test_c4_en_gets_1024_train_and_8_validation_shards():
    assert num_shards_for(C4_EN_TRAIN[1], C4_EN_TRAIN[0]) == 1024
    assert num_shards_for(C4_EN_VALIDATION[1], C4_EN_VALIDATION[0]) == 8


@pytest.mark.parametrize("precise", [False, True])
def test_num_shards_is_shard_utils(precise):
    mib = 1 << 20
    sizes = [0, 1, mib, 64 * mib, 500 * mib, 7 * 1024 * mib, 300 * 1024 * mib, 2000 * 1024 * mib]
    sizes += [12 * 64 * mib - 1, 12 * 64 * mib, 2 * 1024**4, 5 * 1024**4]
    for size in sizes:
        for count in (1, 5, 600, 1024, 5000, 10**6, 4 * 10**8):
            min_shards = (size + 16 * count) // (1024 * mib * (1 if precise else 0.9))
            if min_shards > 1024 and count < 1024 * max(2, -(-min_shards // 1024)):
                # shard_utils never returns here (it searches upwards forever): we refuse.
                with pytest.raises(ValueError):
                    num_shards_for(size, count, precise=precise)
                continue
            expected = shard_utils.ShardConfig.calculate_number_shards(
                size, count, uses_precise_sharding=precise
            )
            assert num_shards_for(size, count, precise=precise) == expected, (size, count)


def test_shard_of_is_get_shard_boundaries():
    for n, shards in ((1, 1), (5, 2), (10, 3), (34, 3), (1000, 7), (1025, 1024), (2500, 8)):
        boundaries = shard_utils.get_shard_boundaries(n, shards)
        expected = [next(s for s, end in enumerate(boundaries) if i < end) for i in range(n)]
        assert [shard_of(i, n, shards) for i in range(n)] == expected
        lengths = shard_lengths_for(n, shards)
        assert lengths == [b - a for a, b in zip([0, *boundaries[:-1]], boundaries, strict=True)]
    with pytest.raises(ValueError):
        shard_of(5, 5, 2)


def test_shard_of_key_is_tfds_bucket_number(docs):
    keys = sorted(example_sort_key("train", d["url"]) for d in docs)
    for shards in (1, 3, 8, 1024):
        got = [shard_of_key(k, keys[-1], shards) for k in keys]
        assert got == [shuffle.get_bucket_number(k, shards, keys[-1]) for k in keys]
        assert got == sorted(got) and got[-1] == shards - 1
