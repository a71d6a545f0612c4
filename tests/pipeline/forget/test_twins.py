"""``pipeline/forget/twins.py``: the numpy decoding of masked examples equals the reference
decoder (``tfrecord.decode_example``), packed or not, any int64; damage is an error."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest

from pipeline.forget import twins
from pipeline.formats import tfrecord

EDGES = [0, 1, 127, 128, 255, 300, 16383, 16384, 2**21, 2**35, 2**63 - 1, -1, -2, -(2**63)]


def _lists(tokens: twins.Tokens) -> list[list[int]]:
    return [list(map(int, v)) for v in np.split(tokens.values, np.cumsum(tokens.lengths)[:-1])]


def _examples(seed: int) -> list[dict[str, list[int]]]:
    rng = random.Random(seed)
    draw = lambda: rng.choice(EDGES) if rng.random() < 0.2 else rng.randrange(32128)  # noqa: E731
    return [
        {
            "inputs": [draw() for _ in range(rng.randrange(0, 40))],
            "targets": [draw() for _ in range(rng.randrange(0, 8))],
        }
        for _ in range(200)
    ]


def test_the_decoding_is_the_reference_one() -> None:
    examples = _examples(0)
    records = [tfrecord.encode_example(e) for e in examples]
    got = twins.from_records(records)
    for name in twins.FEATURES:
        reference = [list(tfrecord.decode_example(r).get(name, [])) for r in records]
        assert _lists(got[name]) == reference == [e[name] for e in examples]
    table = pa.table(
        {n: pa.array([e[n] for e in examples], pa.list_(pa.int64())) for n in twins.FEATURES}
    )
    assert twins.same(got, twins.from_table(table))


def _unpacked_example(name: str, values: list[int]) -> bytes:
    """An Example whose Int64List has one field per value (old writers), built by hand."""

    def varint(v: int) -> bytes:
        v &= 2**64 - 1
        out = bytearray()
        while v > 127:
            out.append(v & 0x7F | 0x80)
            v >>= 7
        return bytes(out + bytes([v]))

    def field(tag: int, payload: bytes) -> bytes:
        return bytes([tag]) + varint(len(payload)) + payload

    int64_list = b"".join(b"\x08" + varint(v) for v in values)
    entry = field(0x0A, name.encode()) + field(0x12, field(0x1A, int64_list))
    return field(0x0A, field(0x0A, entry))


def test_an_unpacked_int64_list_reads_the_same() -> None:
    record = _unpacked_example("inputs", [5, 300, -1])
    assert tfrecord.decode_example(record)["inputs"] == [5, 300, -1]
    assert _lists(twins.from_records([record])["inputs"]) == [[5, 300, -1]]


def test_extra_and_missing_examples() -> None:
    examples = _examples(1)
    records = [tfrecord.encode_example(e) for e in examples]
    twin = twins.from_records(records[10:])  # the file lost 10 examples; the records hold them
    extra, missing = twins.extra_and_missing(twins.from_records(records), twin)
    assert extra == list(range(10)) and missing == 0
    extra, missing = twins.extra_and_missing(twin, twins.from_records(records))
    assert extra == [] and missing == 10


@pytest.mark.parametrize(
    "record",
    [
        tfrecord.encode_example({"inputs": [1, 300, 70000]})[:-2],  # cut inside the list
        tfrecord.encode_example({"inputs": "text, not tokens"}),
        b"\x0a\x05\x0a\x03\x0a",  # a message shorter than it says
    ],
)
def test_damage_is_an_error(record: bytes) -> None:
    with pytest.raises(ValueError):
        twins.from_records([record])
