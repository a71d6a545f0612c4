"""filters/wet.py on input that is not WET: WARC and WAT files are one ``not_wet`` dead letter
each, with the record type found and the bytes not read; never a page.

TFDS's ``split_wet_file`` has no such check (it would clean a WARC response's HTML as text):
a deliberate difference (docs/exactness.md, "Nothing is lost"). Real files: tests/data/warc/.
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest

from filters.records import DeadLetter, Dropped, Page
from filters.spec import resolve_rules
from filters.wet import REASON_NOT_WET, ForeignRecord, iter_wet, iter_wet_path, parse_record
from tests.conftest import TEST_DATA, WET_DIR

V3 = resolve_rules("en", "3.1.0")
WARC_DIR = TEST_DATA / "warc"
WHIRLWIND_WARC = WARC_DIR / "CC-MAIN-2024-22.whirlwind.warc.gz"
WHIRLWIND_WAT = WARC_DIR / "CC-MAIN-2024-22.whirlwind.warc.wat.gz"
DOLMA_WARC = WARC_DIR / "dolma-wget-sample-0000.warc.gz"  # HTML responses (wget)
OLD_WARC = WARC_DIR / "ukwa-IAH-20080430204825-blackbook-truncated.warc.gz"  # WARC/0.17
EXCERPT_5 = WET_DIR / "CC-MAIN-2016-50.excerpt-5.warc.wet.gz"
USE_WET = " \N{EM DASH} use a WET file"


def not_wet(items: list[Page | Dropped | DeadLetter]) -> DeadLetter:
    """The one dead letter of a file that is not WET, after at most its warcinfo record."""
    assert not [i for i in items if isinstance(i, Page)], "a page was read from a non-WET file"
    letters = [i for i in items if isinstance(i, DeadLetter)]
    assert len(letters) == 1 and letters[0] is items[-1]
    assert all(isinstance(i, Dropped) and i.reason == "filtered:no_url" for i in items[:-1])
    assert letters[0].reason == REASON_NOT_WET
    return letters[0]


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        (WHIRLWIND_WARC, "WARC request records"),
        (DOLMA_WARC, "WARC request records"),
        (WHIRLWIND_WAT, "WAT records (WARC metadata, JSON)"),
    ],
    ids=["whirlwind-warc", "dolma-warc", "whirlwind-wat"],
)
def test_warc_and_wat_files_are_one_dead_letter(path: Path, kind: str) -> None:
    letter = not_wet(list(iter_wet_path(str(path), V3)))
    size = path.stat().st_size
    # The first record of another type starts a gzip member: from there on nothing is read.
    assert letter.detail == f"{kind}{USE_WET}; bytes {letter.record_offset}-{size} not read"
    assert letter.lost_bytes == size - letter.record_offset
    assert letter.excerpt.startswith("WARC/1.0\r\nWARC-Type: ")
    member = gzip.decompress(path.read_bytes()[letter.record_offset :])
    assert member.startswith(letter.excerpt[:40].encode())


def test_response_records_are_named() -> None:
    # A WARC of HTML responses only (issue 18's case): the first record read is a response.
    plain = gzip.decompress(DOLMA_WARC.read_bytes())
    start = plain.index(b"WARC/1.0\r\nWARC-Type: response")
    letter = not_wet(list(iter_wet(io.BytesIO(plain[start:]), "responses.warc", V3)))
    assert letter.record_offset == 0 and letter.lost_bytes == len(plain) - start
    assert letter.detail.startswith(f"WARC response records{USE_WET}")


def test_an_older_warc_version_is_not_wet() -> None:
    letter = not_wet(list(iter_wet_path(str(OLD_WARC), V3)))
    assert letter.detail == f"WARC/0.17 records{USE_WET}"
    assert letter.lost_bytes == OLD_WARC.stat().st_size


def test_a_wet_file_with_a_response_record_stops_there() -> None:
    wet = EXCERPT_5.read_bytes()
    whole = list(iter_wet_path(str(EXCERPT_5), V3))
    response = gzip.compress(
        b"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: http://a.com/\r\n"
        b"Content-Type: application/http; msgtype=response\r\n\r\n"
        b"HTTP/1.1 200 OK\r\n\r\n<html><body><p>Markup, not text.</p></body></html>\r\n\r\n",
        mtime=0,
    )
    data = wet + response + wet
    items = list(iter_wet(io.BytesIO(data), "mixed.warc.wet.gz", V3))
    assert items[: len(whole)] == [
        i._replace(source_file="mixed.warc.wet.gz") if isinstance(i, Page | Dropped) else i
        for i in whole
    ]
    letter = items[len(whole)]
    assert isinstance(letter, DeadLetter) and len(items) == len(whole) + 1
    assert (letter.reason, letter.record_offset, letter.lost_bytes) == (
        REASON_NOT_WET,
        len(wet),
        len(response) + len(wet),
    )


class Unseekable(io.RawIOBase):
    """A real stream that cannot seek and does not know its size (a pipe)."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self._data.read(size)


def test_bytes_not_read_are_counted_on_a_stream_that_cannot_seek() -> None:
    data = WHIRLWIND_WARC.read_bytes()
    items = list(iter_wet(Unseekable(data), "x.warc.gz", V3))  # type: ignore[arg-type]
    letter = not_wet(items)
    assert letter.lost_bytes == len(data) - letter.record_offset


def test_parse_record_refuses_another_record_type() -> None:
    record = "WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: http://a.com/\r\n\r\n<p>x</p>"
    with pytest.raises(ForeignRecord) as err:
        parse_record(record, "f", 0, V3)
    assert err.value.warc_type == "response"
    # WET's own types are read as TFDS reads them; a record with no WARC-Type too.
    for kind in ("conversion", "warcinfo", None):
        head = f"WARC-Type: {kind}\r\n" if kind else ""
        text = f"WARC/1.0\r\n{head}WARC-Target-URI: http://a.com/\r\nWARC-Date: 2019\r\n\r\nHi."
        assert isinstance(parse_record(text, "f", 0, V3), Page)
