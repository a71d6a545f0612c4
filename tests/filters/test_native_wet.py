"""``filters._native.wet_record`` against its specification, ``filters.wet._fields_py``.

The kernel decodes and splits a WET record in one call on its bytes; the specification decodes
the whole record (strict UTF-8), splits it (``_split_record_py``) and reads the header fields.
Case by case: every record the reader cuts out of the real files (edge cases included), every
code point where the kernel classifies bytes (line ends, whitespace stripped, header values, the
text), every invalid UTF-8 form in every place of a record, and a fuzz of records built from the
pieces that matter. Results must be equal (``None`` for a record that is not UTF-8).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from filters import wet
from tests.filters.test_native import CODE_POINTS, _native, real_record_bytes


@pytest.fixture(scope="module")
def native() -> Any:
    return _native()


def check(native: Any, data: bytes) -> None:
    want = wet._fields_py(data)
    assert native.wet_record(data, 0, len(data)) == want, data[:300]
    # Inside a larger buffer (the reader's bytearray): only [start, end) is read.
    padded = bytearray(b"\xffWARC/1.0\n" + data + b"\n\xffText\n")
    assert native.wet_record(padded, 10, 10 + len(data)) == want, data[:300]


def test_every_real_record(native):
    records = list(real_record_bytes())
    assert len(records) > 300
    assert any(wet._fields_py(r) is None for r in records)  # the edge cases' invalid UTF-8
    for record in records:
        check(native, record)
        check(native, record.replace(b"\n", b"\r\n"))
        check(native, record.replace(b"\r\n", b"\r"))


def test_range_is_checked(native):
    for start, end in ((-1, 2), (2, 1), (0, 5)):
        with pytest.raises(ValueError):
            native.wet_record(b"abcd", start, end)
    assert native.wet_record(memoryview(b"xWARC/1.0\nWARC-Type: x\nhi"), 1, 25)[6:] == ("x", "hi")


HEADER = "WARC/1.0\r\nWARC-Type: conversion\r\nWARC-Target-URI: http://a.b/{c}\r\n"
# Where a character may land: line ends (stripped or not), inside a line, a header value's
# ends, a header key, a line prefix, the text's edges.
TEMPLATES = (
    "{c}",
    "a{c}b",
    "{c}a{c}\n{c}\n",
    HEADER + "WARC-Date: {c}2019{c}\r\n\r\n{c}text{c}\nmore{c}\n",
    HEADER + "WARC-Record-ID: <{c}>\r\n{c}WARC-Record-ID: <x>\r\n\r\nt\n",
    HEADER + "Content-Type{c}: x\r\nContent-Length:{c}\r\n\r\n{c}\n{c}{c}t",
    HEADER + "\r\nbody\nWARC{c}in body\nContent-{c}\nCONTENT-: {c}\nend",
)


@pytest.mark.slow
def test_every_code_point(native):
    """Each character in every place of ``TEMPLATES``, 512 records joined at a time (each line
    end of a template is one of the joined record's)."""
    for at in range(0, len(CODE_POINTS), 512):
        chars = [chr(cp) for cp in CODE_POINTS[at : at + 512]]
        for template in TEMPLATES:
            check(native, "\n".join(template.format(c=c) for c in chars).encode("utf-8"))
            check(native, template.format(c="".join(chars)).encode("utf-8"))


def test_every_whitespace_and_line_end(native):
    """The characters ``str.strip()`` removes or a line split sees, in every place."""
    special = [chr(cp) for cp in CODE_POINTS if chr(cp).isspace() or chr(cp) in "\r\n:"]
    special += ["\u200b", "\ufeff", "\u00a0\u3000", "\r\n", "\u0085\u2028"]
    for c in special:
        for template in TEMPLATES:
            check(native, template.format(c=c).encode("utf-8"))


# Every class of invalid UTF-8 CPython's strict decoder refuses, and valid edges next to them.
INVALID = (
    b"\x80",
    b"\xbf",
    b"\xc0\x80",
    b"\xc1\xbf",
    b"\xc2",
    b"\xc2\x41",
    b"\xe0\x80\x80",
    b"\xe0\x9f\xbf",
    b"\xed\xa0\x80",
    b"\xed\xbf\xbf",
    b"\xe2\x80",
    b"\xe3\x80",
    b"\xf0\x80\x80\x80",
    b"\xf0\x8f\xbf\xbf",
    b"\xf4\x90\x80\x80",
    b"\xf5\x80\x80\x80",
    b"\xf8\x88\x80\x80\x80",
    b"\xff",
    b"\xfe",
    b"\xe2\x80\x80\x80",
    b"\xf0\x9f\x98",
)
VALID_EDGES = (
    b"\xc2\x80",
    b"\xdf\xbf",
    b"\xe0\xa0\x80",
    b"\xed\x9f\xbf",
    b"\xee\x80\x80",
    b"\xef\xbf\xbf",
    b"\xf0\x90\x80\x80",
    b"\xf4\x8f\xbf\xbf",
    b"\xe2\x80\x80",  # U+2000, whitespace
    b"\xe3\x80\x80",  # U+3000, whitespace
    b"\xc2\xa0",  # U+00A0, whitespace
    b"\xc2\x85",  # U+0085, whitespace
)
BYTE_TEMPLATES = (
    *(t.encode("utf-8") for t in TEMPLATES),
    b"WARC/1.0\r\nWARC-Type: conversion\r\nWARC-Target-URI: u\r\nWARC-Filename: {c}\r\n\r\nt",
    b"WARC/1.0\r\nWARC-Type: conversion\r\nWARC-Type: {c}\r\n\r\nt",
    b"WARC/1.0\r\nWARC-Date: {c}\r\nWARC-Date: d\r\n\r\nt",
    b"WARC/1.0\r\n\r\nline {c}\nline\n{c}",
    b"{c}\xe3\x80\x80\n\xe3\x80\x80{c}",
    b"\xe2\x80\x80{c}\n{c}\xc2\xa0",
)


def test_every_invalid_form_in_every_place(native):
    for template in BYTE_TEMPLATES:
        for piece in (*INVALID, *VALID_EDGES):
            for around in (b"", b" ", b"\n", b"\xe2\x80\x80", b"\xe2", b"\x80"):
                check(native, template.replace(b"{c}", around + piece + around))
                check(native, template.replace(b"{c}", piece + around))
                check(native, template.replace(b"{c}", around + piece))


PIECES = st.sampled_from(
    [
        b"WARC/1.0",
        b"WARC-Type:",
        b"WARC-Type: conversion",
        b"WARC-Target-URI:",
        b"WARC-Date:",
        b"WARC-Record-ID:",
        b"WARC-Block-Digest:",
        b"Content-Type:",
        b"Content-Length:",
        b"CONTENT-",
        b"Content-",
        b"WARC",
        b":",
        b" ",
        b"\t",
        b"\n",
        b"\r",
        b"\r\n",
        b"\x0b",
        b"\x1c",
        b"\x1f",
        b"x",
        b"text",
        *INVALID,
        *VALID_EDGES,
        "\u2028\u2029\u202f\u205f\u1680\u200a\u200b".encode(),
        "é€😀".encode(),
    ]
)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(PIECES | st.binary(max_size=4), max_size=40))
def test_fuzz_records(native, pieces):
    check(native, b"".join(pieces))
