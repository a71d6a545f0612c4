"""pipeline/formats/tfrecord.py against TensorFlow's own Example proto and TFRecord I/O."""

from __future__ import annotations

import io

import google_crc32c
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.formats.tfrecord import (
    crc32c_python,
    decode_example,
    encode_example,
    example_size,
    frame_record,
    masked_crc32c,
    read_tfrecord,
    write_tfrecord,
)
from tests.pipeline.formats import real_docs

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
FEATURES = st.dictionaries(
    st.text(min_size=1, max_size=12),
    st.one_of(st.binary(max_size=300), st.text(max_size=300), st.lists(INT64, max_size=40)),
    max_size=6,
)


def _tf_example(features):
    """The same Example built with TensorFlow's generated classes."""
    feature = {}
    for name, value in features.items():
        if isinstance(value, str):
            value = value.encode("utf-8")
        if isinstance(value, bytes):
            feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))
        else:
            feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=value))
    return tf.train.Example(features=tf.train.Features(feature=feature))


def test_real_pages_encode_as_tensorflow_serializes_them():
    for doc in real_docs():
        ours = encode_example(doc)
        assert ours == _tf_example(doc).SerializeToString(deterministic=True)
        parsed = tf.train.Example.FromString(ours)
        assert {
            k: v.bytes_list.value[0].decode("utf-8") for k, v in parsed.features.feature.items()
        } == doc


@settings(max_examples=200, deadline=None)
@given(FEATURES)
def test_any_features_encode_like_tensorflow_and_decode_back(features):
    ours = encode_example(features)
    theirs = _tf_example(features)
    assert tf.train.Example.FromString(ours) == theirs
    # We write map entries in plain key order (C++ protobuf's deterministic order); upb, the
    # Python protobuf, puts a key after the longer keys it prefixes ("00" before "0").
    keys = list(features)
    if not any(a != b and b.startswith(a) for a in keys for b in keys):
        assert ours == theirs.SerializeToString(deterministic=True)
    expected = {
        k: [v.encode("utf-8")] if isinstance(v, str) else [v] if isinstance(v, bytes) else list(v)
        for k, v in features.items()
    }
    assert decode_example(ours) == expected


def test_int64_features_for_masking():
    ours = encode_example({"inputs": [32099, 5, 1], "targets": [], "neg": [-1, -(2**63)]})
    parsed = tf.train.Example.FromString(ours).features.feature
    assert list(parsed["inputs"].int64_list.value) == [32099, 5, 1]
    assert list(parsed["targets"].int64_list.value) == []
    assert parsed["targets"].WhichOneof("kind") == "int64_list"
    assert list(parsed["neg"].int64_list.value) == [-1, -(2**63)]
    assert decode_example(ours) == {"inputs": [32099, 5, 1], "targets": [], "neg": [-1, -(2**63)]}


def test_lists_of_strings_are_bytes_lists():
    ours = encode_example({"doc_ids": ["a", b"b"]})
    assert list(tf.train.Example.FromString(ours).features.feature["doc_ids"].bytes_list.value) == [
        b"a",
        b"b",
    ]


def test_decode_reads_unpacked_int64_from_other_writers():
    # Int64List{value: 7, value: 300} written field by field (wire type 0), as proto2 writers do.
    int64_list = b"\x08\x07\x08\xac\x02"
    feature = b"\x1a" + bytes([len(int64_list)]) + int64_list
    entry = b"\x0a\x01x\x12" + bytes([len(feature)]) + feature
    features = b"\x0a" + bytes([len(entry)]) + entry
    assert decode_example(b"\x0a" + bytes([len(features)]) + features) == {"x": [7, 300]}


def test_decode_rejects_truncated_data():
    data = encode_example({"text": "hello world"})
    with pytest.raises(ValueError):
        decode_example(data[:-3])


def test_crc32c_c_and_python_agree():
    for data in (b"", b"a", b"123456789", bytes(range(256)) * 3):
        assert crc32c_python(data) == google_crc32c.value(data)
    assert crc32c_python(b"123456789") == 0xE3069283  # the CRC-32C check value


def test_files_are_byte_identical_to_tf_record_writer(tmp_path):
    records = [encode_example(doc) for doc in real_docs()] + [b""]
    ours = tmp_path / "ours.tfrecord"
    theirs = tmp_path / "theirs.tfrecord"
    written = write_tfrecord(ours, records)
    with tf.io.TFRecordWriter(str(theirs)) as writer:
        for record in records:
            writer.write(record)
    assert ours.read_bytes() == theirs.read_bytes()
    assert written == ours.stat().st_size == sum(len(r) + 16 for r in records)
    assert [r.numpy() for r in tf.data.TFRecordDataset(str(ours))] == records
    assert list(read_tfrecord(ours)) == records
    assert list(read_tfrecord(str(theirs))) == records
    assert [p.name for p in tmp_path.iterdir()] and not list(tmp_path.glob("*.tmp"))


def test_file_objects_and_framing():
    out = io.BytesIO()
    assert write_tfrecord(out, [b"ab", b"cde"]) == len(out.getvalue())
    assert out.getvalue() == frame_record(b"ab") + frame_record(b"cde")
    framed = frame_record(b"cde")
    assert framed[12:15] == b"cde"
    assert int.from_bytes(framed[-4:], "little") == masked_crc32c(b"cde")
    assert list(read_tfrecord(io.BytesIO(out.getvalue()))) == [b"ab", b"cde"]


def test_a_shard_can_be_rewritten_from_itself(tmp_path):
    path = tmp_path / "c4-train.tfrecord-00000-of-00001"
    write_tfrecord(path, [b"keep", b"forget", b"keep too"])
    write_tfrecord(path, (r for r in read_tfrecord(path) if r != b"forget"))
    assert list(read_tfrecord(path)) == [b"keep", b"keep too"]


@pytest.mark.parametrize(
    ("position", "message"),
    [(3, "length CRC"), (14, "data CRC"), (-1, "data CRC")],
)
def test_corruption_is_detected(tmp_path, position, message):
    path = tmp_path / "x.tfrecord"
    write_tfrecord(path, [b"hello", b"world"])
    data = bytearray(path.read_bytes())
    data[position] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=message):
        list(read_tfrecord(path))


def test_truncation_is_detected():
    data = frame_record(b"hello") + frame_record(b"world")
    for cut in (len(data) - 1, len(data) - 10, len(frame_record(b"hello")) + 5):
        with pytest.raises(ValueError, match="truncated"):
            list(read_tfrecord(io.BytesIO(data[:cut])))


def test_a_failed_write_leaves_nothing(tmp_path):
    def records():
        yield b"one"
        raise RuntimeError("upstream failed")

    path = tmp_path / "x.tfrecord"
    with pytest.raises(RuntimeError):
        write_tfrecord(path, records())
    assert list(tmp_path.iterdir()) == []


@settings(max_examples=300, deadline=None)
@given(FEATURES)
def test_example_size_is_the_encoded_length(features):
    assert example_size(features) == len(encode_example(features))


@pytest.mark.parametrize("n", [0, 1, 125, 126, 127, 128, 16377, 16383, 16384, 2_097_152])
@pytest.mark.parametrize("char", ["x", "é", "中", "😀"])
def test_example_size_at_every_varint_boundary(n, char):
    for features in ({"text": char * n, "url": "u"}, {"é": (char * n).encode(), "t": char}):
        assert example_size(features) == len(encode_example(features))


def test_example_size_of_real_pages():
    for doc in real_docs():
        assert example_size(doc) == len(encode_example(doc))
