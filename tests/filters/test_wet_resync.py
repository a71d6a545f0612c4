"""filters/wet.py after damage: reading resumes at the next intact member, every lost record is a
dead letter of its own, and every stored byte is either read or counted lost.

Real WET (Common Crawl's layout, one gzip member per record), damaged the ways issue 18 found:
a flipped bit in one member's gzip magic, 20 damaged members in a row, a file cut short, a source
that fails mid-file; then a fuzz of flipped, deleted and duplicated byte ranges.
"""

from __future__ import annotations

import io
import itertools
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from filters.records import DeadLetter, Dropped, Page
from filters.spec import resolve_rules
from filters.wet import (
    REASON_CORRUPT_GZIP,
    REASON_TRAILING_GARBAGE,
    REASON_TRUNCATED_GZIP,
    iter_wet,
    iter_wet_path,
)
from tests.conftest import WET_DIR

V3 = resolve_rules("en", "3.1.0")
EXCERPT_262 = WET_DIR / "CC-MAIN-2026-12.excerpt-262.warc.wet.gz"  # 263 members
EXCERPT_25 = WET_DIR / "CC-MAIN-2016-50.excerpt-25.warc.wet.gz"  # 26 members
Item = Page | Dropped | DeadLetter


def member_offsets(raw: bytes) -> list[int]:
    """Where each gzip member starts, and the file's end last."""
    offsets, at = [], 0
    while at < len(raw):
        offsets.append(at)
        inflater = zlib.decompressobj(wbits=31)
        inflater.decompress(raw[at:])
        at = len(raw) - len(inflater.unused_data)
    return [*offsets, len(raw)]


def read(data: bytes) -> list[Item]:
    return list(iter_wet(io.BytesIO(data), "damaged.warc.wet.gz", V3))


def identity(item: Page | Dropped) -> tuple:
    """An item without its offset (damage before a member moves it) or file name."""
    if isinstance(item, Page | Dropped):  # a Dropped names its source record too
        return item._replace(record_offset=0, source_file="")
    return item


def dead(items: list[Item]) -> list[DeadLetter]:
    return [i for i in items if isinstance(i, DeadLetter)]


def flip(data: bytes, at: int, bit: int = 0) -> bytes:
    out = bytearray(data)
    out[at] ^= 1 << bit
    return bytes(out)


def assert_bytes_balance(got: list[Item], clean: list[Item], offsets: list[int], size: int) -> None:
    """Every stored byte is in a member read whole or in a dead letter's lost bytes: the members
    of the records read (their lengths in the clean file) and the lost bytes add up to ``size``."""
    lengths = {
        identity(item): b - a  # type: ignore[arg-type]
        for item, a, b in zip(clean, offsets[:-1], offsets[1:], strict=True)
    }
    read_bytes = sum(lengths[identity(i)] for i in got if not isinstance(i, DeadLetter))
    assert read_bytes + sum(d.lost_bytes for d in dead(got)) == size


RAW_262 = EXCERPT_262.read_bytes()
OFFSETS_262 = member_offsets(RAW_262)
CLEAN_262 = read(RAW_262)


def test_the_excerpt_is_one_member_per_record() -> None:
    assert len(OFFSETS_262) - 1 == len(CLEAN_262) == 263
    assert not dead(CLEAN_262)


@pytest.mark.parametrize("byte", [0, 1, 2], ids=["magic-1f", "magic-8b", "method-08"])
def test_one_flipped_bit_in_a_member_header_costs_that_record_only(byte: int) -> None:
    # Issue 18: a flipped bit in member 80's magic ended the file as trailing_garbage.
    start, end = OFFSETS_262[80], OFFSETS_262[81]
    got = read(flip(RAW_262, start + byte))
    assert len(got) == len(CLEAN_262)
    letter = got[80]
    assert isinstance(letter, DeadLetter)
    assert (letter.reason, letter.record_offset, letter.lost_bytes) == (
        REASON_CORRUPT_GZIP,
        start,
        end - start,
    )
    # The record is named: its header is read past the damaged gzip header.
    record_id = CLEAN_262[80].record_id  # type: ignore[union-attr]
    assert letter.detail == (
        f"bytes {start}-{end} of the file ({end - start} bytes): gzip header damaged; "
        f"WARC-Record-ID {record_id}"
    )
    assert letter.excerpt.startswith("WARC/1.0\r\nWARC-Type: conversion\r\nWARC-Target-URI: ")
    # Every other record, the 182 after it too, is read as from the clean file.
    assert [identity(i) for i in got[:80] + got[81:]] == [
        identity(i) for i in CLEAN_262[:80] + CLEAN_262[81:]
    ]
    assert_bytes_balance(got, CLEAN_262, OFFSETS_262, len(RAW_262))


