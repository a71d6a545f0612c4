"""What WriteC4 writes, read back by the real readers: TFDS, tf.data (seqio style), pyarrow.

The same examples also go through TFDS's own ``BeamWriter`` (tensorflow-datasets 4.9.10): our
shards must hold the same examples, in the same order, in the same shards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import apache_beam as beam
import pyarrow.parquet as pq
import pytest

from filters.spec import resolve_rules
from pipeline import write
from pipeline.formats import tfds_layout, tfrecord
from tests.pipeline.test_write import ALL_WET, Inputs, make_config, real_inputs, run_write

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow as tf
import tensorflow_datasets as tfds

# 44 documents over 40 key ranges: 9 ranges stay empty, so shards are dropped and renumbered.
NUM_SHARDS = 40
RULES = resolve_rules("en", "3.1.0")


@pytest.fixture(scope="module")
def inputs() -> Inputs:
    return real_inputs(ALL_WET)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, inputs: Inputs) -> Path:
    out = tmp_path_factory.mktemp("readback")
    run_write(make_config(out, ALL_WET, num_shards=NUM_SHARDS), inputs)
    return out


def expected(inputs: Inputs) -> dict[bytes, dict[str, bytes]]:
    """url -> the five features as bytes, from the pages handed to WriteC4."""
    out = {}
    for _, page in inputs.docs:
        features = write.example_features(page, RULES)
        out[features["url"].encode()] = {k: v.encode() for k, v in features.items()}
    return out


def as_bytes(example: dict[str, object]) -> dict[str, bytes]:
    return {k: v.numpy() for k, v in example.items()}  # type: ignore[attr-defined]


def our_shards(built: Path) -> list[Path]:
    return sorted((built / "c4/en/3.1.0").glob("c4-train.tfrecord-*"))


def test_builder_from_directory_reads_every_example(built: Path, inputs: Inputs) -> None:
    builder = tfds.builder_from_directory(str(built / "c4/en/3.1.0"))
    assert builder.info.name == "c4" and str(builder.info.version) == "3.1.0"
    # Every split the config defines is declared, 0 examples where the build has none.
    assert list(builder.info.splits) == ["train", "validation"]
    assert builder.info.splits["train"].num_examples == len(inputs.docs)
    assert builder.info.splits["validation"].num_examples == 0
    got = [as_bytes(ex) for ex in builder.as_dataset(split="train")]
    want = expected(inputs)
    assert len(got) == len(want)
    assert {ex["url"]: ex for ex in got} == want


def test_tfds_load_by_name_in_file_order(built: Path, inputs: Inputs) -> None:
    ds = tfds.load("c4/en:3.1.0", data_dir=str(built), download=False, split="train")
    got = [as_bytes(ex) for ex in ds]
    # TFDS reads shards in order without shuffling: the order is the one we wrote.
    file_order = [
        tfrecord.decode_example(r)["url"][0]
        for s in our_shards(built)
        for r in tfrecord.read_tfrecord(s)
    ]
    assert [ex["url"] for ex in got] == file_order
    assert {ex["url"]: ex for ex in got} == expected(inputs)


def test_tf_data_parse_single_example_seqio_style(built: Path, inputs: Inputs) -> None:
    spec = {name: tf.io.FixedLenFeature([], tf.string) for name in RULES.features}
    files = [str(p) for p in our_shards(built)]
    ds = tf.data.TFRecordDataset(files).map(lambda r: tf.io.parse_single_example(r, spec))
    got = {ex["url"]: ex for ex in (as_bytes(e) for e in ds)}
    assert got == expected(inputs)


def test_parquet_matches_tfrecords_row_for_row(built: Path, inputs: Inputs) -> None:
    table = pq.read_table(built / "parquet" / "train")  # the whole split as one dataset
    rows = table.to_pylist()
    tf_examples = [
        tfrecord.decode_example(r) for s in our_shards(built) for r in tfrecord.read_tfrecord(s)
    ]
    assert [r["url"] for r in rows] == [ex["url"][0].decode() for ex in tf_examples]
    assert [r["text"] for r in rows] == [ex["text"][0].decode() for ex in tf_examples]
    pages = {p.url: p for _, p in inputs.docs}
    assert {r["doc_id"] for r in rows} == {p.doc_id for p in pages.values()}
    assert all(r["record_offset"] == pages[r["url"]].record_offset for r in rows)


def _tfds_beam_writer(tmp: Path, inputs: Inputs, num_shards: int) -> tuple[list[int], int]:
    """Writes the same examples with TFDS's own BeamWriter; returns (shard lengths, bytes)."""
    from etils import epath
    from tensorflow_datasets.core import example_serializer, file_adapters, naming
    from tensorflow_datasets.core import writer as tfds_writer
    from tensorflow_datasets.core.utils import shard_utils

    features = tfds.features.FeaturesDict({n: tfds.features.Text() for n in RULES.features})
    template = naming.ShardedFileTemplate(
        data_dir=epath.Path(tmp), dataset_name="c4", split="train", filetype_suffix="tfrecord"
    )
    writer = tfds_writer.BeamWriter(
        serializer=example_serializer.ExampleSerializer(features.get_serialized_info()),
        filename_template=template,
        hash_salt="train",
        disable_shuffling=False,
        example_writer=tfds_writer.ExampleWriter(file_format=file_adapters.FileFormat.TFRECORD),
        shard_config=shard_utils.ShardConfig(num_shards=num_shards),
    )
    examples = [
        (page.url, features.encode_example(write.example_features(page, RULES)))
        for _, page in inputs.docs
    ]
    with beam.Pipeline(runner="DirectRunner") as pipeline:
        writer.write_from_pcollection(pipeline | beam.Create(examples))
    lengths, size = writer.finalize()
    return list(lengths), int(size)


