"""TFRecord framing and ``tf.train.Example`` wire encoding, without TensorFlow.

TFRecord frames each record as ``uint64 length | uint32 masked_crc32c(length) | data |
uint32 masked_crc32c(data)``, little-endian (tensorflow/core/lib/io/record_writer.h). Examples
are written straight in protobuf wire format, so a Dataflow worker needs neither TensorFlow nor
a generated protobuf class to produce bytes that ``tf.train.Example.FromString`` reads back.

Message layout encoded here (tensorflow/core/example/{example,feature}.proto)::

    Example  { Features features = 1; }
    Features { map<string, Feature> feature = 1; }   # entry: key = 1, value = 2
    Feature  { oneof kind { BytesList bytes_list = 1; FloatList float_list = 2;
                            Int64List int64_list = 3; } }
    BytesList { repeated bytes value = 1; }
    Int64List { repeated int64 value = 1 [packed = true]; }

Map entries are written in sorted key order (C++ protobuf's deterministic order), so equal
inputs always give equal bytes. TFDS's own serializer leaves the order to upb's hash map, so
its shards hold the same Examples with entries in another order: equal when parsed.
"""

from __future__ import annotations

import os
import struct
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import IO, Any

_CRC32C_TABLE: list[int] = []
for _n in range(256):
    for _ in range(8):
        _n = (_n >> 1) ^ 0x82F63B78 if _n & 1 else _n >> 1
    _CRC32C_TABLE.append(_n)


def crc32c_python(data: bytes) -> int:
    """Returns the CRC-32C (Castagnoli) of ``data``; pure Python, for hosts without the C one."""
    crc = 0xFFFFFFFF
    table = _CRC32C_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


try:  # The C extension ships with apache-beam[gcp] (google-cloud-storage needs it).
    from google_crc32c import value as _crc32c_c
except ImportError:  # pragma: no cover - only where the extension is missing
    _crc32c_c = None

crc32c: Callable[[bytes], int] = _crc32c_c or crc32c_python


PathOrFile = str | os.PathLike[str] | IO[bytes]
FeatureValue = bytes | str | Sequence[int] | Sequence[bytes] | Sequence[str]

_MASK_DELTA = 0xA282EAD8
_U32 = 0xFFFFFFFF
_U64 = 0xFFFFFFFFFFFFFFFF
_pack_len = struct.Struct("<Q").pack
_pack_crc = struct.Struct("<I").pack
_unpack_len = struct.Struct("<Q").unpack_from
_unpack_crc = struct.Struct("<I").unpack_from

# One-byte tags: (field_number << 3) | wire_type, for the field numbers above.
_TAG_LEN_1 = b"\x0a"  # field 1, length-delimited
_TAG_LEN_2 = b"\x12"  # field 2, length-delimited
_TAG_LEN_3 = b"\x1a"  # field 3, length-delimited

# Varints below 128 are by far the most common (lengths of short fields): precompute them.
_SMALL_VARINTS = [bytes((i,)) for i in range(128)]