def damage_20_members(how: str) -> bytes:
    data = bytearray(RAW_262)
    for m in range(80, 100):
        start = OFFSETS_262[m]
        if how == "magic":
            data[start + 1] ^= 1
        else:  # 40 zero bytes in the deflate data (its Huffman tables, in some members)
            data[start + 100 : start + 140] = bytes(40)
    return bytes(data)


@pytest.mark.parametrize("how", ["magic", "deflate"])
def test_twenty_damaged_members_in_a_row_are_twenty_dead_letters(how: str) -> None:
    # Decided: a damaged stretch is cut at every record start found in it (a gzip header,
    # whole or with a damaged magic), one dead letter per record, so the reconciliation counts
    # each lost record; bytes no record start can be found in stay with the dead letter before.
    got = read(damage_20_members(how))
    letters = dead(got)
    assert [d.record_offset for d in letters] == OFFSETS_262[80:100]
    assert [d.lost_bytes for d in letters] == [
        b - a for a, b in itertools.pairwise(OFFSETS_262[80:101])
    ]
    assert {d.reason for d in letters} == {REASON_CORRUPT_GZIP}
    if how == "magic":  # each names its record
        ids = [i.record_id for i in CLEAN_262[80:100]]  # type: ignore[union-attr]
        assert [d.detail.rpartition(" ")[2] for d in letters] == ids
    assert [identity(i) for i in got if not isinstance(i, DeadLetter)] == [
        identity(i) for i in CLEAN_262[:80] + CLEAN_262[100:]
    ]
    assert_bytes_balance(got, CLEAN_262, OFFSETS_262, len(RAW_262))


def test_damaged_first_member_header_is_still_read_as_gzip() -> None:
    got = read(flip(RAW_262, 1))
    assert isinstance(got[0], DeadLetter) and got[0].record_offset == 0
    assert got[0].lost_bytes == OFFSETS_262[1]
    assert [identity(i) for i in got[1:]] == [identity(i) for i in CLEAN_262[1:]]


def test_garbage_between_members_and_after_the_last() -> None:
    at = OFFSETS_262[200]
    data = RAW_262[:at] + b"not a gzip member" + RAW_262[at:] + bytes(10) + b"junk"
    got = read(data)
    letters = dead(got)
    assert [(d.reason, d.record_offset, d.lost_bytes) for d in letters] == [
        (REASON_CORRUPT_GZIP, at, 17),
        # Zero padding is legal gzip, but not when garbage follows it: counted from the zeros.
        (REASON_TRAILING_GARBAGE, len(RAW_262) + 17, 14),
    ]
    assert letters[0].excerpt == "not a gzip member"
    assert letters[0].detail.endswith(": no gzip member starts here")
    assert [identity(i) for i in got if not isinstance(i, DeadLetter)] == [
        identity(i) for i in CLEAN_262
    ]
    assert_bytes_balance(got, CLEAN_262, OFFSETS_262, len(data))


def test_a_cut_member_counts_its_bytes() -> None:
    start = OFFSETS_262[200]
    got = read(RAW_262[: start + 300])
    assert len(got) == 201
    assert (got[-1].reason, got[-1].record_offset, got[-1].lost_bytes) == (  # type: ignore[union-attr]
        REASON_TRUNCATED_GZIP,
        start,
        300,
    )


class FailingStream(io.RawIOBase):
    """A real stream of ``data`` that raises ``OSError`` once ``fail_at`` bytes are read."""

    def __init__(self, data: bytes, fail_at: int) -> None:
        self._data = io.BytesIO(data[:fail_at])

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        block = self._data.read(size)
        if not block:
            raise OSError("connection reset")
        return block


