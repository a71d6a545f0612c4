"""A masked TFRecord file against its Parquet twin, example by example, at numpy speed.

``c4 mask`` writes each masked shard twice: Parquet (``inputs``, ``targets``, ``doc_ids``) and a
TFRecord twin of ``tf.train.Example``\\ s with int64 ``inputs`` and ``targets`` only, the same
examples in the same order. The TFRecord carries no ``doc_ids``: its twin is its provenance, so
``c4 forget --verify`` checks that it holds exactly the twin's token lists.

Decoding the examples with ``pipeline.formats.tfrecord.decode_example`` costs a Python loop per
token (seconds for a few thousand examples, CPU-days for a full C4); here only the few fields
around each token list are walked in Python, and every packed varint of a file is decoded in one
numpy pass, then compared with the Parquet columns as flat arrays.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.formats.tfrecord import read_varint

FEATURES = ("inputs", "targets")


@dataclass(frozen=True)
class Tokens:
    """Token lists of a file's examples, flat: ``lengths[i]`` values per example, in order."""

    lengths: np.ndarray  # int64, one per example
    values: np.ndarray  # int64, all examples' values one after the other

    def example_keys(self) -> list[bytes]:
        """Each example's values as bytes (hashable, for a multiset)."""
        ends = np.cumsum(self.lengths)
        starts = ends - self.lengths
        return [self.values[s:e].tobytes() for s, e in zip(starts, ends, strict=True)]


def from_records(records: Sequence[bytes]) -> dict[str, Tokens]:
    """The ``inputs`` and ``targets`` of serialized Examples.

    Raises:
        ValueError: a record that is not an Example of int64 features.
    """
    payloads: dict[str, list[bytes]] = {name: [] for name in FEATURES}
    for record in records:
        found = dict(_int64_payloads(record))
        for name in FEATURES:
            payloads[name].append(found.get(name, b""))
    return {name: _unpack(payloads[name]) for name in FEATURES}


def from_table(table: pa.Table) -> dict[str, Tokens]:
    """The ``inputs`` and ``targets`` columns of a masked Parquet table."""
    out = {}
    for name in FEATURES:
        column = table[name].combine_chunks() if name in table.column_names else None
        if column is None:
            out[name] = Tokens(np.zeros(table.num_rows, np.int64), np.zeros(0, np.int64))
            continue
        lengths = pc.fill_null(pc.list_value_length(column), 0).to_numpy(zero_copy_only=False)
        values = pc.list_flatten(column).to_numpy(zero_copy_only=False)
        out[name] = Tokens(lengths.astype(np.int64), values.astype(np.int64))
    return out


def same(a: dict[str, Tokens], b: dict[str, Tokens]) -> bool:
    return all(
        np.array_equal(a[n].lengths, b[n].lengths) and np.array_equal(a[n].values, b[n].values)
        for n in FEATURES
    )


def extra_and_missing(records: dict[str, Tokens], twin: dict[str, Tokens]) -> tuple[list[int], int]:
    """Positions of the records' examples the twin does not hold (as a multiset), and how many
    of the twin's examples the records lack."""
    wanted = Counter(_keys(twin))
    extra = []
    for i, key in enumerate(_keys(records)):
        if wanted[key] > 0:
            wanted[key] -= 1
        else:
            extra.append(i)
    return extra, wanted.total()


def _keys(tokens: dict[str, Tokens]) -> list[tuple[bytes, ...]]:
    columns = [tokens[name].example_keys() for name in FEATURES]
    return list(zip(*columns, strict=True))


# --- protobuf, only as deep as the token lists ---------------------------------------------


def _fields(buf: bytes, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """``(field number, wire type, start, end)`` of each field of the message ``buf[start:end]``
    (``start``/``end`` of a length-delimited field's payload; of the value otherwise)."""
    pos = start
    while pos < end:
        key, pos = read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 2:
            size, pos = read_varint(buf, pos)
            begin, pos = pos, pos + size
        elif wire == 0:
            begin = pos
            _, pos = read_varint(buf, pos)
        elif wire in (1, 5):
            begin, pos = pos, pos + (8 if wire == 1 else 4)
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        if pos > end:
            raise ValueError("a field runs past the end of its message")
        yield number, wire, begin, pos


def _int64_payloads(record: bytes) -> Iterator[tuple[str, bytes]]:
    """``(feature name, packed int64 varints)`` of each int64 feature of an Example."""
    for number, wire, start, end in _fields(record, 0, len(record)):
        if number != 1 or wire != 2:  # Example.features
            continue
        for n, w, e_start, e_end in _fields(record, start, end):
            if n != 1 or w != 2:  # Features.feature: a map entry
                continue
            name, feature = "", (0, 0)
            for fn, fw, f_start, f_end in _fields(record, e_start, e_end):
                if fn == 1 and fw == 2:
                    name = record[f_start:f_end].decode("utf-8")
                elif fn == 2 and fw == 2:
                    feature = (f_start, f_end)
            if name in FEATURES:
                yield name, _packed(record, *feature)


def _packed(record: bytes, start: int, end: int) -> bytes:
    """The varints of a Feature's Int64List, one after the other (packed, as writers do now,
    or one field per value, as old ones did: the value's bytes are the same varint)."""
    out = []
    for number, wire, s, e in _fields(record, start, end):
        if number in (1, 2):
            raise ValueError("a bytes_list or float_list where int64 tokens belong")
        if number == 3 and wire == 2:
            out += [
                record[vs:ve] for n, w, vs, ve in _fields(record, s, e) if n == 1 and w in (0, 2)
            ]
    return b"".join(out)


def _unpack(payloads: Sequence[bytes]) -> Tokens:
    """Every varint of ``payloads`` in one pass; ``lengths``: how many each payload holds."""
    data = np.frombuffer(b"".join(payloads), dtype=np.uint8)
    sizes = np.fromiter((len(p) for p in payloads), dtype=np.int64, count=len(payloads))
    bounds = np.concatenate(([0], np.cumsum(sizes)))
    ends = np.flatnonzero(data < 0x80)  # the last byte of each varint
    last_bytes = bounds[1:][sizes > 0] - 1
    if len(last_bytes) and not (data[last_bytes] < 0x80).all():
        raise ValueError("a token list ends inside a varint")
    lengths = np.searchsorted(ends, bounds[1:]) - np.searchsorted(ends, bounds[:-1])
    # Little-endian groups of 7 bits: from each varint's last byte back over the continuation
    # bytes (>= 0x80) before it; a loop per byte of the longest varint (tokens: 2 or 3).
    values = data[ends].astype(np.uint64)
    more = np.ones(len(ends), dtype=bool)
    for back in range(1, 11):
        at = ends - back
        more &= at >= 0
        more[more] = data[at[more]] >= 0x80
        if not more.any():
            break
        if back == 10:
            raise ValueError("varint too long")
        low = (data[at[more]] & 0x7F).astype(np.uint64)
        values[more] = (values[more] << np.uint64(7)) | low
    return Tokens(lengths.astype(np.int64), values.view(np.int64))