def test_same_shards_as_tfds_beam_writer(built: Path, inputs: Inputs, tmp_path: Path) -> None:
    lengths, size = _tfds_beam_writer(tmp_path, inputs, NUM_SHARDS)
    info = json.loads((built / "c4/en/3.1.0/dataset_info.json").read_text())
    split, validation = info["splits"]
    assert validation == {"filepathTemplate": split["filepathTemplate"], "name": "validation"}
    assert [int(n) for n in split["shardLengths"]] == lengths
    assert int(split["numBytes"]) == size
    theirs = sorted(tmp_path.glob("c4-train.tfrecord-*"))
    ours = our_shards(built)
    assert [p.name for p in ours] == [p.name for p in theirs]
    assert len(ours) < NUM_SHARDS  # empty key ranges were dropped, as TFDS drops them
    for mine, tfds_shard in zip(ours, theirs, strict=True):
        a = [tfrecord.decode_example(r) for r in tfrecord.read_tfrecord(mine)]
        b = [tfrecord.decode_example(r) for r in tfrecord.read_tfrecord(tfds_shard)]
        assert a == b
        # Not byte-equal: TFDS's protobuf writes the feature map in its hash order
        # (content-type, timestamp, text, ...), encode_example in sorted order; sizes agree.
        assert len(mine.read_bytes()) == len(tfds_shard.read_bytes())


_DETECT_MC4 = """
import json
from filters.language import detect_mc4_language, make_detector
from tests.pipeline.test_write import ALL_WET, real_inputs
detector = make_detector("cld3")
out = {}
for _, page in real_inputs(ALL_WET).docs:
    r = detect_mc4_language(page.text, detector)
    out[page.url] = [r.keep, r.language, r.counters]
print(json.dumps(out))
"""


def mc4_languages() -> dict[str, tuple[bool, str, dict[str, int]]]:
    """CLD3's verdict per url, from a process without TensorFlow.

    cld3-py segfaults loading its model in a process that imported TensorFlow first.
    """
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(repo)}
    done = subprocess.run(
        [sys.executable, "-c", _DETECT_MC4], cwd=repo, env=env, capture_output=True, check=True
    )
    return {url: (k, lang, c) for url, (k, lang, c) in json.loads(done.stdout).items()}


def test_multilingual_splits_load(tmp_path: Path, inputs: Inputs) -> None:
    """mC4 (c4/multilingual 3.1.0): one split per CLD3 language, every split loads."""
    from filters.urls import split_for

    verdicts = mc4_languages()
    docs, counters = [], {}
    for partial in inputs.partials:
        for name, n in partial.items():
            counters[name] = counters.get(name, 0) + n
    for _, page in inputs.docs:
        keep, language, page_counters = verdicts[page.url]
        for name, n in page_counters.items():
            key = f"language-filter/{name}"
            counters[key] = counters.get(key, 0) + n
        if keep:
            suffix = "-validation" if split_for(page.normalized_url) == "validation" else ""
            docs.append((language + suffix, page))
    mc4 = Inputs(docs, inputs.dead_letters, [counters])
    run_write(make_config(tmp_path, ALL_WET, config="multilingual"), mc4)
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["reconciliation"]["balanced"]
    builder = tfds.builder_from_directory(str(tmp_path / "c4/multilingual/3.1.0"))
    want: dict[str, set[bytes]] = {}
    for split, page in docs:
        want.setdefault(split, set()).add(page.url.encode())
    assert len(want) > 3 and "und" in want  # several languages, and CLD3's unsure pages
    declared = builder.info.splits
    assert list(declared) == list(tfds_layout.split_names("multilingual"))  # TFDS's 216
    assert {n for n in declared if declared[n].num_examples} == set(want)
    for split, urls in want.items():
        got = [ex["url"].numpy() for ex in builder.as_dataset(split=split)]
        assert len(got) == len(urls) and set(got) == urls