@pytest.mark.parametrize("where", ["boundary", "inside"])
def test_a_source_that_fails_keeps_every_record_before_the_failure(where: str) -> None:
    start = OFFSETS_262[200]
    fail_at = start if where == "boundary" else start + 300
    items: list[Item] = []
    reader = iter_wet(FailingStream(RAW_262, fail_at), "x.warc.wet.gz", V3)  # type: ignore[arg-type]
    with pytest.raises(OSError, match="connection reset"):
        for item in reader:
            items.append(item)
    # The record of member 199 was whole when the source failed: it is kept, not lost.
    assert [identity(i) for i in items[:200]] == [identity(i) for i in CLEAN_262[:200]]
    if where == "boundary":
        assert len(items) == 200
    else:  # and the member the failure cut is dead-lettered with the bytes that did arrive
        assert [(d.reason, d.record_offset, d.lost_bytes) for d in items[200:]] == [
            (REASON_TRUNCATED_GZIP, start, 300)
        ]


# ---- fuzz: flips, deletions and duplications of real WET -------------------------------------

RAW_25 = EXCERPT_25.read_bytes()
OFFSETS_25 = member_offsets(RAW_25)
CLEAN_25 = read(RAW_25)

edit = st.tuples(
    st.sampled_from(["flip", "delete", "duplicate"]),
    st.integers(0, len(RAW_25) - 1),  # where
    st.integers(1, 3000),  # how many bytes (a flip flips one bit in each of up to 8 of them)
    st.integers(0, 7),  # which bit
)


def apply(edits: list[tuple[str, int, int, int]]) -> tuple[bytes, set[int], set[int]]:
    """The damaged file, the members no edit touched and those deletions removed whole
    (indexes into OFFSETS_25).

    Edits are applied from the end of the file backwards, each cut short before the one after
    it, so that every position is one of the original file; a member is touched when an edit
    changes, removes or inserts a byte in it (an insertion at its first byte touches the member
    before it).
    """
    data = bytearray(RAW_25)
    touched: set[int] = set()
    removed = bytearray(len(RAW_25))  # 1 where a deletion took the byte

    def members_in(a: int, b: int) -> set[int]:
        members = range(len(OFFSETS_25) - 1)
        return {m for m in members if OFFSETS_25[m] < b and a < OFFSETS_25[m + 1]}

    limit = len(RAW_25)
    for kind, at, size, bit in sorted(edits, key=lambda e: e[1], reverse=True):
        if at >= limit:
            continue
        end, limit = min(at + size, limit), at
        if kind == "flip":
            for i in range(at, min(end, at + 8)):
                data[i] ^= 1 << bit
            touched |= members_in(at, min(end, at + 8))
        elif kind == "delete":
            del data[at:end]
            touched |= members_in(at, end)
            removed[at:end] = b"\x01" * (end - at)
        else:
            data[end:end] = RAW_25[at:end]
            touched |= members_in(at, end) | members_in(end - 1, end)
    members = range(len(OFFSETS_25) - 1)
    gone = {m for m in members if all(removed[OFFSETS_25[m] : OFFSETS_25[m + 1]])}
    return bytes(data), set(members) - touched, gone


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=st.lists(edit, min_size=1, max_size=4))
def test_fuzz_every_untouched_member_is_read(edits: list[tuple[str, int, int, int]]) -> None:
    data, untouched, gone = apply(edits)
    reader = iter_wet(io.BytesIO(data), "damaged.warc.wet.gz", V3)
    got = list(reader)
    # Every item is a record: read (kept or dropped) or dead-lettered, nothing else.
    assert all(isinstance(i, Page | Dropped | DeadLetter) for i in got)
    read_records = [identity(i) for i in got if not isinstance(i, DeadLetter)]
    for m in untouched:  # identical record bytes, wherever the member moved
        assert identity(CLEAN_25[m]) in read_records, m  # type: ignore[arg-type]
    # Nothing read that was not in the file (a duplicated member may be read twice).
    assert set(read_records) <= {identity(i) for i in CLEAN_25}  # type: ignore[arg-type]
    # A record not read is counted: a dead letter stands for it (or, where an edit left only
    # zero bytes of it, they were legal gzip padding, counted below). A member deleted whole,
    # to the byte, leaves nothing to count: the file is merely shorter.
    missing = {m for m, i in enumerate(CLEAN_25) if identity(i) not in read_records}
    if missing - gone:
        assert dead(got) or reader.padding_bytes
    # Bytes in = bytes of members read + bytes lost + padding.
    assert_bytes_balance(got, CLEAN_25, OFFSETS_25, len(data) - reader.padding_bytes)


def test_fuzz_is_about_the_real_file() -> None:
    assert len(OFFSETS_25) - 1 == 26 and len(CLEAN_25) == 26
    assert iter_wet_path(str(EXCERPT_25), V3) is not None
    assert Path(EXCERPT_25).stat().st_size == len(RAW_25)