def masked_crc32c(data: bytes) -> int:
    """Returns TFRecord's masked CRC-32C of ``data`` (rotate right by 15, add a constant)."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & _U32


def _varint(value: int) -> bytes:
    if value < 128:
        if value >= 0:
            return _SMALL_VARINTS[value]
        value &= _U64  # int64 wire form: two's complement, always 10 bytes
    out = bytearray()
    while value > 127:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(tag: bytes, payload: bytes) -> bytes:
    return tag + _varint(len(payload)) + payload


def _encode_feature(value: FeatureValue) -> bytes:
    """Returns the serialized ``Feature`` message for one value."""
    if isinstance(value, bytes):
        return _field(_TAG_LEN_1, _field(_TAG_LEN_1, value))
    if isinstance(value, str):
        return _field(_TAG_LEN_1, _field(_TAG_LEN_1, value.encode("utf-8")))
    if len(value) and isinstance(value[0], bytes | str):
        items = [v.encode("utf-8") if isinstance(v, str) else bytes(v) for v in value]
        return _field(_TAG_LEN_1, b"".join([_field(_TAG_LEN_1, v) for v in items]))
    packed = b"".join([_varint(int(v)) for v in value])
    # An empty Int64List has no fields at all: protobuf omits an empty packed field.
    return _field(_TAG_LEN_3, _field(_TAG_LEN_1, packed) if packed else b"")


def encode_example(features: Mapping[str, FeatureValue]) -> bytes:
    """Serializes a ``tf.train.Example`` from plain Python values.

    Args:
        features: feature name to value. ``bytes`` and ``str`` (UTF-8 encoded) become a
            one-element ``bytes_list``, as TFDS ``Text`` features are stored; a sequence of
            ints becomes a packed ``int64_list``; a sequence of bytes/str a ``bytes_list``.

    Returns:
        The serialized Example: map entries in key order, as C++ protobuf's deterministic
        serialization writes them (Python's upb differs only where one key prefixes another).
    """
    # Each message is prefixed by its length, so nesting the usual way copies a page's text
    # once per level. Instead, write every header around a value from the lengths alone and
    # join all pieces once: the text is copied a single time.
    pieces: list[bytes] = []
    total = 0
    for name in sorted(features):
        value = features[name]
        key = name.encode("utf-8")
        if isinstance(value, str):
            value = value.encode("utf-8")
        if isinstance(value, bytes):
            size = len(value)
            bytes_list = 1 + _varint_len(size) + size
            feature = 1 + _varint_len(bytes_list) + bytes_list
            tail = b"".join(
                (_TAG_LEN_2, _varint(feature), _TAG_LEN_1, _varint(bytes_list), _TAG_LEN_1)
            ) + _varint(size)
        else:
            value = _encode_feature(value)
            feature = len(value)
            tail = _TAG_LEN_2 + _varint(feature)
        key_field = _TAG_LEN_1 + _varint(len(key)) + key
        entry = len(key_field) + len(tail) + len(value)
        head = _TAG_LEN_1 + _varint(entry)
        pieces += (head, key_field, tail, value)
        total += len(head) + entry
    return b"".join([_TAG_LEN_1, _varint(total), *pieces])


def _varint_len(value: int) -> int:
    return 1 if value < 128 else (value.bit_length() + 6) // 7


def example_size(features: Mapping[str, FeatureValue]) -> int:
    """``len(encode_example(features))``, from the lengths alone where every value is text or
    bytes (the write planner needs every example's size before it writes one; a page's text
    need not be encoded twice for it)."""
    total = 0
    for name, value in features.items():
        if isinstance(value, str):
            # An ASCII str's length is its UTF-8 length, and str knows it is ASCII in O(1).
            size = len(value) if value.isascii() else len(value.encode("utf-8"))
        elif isinstance(value, bytes):
            size = len(value)
        else:
            return len(encode_example(features))
        key = len(name) if name.isascii() else len(name.encode("utf-8"))
        bytes_list = 1 + _varint_len(size) + size
        feature = 1 + _varint_len(bytes_list) + bytes_list
        # As encode_example lays them out: key field, then tag|len(feature), tag|len(bytes_list),
        # tag|len(value), value; the map entry's tag and length before them.
        entry = 1 + _varint_len(key) + key + 1 + _varint_len(feature) + feature
        total += 1 + _varint_len(entry) + entry
    return 1 + _varint_len(total) + total


def frame_record(data: bytes) -> bytes:
    """Returns ``data`` in TFRecord framing (length, its masked crc, data, data's masked crc)."""
    length = _pack_len(len(data))
    return b"".join(
        (length, _pack_crc(masked_crc32c(length)), data, _pack_crc(masked_crc32c(data)))
    )


def write_tfrecord(path_or_file: PathOrFile, records: Iterable[bytes]) -> int:
    """Writes serialized records as a TFRecord file (uncompressed).

    A path is written through a temporary file in the same directory and renamed into place
    when complete, so a reader never sees a half-written shard and a shard can be rewritten
    from its own contents (``c4 forget``).

    Args:
        path_or_file: a local path, or a binary file object to append to.
        records: serialized records (e.g. from ``encode_example``), in file order.

    Returns:
        The number of bytes written.
    """
    if not isinstance(path_or_file, str | os.PathLike):
        return _write_records(path_or_file, records)
    path = os.fspath(path_or_file)
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out:
            written = _write_records(out, records)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return written


def _write_records(out: IO[bytes], records: Iterable[bytes]) -> int:
    written = 0
    for record in records:
        framed = frame_record(record)
        out.write(framed)
        written += len(framed)
    return written


def read_tfrecord(path_or_file: PathOrFile) -> Iterator[bytes]:
    """Yields the records of an uncompressed TFRecord file, checking both CRCs of each.

    Args:
        path_or_file: a local path, or a binary file object positioned at a record start.

    Yields:
        Each record's data.

    Raises:
        ValueError: on a CRC mismatch or a truncated record, naming the byte offset.
    """
    if isinstance(path_or_file, str | os.PathLike):
        with open(path_or_file, "rb") as stream:
            yield from _read_records(stream)
    else:
        yield from _read_records(path_or_file)


def _read_records(stream: IO[bytes]) -> Iterator[bytes]:
    offset = 0
    while True:
        header = stream.read(12)
        if not header:
            return
        if len(header) < 12:
            raise ValueError(f"truncated TFRecord header at byte {offset}")
        (length,) = _unpack_len(header)
        if _unpack_crc(header, 8)[0] != masked_crc32c(header[:8]):
            raise ValueError(f"TFRecord length CRC mismatch at byte {offset}")
        body = stream.read(length + 4)
        if len(body) < length + 4:
            raise ValueError(f"truncated TFRecord data at byte {offset}")
        data = body[:length]
        if _unpack_crc(body, length)[0] != masked_crc32c(data):
            raise ValueError(f"TFRecord data CRC mismatch at byte {offset}")
        offset += 12 + length + 4
        yield data


def read_varint(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    """The protobuf varint at ``buf[pos:]`` and the position after it.

    Raises:
        ValueError: the buffer ends inside it, or it is longer than ten bytes (64 bits).
    """
    result = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("truncated or overlong varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _iter_fields(buf: bytes) -> Iterator[tuple[int, int, Any]]:
    """Yields ``(field_number, wire_type, value)``; value is bytes for length-delimited."""
    pos = 0
    end = len(buf)
    while pos < end:
        key, pos = read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 2:
            size, pos = read_varint(buf, pos)
            if pos + size > end:
                raise ValueError("length-delimited field runs past the end of its message")
            yield number, wire, buf[pos : pos + size]
            pos += size
        elif wire == 0:
            value, pos = read_varint(buf, pos)
            yield number, wire, value
        elif wire == 5:
            yield number, wire, buf[pos : pos + 4]
            pos += 4
        elif wire == 1:
            yield number, wire, buf[pos : pos + 8]
            pos += 8
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")


def _signed64(value: int) -> int:
    value &= _U64
    return value - (1 << 64) if value >= 1 << 63 else value


def _decode_feature(buf: bytes) -> list[bytes] | list[int]:
    values: list[Any] = []
    for number, _, payload in _iter_fields(buf):
        if number == 1:  # BytesList
            values = [v for n, w, v in _iter_fields(payload) if n == 1 and w == 2]
        elif number == 3:  # Int64List: packed (wire 2) or, from old writers, one by one (0)
            values = []
            for n, w, v in _iter_fields(payload):
                if n != 1:
                    continue
                if w == 0:
                    values.append(_signed64(v))
                else:
                    pos = 0
                    while pos < len(v):
                        item, pos = read_varint(v, pos)
                        values.append(_signed64(item))
        elif number == 2:
            raise ValueError("float_list features are not supported")
    return values


def decode_example(data: bytes) -> dict[str, list[bytes] | list[int]]:
    """Parses a serialized ``tf.train.Example`` into feature name -> list of values.

    Args:
        data: a serialized Example.

    Returns:
        ``bytes_list`` features as lists of bytes, ``int64_list`` features as lists of ints.

    Raises:
        ValueError: on malformed input or a ``float_list`` feature.
    """
    try:
        out: dict[str, list[bytes] | list[int]] = {}
        for number, wire, features in _iter_fields(data):
            if number != 1 or wire != 2:
                continue
            for n, w, entry in _iter_fields(features):
                if n != 1 or w != 2:
                    continue
                key = b""
                value = b""
                for en, ew, ev in _iter_fields(entry):
                    if en == 1 and ew == 2:
                        key = ev
                    elif en == 2 and ew == 2:
                        value = ev
                out[key.decode("utf-8")] = _decode_feature(value)
        return out
    except IndexError as err:
        raise ValueError("truncated protobuf message") from err
