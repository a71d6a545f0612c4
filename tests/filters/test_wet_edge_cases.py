"""filters/wet.py on broken input: the 11 real broken WET files, then generated cases.

Every item is a Page, a Dropped or a DeadLetter; nothing raises and nothing is lost silently.
Where TFDS's ``split_wet_file`` gets through a file, our pages equal its pages.
"""

from __future__ import annotations

import gzip
import io
import random
import tracemalloc
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from filters.records import DeadLetter, Dropped, Page
from filters.spec import resolve_rules
from filters.wet import (
    REASON_CORRUPT_GZIP,
    REASON_EMPTY_FILE,
    REASON_INVALID_UTF8,
    REASON_NOT_WET,
    REASON_RECORD_TOO_LARGE,
    REASON_TRAILING_GARBAGE,
    REASON_TRUNCATED_GZIP,
    STAGE,
    iter_wet,
    iter_wet_path,
)
from tests.conftest import EDGE_DIR, EDGE_WET, WET_DIR
from tests.filters.test_wet import tfds_fields as fields
from tests.filters.tfds_split_wet_dump import CACHE_DIR, run_reference

V3 = resolve_rules("en", "3.1.0")
V2 = resolve_rules("en", "2.2.0")
EXCERPT_5 = WET_DIR / "CC-MAIN-2016-50.excerpt-5.warc.wet.gz"  # warcinfo + 5, one member each
EXCERPT_25 = WET_DIR / "CC-MAIN-2016-50.excerpt-25.warc.wet.gz"
WARCINFO_ID = "519aac89-8012-4390-8be6-2d81979f88cb"
URL_003SU = "http://003.su/search_results.php?letter=%D0%9C&offset=580"
URL_003MS = "http://003ms.ru/catalog/lekarstvennye-sredstva/protivomikrobnye-preparaty/glevo"
URL_01007 = "http://01007.nz86.com/"
URL_518109 = "http://010387.www.nn.ru/?page=blog&blog_id=518109"
URL_823942 = "http://010387.www.nn.ru/?page=blog&blog_id=823942"


def reference(version: str, quirks_file: Path, soup_files: list[Path]) -> dict[str, dict]:
    """TFDS on every file this module compares, in one go (one TensorFlow start-up)."""
    return run_reference([*EDGE_WET, quirks_file, *soup_files], version)


def summary(items: list) -> list[tuple]:
    """("P", url, offset) | ("D", reason, doc_id) | ("X", reason, offset), in order."""
    out: list[tuple] = []
    for item in items:
        if isinstance(item, Page):
            out.append(("P", item.url, item.record_offset))
        elif isinstance(item, Dropped):
            assert item.stage == STAGE
            out.append(("D", item.reason, item.doc_id))
        else:
            assert isinstance(item, DeadLetter) and item.stage == STAGE
            out.append(("X", item.reason, item.record_offset))
    return out


def read(data: bytes, rules=V3, **kwargs) -> list:
    return list(iter_wet(io.BytesIO(data), "gen.wet.gz", rules, **kwargs))


# What each real broken file holds (gunzipped and read), and exactly what we make of it. All are
# cut from CC-MAIN-2016-50 ...00009 (jeffharwell/CommonCrawlScalaTools test resources). Offsets
# are stored offsets of gzip members where the file has one member per record, else offsets in
# the decompressed stream (the other files are single-stream gzip).
EDGE_EXPECTED: dict[str, list[tuple]] = {
    # 17 gzip members: warcinfo + 15 whole conversions, then a 17th member (0lik.ru clipart page)
    # cut after 1,942 of its compressed bytes. TFDS yields the 15 pages, then raises EOFError.
    "CC-MAIN-2016-50.appended_zip_fragment_unexpected_eof.wet.gz": [
        ("D", "filtered:no_url", WARCINFO_ID),
        ("P", URL_003SU, 389),
        ("P", URL_003MS, 1617),
        ("P", URL_01007, 5706),
        ("P", URL_518109, 7731),
        ("P", URL_823942, 9893),
        ("P", "http://035222148.168web.tw/", 12276),
        ("P", "http://03online.com/news/11253", 24133),
        ("P", "http://03online.com/news/5777", 27517),
        (
            "P",
            "http://03online.com/news/boli_v_levoy_chasti_grudi_pri_vdohe_boli_usilivayutsya/"
            "2016-6-5-170616",
            31003,
        ),
        (
            "P",
            "http://03online.com/news/nuzhno_li_prodolzhat_prinimat_tiroksin/2016-5-15-164932",
            34429,
        ),
        ("P", "http://03online.com/news/perelom_bedra/2015-5-22-83122", 38543),
        (
            "P",
            "http://03online.com/news/pyatna_na_kozhe_ne_cheshutsya_ne_bolyat_ne_bespokoyat/"
            "2016-6-16-173602",
            42477,
        ),
        ("P", "http://060708.foro-libre.com/t941-cancion-para-mi-novia", 45782),
        ("P", "http://08.od.ua/aladdin_mnogoprofilnaya_kompaniya/tovar_sauna_stroitelstvo", 47374),
        ("P", "http://08.od.ua/bereg_servis_farmacevticheskaya_kompaniya/main", 48440),
        ("X", REASON_TRUNCATED_GZIP, 49258),
    ],
    # Single gzip stream: the first conversion (003.su) comes before the warcinfo, then 4 more.
    "CC-MAIN-2016-50.corrupt_starts_with_conversion.wet.gz": [
        ("P", URL_003SU, 0),
        ("D", "filtered:no_url", WARCINFO_ID),
        ("P", URL_003MS, 3211),
        ("P", URL_01007, 16312),
        ("P", URL_518109, 19590),
        ("P", URL_823942, 24625),
    ],
    # warcinfo, 2 conversions, the warcinfo again, 3 conversions.
    "CC-MAIN-2016-50.corrupt_two_warcinfo.wet.gz": [
        ("D", "filtered:no_url", WARCINFO_ID),
        ("P", URL_003SU, 540),
        ("P", URL_003MS, 3211),
        ("D", "filtered:no_url", WARCINFO_ID),
        ("P", URL_01007, 16852),
        ("P", URL_518109, 20130),
        ("P", URL_823942, 25165),
    ],
    # The first conversion (003.su) lost its WARC-Target-URI line: no url, so filtered:no_url.
    "CC-MAIN-2016-50.corrupt_warcconversion_1.wet.gz": [
        ("D", "filtered:no_url", WARCINFO_ID),
        ("D", "filtered:no_url", "d0cad1a9-b0b0-4067-925a-e9ef4905d25e"),
        ("P", URL_003MS, 3135),
        ("P", URL_01007, 16236),
        ("P", URL_518109, 19514),
        ("P", URL_823942, 24549),
    ],
    # Only the warcinfo and that URL-less conversion.
    "CC-MAIN-2016-50.corrupt_warcconversion_2.wet.gz": [
        ("D", "filtered:no_url", WARCINFO_ID),
        ("D", "filtered:no_url", "d0cad1a9-b0b0-4067-925a-e9ef4905d25e"),
    ],
    # The warcinfo lost its WARC-Filename line (the others are the usual 5 conversions).
    "CC-MAIN-2016-50.corrupt_warcinfo_1.wet.gz": [
        ("D", "filtered:no_url", WARCINFO_ID),
        ("P", URL_003SU, 454),
        ("P", URL_003MS, 3125),
        ("P", URL_01007, 16226),
        ("P", URL_518109, 19504),
        ("P", URL_823942, 24539),
    ],
    # LF-only: the warcinfo, then the 003.su conversion's header with no body at all.
    "CC-MAIN-2016-50.file_and_wet_headers_only.wet.gz": [
        ("D", "filtered:no_url", WARCINFO_ID),
        ("D", "filtered:no_content", "d0cad1a9-b0b0-4067-925a-e9ef4905d25e"),
    ],
    # LF-only: the warcinfo record alone.
    "CC-MAIN-2016-50.file_headers_only.wet.gz": [("D", "filtered:no_url", WARCINFO_ID)],
    # warcinfo + 003.su + 003ms.ru cut mid-line at 12,753 bytes (a valid gzip stream and valid
    # UTF-8, so the short page is kept, as TFDS keeps it); two body lines rewritten to "asthma".
    "CC-MAIN-2016-50.fragment1_asthma_incomplete_last.wet.gz": [
        ("D", "filtered:no_url", WARCINFO_ID),
        ("P", URL_003SU, 540),
        ("P", URL_003MS, 3163),
    ],
    # The same cut at 12,800 bytes, without the rewrite.
    "CC-MAIN-2016-50.fragment1_incomplete_last.wet.gz": [
        ("D", "filtered:no_url", WARCINFO_ID),
        ("P", URL_003SU, 540),
        ("P", URL_003MS, 3211),
    ],
    # 20,480 bytes from the middle of the file: 7,429 bytes of a page's body (Chinese) with no
    # header, one whole record, then a record cut inside a 2-byte character (ends with 0xd0).
    # TFDS 3.x validates the headless part (no_url), yields the page, then fails on the 0xd0.
    "CC-MAIN-2016-50.fragment2_no_header.wet.gz": [
        ("D", "filtered:no_url", "3bf08dd202dee9d7d96b0544f68a2476be55a37e"),
        ("P", "http://03online.com/news/11253", 7429),
        ("X", REASON_INVALID_UTF8, 17004),
    ],
}


def test_every_edge_file_is_covered() -> None:
    assert sorted(p.name for p in EDGE_WET) == sorted(EDGE_EXPECTED)


@pytest.mark.parametrize("path", EDGE_WET, ids=lambda p: p.name)
def test_edge_file(path: Path) -> None:
    items = list(iter_wet_path(str(path), V3))
    assert summary(items) == EDGE_EXPECTED[path.name]
    for item in items:
        if isinstance(item, DeadLetter):
            assert item.source_file == path.name
        else:
            assert item.doc_id


def test_headless_fragment_doc_id_falls_back_to_sha1() -> None:
    import hashlib

    path = EDGE_DIR / "CC-MAIN-2016-50.fragment2_no_header.wet.gz"
    with iter_wet_path(str(path), V3) as reader:
        first = next(reader)
    name = "CC-MAIN-2016-50.fragment2_no_header.wet.gz"
    assert first.doc_id == hashlib.sha1(f"{name}:0".encode()).hexdigest()


@pytest.mark.reference
@pytest.mark.parametrize("version", ["3.1.0", "2.2.0"])
def test_edge_pages_equal_tfds_as_far_as_tfds_gets(
    version: str, quirks_file: Path, soup_files: list[Path]
) -> None:
    rows = reference(version, quirks_file, soup_files)
    rules = resolve_rules("en", version)
    for path in EDGE_WET:
        row = rows[path.name]
        pages = [fields(i) for i in iter_wet_path(str(path), rules) if isinstance(i, Page)]
        if row["error"] is None:
            assert pages == row["pages"], path.name
        else:  # TFDS stopped with an exception; what it yielded before is ours too
            assert pages[: len(row["pages"])] == row["pages"], path.name
            assert len(pages) >= len(row["pages"])


def test_truncated_edge_file_dead_letter_points_at_the_cut_member() -> None:
    path = EDGE_DIR / "CC-MAIN-2016-50.appended_zip_fragment_unexpected_eof.wet.gz"
    dead = list(iter_wet_path(str(path), V3))[-1]
    assert isinstance(dead, DeadLetter)
    assert dead.excerpt.startswith(
        "WARC/1.0\r\nWARC-Type: conversion\r\nWARC-Target-URI: http://0li"
    )
    partial = zlib.decompressobj(wbits=31).decompress(path.read_bytes()[dead.record_offset :])
    assert partial.startswith(b"WARC/1.0")


# ---- generated cases -------------------------------------------------------------------------


def members(path: Path) -> list[bytes]:
    """The decompressed records of a one-member-per-record file."""
    raw, out = path.read_bytes(), []
    while raw:
        inflater = zlib.decompressobj(wbits=31)
        out.append(inflater.decompress(raw))
        raw = inflater.unused_data
    return out


def per_record_gzip(records: list[bytes]) -> tuple[bytes, list[int]]:
    blobs = [gzip.compress(r, compresslevel=6, mtime=0) for r in records]
    offsets, at = [], 0
    for blob in blobs:
        offsets.append(at)
        at += len(blob)
    return b"".join(blobs), offsets


def test_invalid_utf8_loses_only_that_record() -> None:
    records = members(EXCERPT_5)
    broken = list(records)
    broken[3] = broken[3].replace(b"\r\n\r\n", b"\r\n\r\nbad \xff byte\n", 1)
    data, offsets = per_record_gzip(broken)
    good = read(per_record_gzip(records)[0])
    got = read(data)
    assert summary(got)[3] == ("X", REASON_INVALID_UTF8, offsets[3])
    # The excerpt is the record start (its header names it), decoded with replacement.
    assert got[3].excerpt.startswith("WARC/1.0\r\nWARC-Type: conversion\r\nWARC-Target-URI: http")
    assert [fields(p) for p in got if isinstance(p, Page)] == [
        fields(p) for i, p in enumerate(good) if isinstance(p, Page) and i != 3
    ]


@pytest.mark.parametrize(
    "data",
    [b"", gzip.compress(b"", mtime=0), b"\r\n \n\t\n", gzip.compress(b"\n\n", mtime=0)],
    ids=["empty", "empty-gzip", "blank", "blank-gzip"],
)
def test_empty_file_is_one_dead_letter(data: bytes) -> None:
    # Decided: an empty (or blank) file is worth a dead letter: it is almost always a broken
    # download. TFDS 3.x would count it as one filtered:no_url.
    assert summary(read(data)) == [("X", REASON_EMPTY_FILE, 0)]


def test_random_bytes_are_not_wet() -> None:
    noise = random.Random(0).randbytes(200_000)
    assert not noise.startswith(b"\x1f\x8b")
    assert summary(read(noise)) == [("X", REASON_NOT_WET, 0)]
    text = b"just some text\nno WARC records here\n" * 1000
    assert summary(read(text)) == [("X", REASON_NOT_WET, 0)]
    assert summary(read(gzip.compress(text, mtime=0))) == [("X", REASON_NOT_WET, 0)]


def test_gzip_magic_then_noise_is_corrupt_gzip() -> None:
    noise = b"\x1f\x8b\x08\x00" + random.Random(1).randbytes(50_000)
    assert summary(read(noise)) == [("X", REASON_CORRUPT_GZIP, 0)]


def test_plain_and_single_stream_gzip_give_the_same_pages() -> None:
    plain = gzip.decompress(EXCERPT_25.read_bytes())
    reference = [fields(p) for p in iter_wet_path(str(EXCERPT_25), V3) if isinstance(p, Page)]
    for data in (plain, gzip.compress(plain, mtime=0)):
        items = read(data)
        assert [fields(p) for p in items if isinstance(p, Page)] == reference
        for item in items:
            if isinstance(item, Page):
                # No member per record: the offset is in the decompressed stream.
                assert plain[item.record_offset :].startswith(b"WARC/1.0\r\n")
                assert item.record_id.encode() in plain[item.record_offset :][:1000]


@pytest.mark.parametrize("read_size", [1, 7, 4096])
def test_short_reads_change_nothing(read_size: int) -> None:
    class ShortReads(io.RawIOBase):
        """A real stream that hands out at most ``read_size`` bytes per read."""

        def __init__(self, data: bytes) -> None:
            self._data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            return self._data.read(read_size)

    raw = EXCERPT_5.read_bytes()
    expected = summary(read(raw))
    for data in (raw, gzip.decompress(raw)):
        got = list(iter_wet(ShortReads(data), "gen.wet.gz", V3))  # type: ignore[arg-type]
        if data is raw:
            assert summary(got) == expected
        else:
            assert [s[:2] for s in summary(got)] == [s[:2] for s in expected]


@pytest.mark.parametrize("cut_in", ["header", "deflate", "boundary"])
def test_truncated_per_record_gzip(cut_in: str) -> None:
    raw = EXCERPT_25.read_bytes()
    whole = read(raw)
    offsets = [i.record_offset for i in whole if isinstance(i, Page)]
    member = 10  # the 11th record (a page) is where the file is cut
    start = offsets[member - 1]
    cut = {"header": start + 5, "deflate": start + 300, "boundary": start}[cut_in]
    got = read(raw[:cut])
    assert summary(got)[:member] == summary(whole)[:member]
    if cut_in == "boundary":  # a file that ends between members is merely shorter
        assert len(got) == member
    else:
        assert summary(got)[member:] == [("X", REASON_TRUNCATED_GZIP, start)]


def test_truncated_single_stream_gzip_dead_letters_the_last_record() -> None:
    plain = gzip.decompress(EXCERPT_5.read_bytes())
    stream = gzip.compress(plain, mtime=0)
    got = summary(read(stream[: len(stream) // 2]))
    assert got[-1][:2] == ("X", REASON_TRUNCATED_GZIP)
    assert plain[got[-1][2] :].startswith(b"WARC/1.0")
    assert all(kind != "X" for kind, *_ in got[:-1])


def test_corrupt_member_costs_one_record() -> None:
    raw = bytearray(EXCERPT_5.read_bytes())
    whole = summary(read(bytes(raw)))
    start = whole[3][2]  # the third page's member
    raw[start + 200 : start + 260] = bytes(60)  # zero out deflate data inside that member
    # Records before the broken member are whole; reading resumes at the next member header.
    assert summary(read(bytes(raw))) == [*whole[:3], ("X", REASON_CORRUPT_GZIP, start), *whole[4:]]


def test_corrupt_first_member_then_resync() -> None:
    raw = bytearray(EXCERPT_5.read_bytes())
    whole = summary(read(bytes(raw)))
    raw[40:100] = bytes(60)  # inside the warcinfo's deflate data
    assert summary(read(bytes(raw))) == [("X", REASON_CORRUPT_GZIP, 0), *whole[1:]]


def test_oversized_text_before_the_first_record() -> None:
    data = b"x" * 100 + b"\n" + b"y" * (2 << 20) + b"\n" + record("http://a.com/", b"Text.\n")
    assert [s[:2] for s in summary(read(data, max_record_bytes=1 << 20))] == [
        ("X", REASON_RECORD_TOO_LARGE),
        ("P", "http://a.com/"),
    ]
    assert summary(read(data, max_record_bytes=1 << 20))[0][2] == 0


def test_corrupt_single_stream_loses_the_rest_of_the_stream() -> None:
    plain = gzip.decompress(EXCERPT_5.read_bytes())
    stream = bytearray(gzip.compress(plain, mtime=0))
    stream[len(stream) // 2 : len(stream) // 2 + 64] = bytes(64)
    got = summary(read(bytes(stream)))
    assert got[-1][:2] == ("X", REASON_CORRUPT_GZIP)
    assert plain[got[-1][2] :].startswith(b"WARC/1.0")  # the record the damage fell in
    assert all(kind != "X" for kind, *_ in got[:-1])


def test_trailing_garbage_and_zero_padding() -> None:
    raw = EXCERPT_5.read_bytes()
    expected = summary(read(raw))
    assert summary(read(raw + bytes(1024))) == expected  # zero padding is legal gzip
    garbage = summary(read(raw + b"this is not gzip"))
    assert garbage == [*expected, ("X", REASON_TRAILING_GARBAGE, len(raw))]
    # Zeros between members too (Python's gzip module reads on after them, so do we).
    padded, offsets = per_record_gzip(members(EXCERPT_5))
    blobs = [padded[a:b] for a, b in zip(offsets, [*offsets[1:], len(padded)], strict=True)]
    spaced = summary(read(bytes(100).join(blobs)))
    assert [s[:2] for s in spaced] == [s[:2] for s in expected]
    assert [s[2] for s in spaced if s[0] == "P"] == [
        o + 100 * i for i, o in enumerate(offsets) if i > 0
    ]


def record(url: str, body: bytes) -> bytes:
    head = (
        f"WARC/1.0\r\nWARC-Type: conversion\r\nWARC-Target-URI: {url}\r\n"
        f"WARC-Date: 2019-04-24T09:23:58Z\r\nContent-Type: text/plain\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body + b"\r\n\r\n"


def test_hundred_megabyte_record_is_dead_lettered_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "huge.warc.wet.gz"
    line = b"All work and no play makes Jack a dull boy. " * 20 + b"\n"
    block = line * (1024 * 1024 // len(line))
    first = record("http://a.com/before", b"Before the big one.\n")
    with gzip.open(path, "wb", compresslevel=1) as out:
        out.write(first)
        out.write(record("http://a.com/huge", b"")[:-4])
        for _ in range(128):  # 134 MB: well above the cap and above the peak we allow
            out.write(block)
        out.write(b"\r\n\r\n" + record("http://a.com/after", b"After the big one.\n"))
    tracemalloc.start()
    try:
        reader = iter_wet_path(str(path), V3)
        got = summary(reader)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [g[:2] for g in got] == [
        ("P", "http://a.com/before"),
        ("X", REASON_RECORD_TOO_LARGE),
        ("P", "http://a.com/after"),
    ]
    assert got[1][2] == len(first)  # one gzip stream: decompressed offset
    assert reader.bytes_read > 134_000_000
    assert peak < 100 << 20  # the cap (64 MiB) plus slack (85 MiB measured), never the record


def test_gzip_bomb_is_skipped_in_bounded_memory() -> None:
    # One member inflating 1,000x: 96 MiB of NULs after a header, ~100 KB stored.
    payload = record("http://bomb.com/", b"")[:-4] + bytes(96 << 20) + b"\r\n\r\n"
    bomb_member = gzip.compress(payload, 9, mtime=0)
    before = gzip.compress(record("http://a.com/1", b"Fine page.\n"), mtime=0)
    after = gzip.compress(record("http://a.com/2", b"Also fine.\n"), mtime=0)
    data = before + bomb_member + after
    assert len(bomb_member) < 200_000
    tracemalloc.start()
    try:
        reader = iter_wet(io.BytesIO(data), "bomb.wet.gz", V3, max_record_bytes=4 << 20)
        got = summary(reader)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert got == [
        ("P", "http://a.com/1", 0),
        ("X", REASON_RECORD_TOO_LARGE, len(before)),
        ("P", "http://a.com/2", len(before) + len(bomb_member)),
    ]
    assert peak < 24 << 20
    assert reader.bytes_read == len(gzip.decompress(before + after)) + len(payload)


def test_huge_input_without_any_record_is_not_wet() -> None:
    data = gzip.compress(b"x" * (3 << 20), mtime=0)
    assert summary(read(data, max_record_bytes=1 << 20)) == [("X", REASON_NOT_WET, 0)]


# ---- TFDS quirks, checked against TFDS itself on a crafted file -------------------------------

QUIRKS = (
    # Blank lines before the first delimiter: TFDS 3.x validates them as a page (no_url).
    "\r\n\n"
    "WARC/1.0\r\nWARC-Type: warcinfo\r\nWARC-Date: 2019-04-24T09:00:00Z\r\n"
    "Content-Type: application/warc-fields\r\nContent-Length: 20\r\n\r\nisPartOf: CC\r\n\r\n"
    # A body line with a metadata prefix overrides the header and is not text; lowercase is text.
    "WARC/1.0\r\nWARC-Target-URI:   http://a.com/x?utm_source=1   \r\n"
    "WARC-Date: 2019-04-24T09:23:58Z\r\nContent-Type: text/plain\r\nContent-Length: 99\r\n\r\n"
    "First line.\nContent-Type: evil/override\nWARCraft is a game\nCONTENT-whatever\n"
    "content-type: lower is text\n   \n\tindented line\t\nWARC/1.0 not a delimiter\n\r\n"
    # Unicode whitespace around the delimiter still delimits (str.strip); lone CR breaks lines;
    # form feed, \x1c and NEL inside a line stay; a BOM is not whitespace.
    "\u3000WARC/1.0\u00a0\r\nWARC-Target-URI: http://b.com/\r\nWARC-Target-URI: http://c.com/\r\n"
    "WARC-Date: 2019-04-25T00:00:00Z\r\n\r\n"
    "one\rtwo\r\rthree\r\nform\x0cfeed\n\x1cstripped\x1c\nnel\x85inside\n\ufeffbom\nline\u2028sep\n"
    # A delimiter line inside a body splits the record: the tail has no url.
    "WARC/1.0\r\nWARC-Target-URI: http://d.com/\r\nWARC-Date: 2019-04-26T00:00:00Z\r\n\r\n"
    "before split\nWARC/1.0\nafter split\n\r\n"
    # No WARC-Date: dropped in 3.x (no_timestamp), kept in 2.x. Then one with no text.
    "WARC/1.0\r\nWARC-Target-URI: http://e.com/\r\n\r\nno date here\r\n\r\n"
    "WARC/1.0\r\nWARC-Target-URI: http://f.com/\r\nWARC-Date: 2019-04-27T00:00:00Z\r\n\r\n \r\n"
    # Last record, no final newline.
    "WARC/1.0\r\nWARC-Target-URI: http://g.com/\r\nWARC-Date: 2019-04-28T00:00:00Z\r\n\r\nlast"
).encode()


@pytest.fixture(scope="module")
def quirks_file() -> Path:
    path = CACHE_DIR / "generated" / "quirks.wet.gz"
    data = gzip.compress(QUIRKS, mtime=0)
    if not path.exists() or path.read_bytes() != data:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return path


@pytest.mark.reference
@pytest.mark.parametrize("version", ["3.1.0", "2.2.0"])
def test_quirks_equal_tfds(quirks_file: Path, soup_files: list[Path], version: str) -> None:
    row = reference(version, quirks_file, soup_files)[quirks_file.name]
    assert row["error"] is None
    rules = resolve_rules("en", version)
    for data in (QUIRKS, quirks_file.read_bytes()):
        items = read(data, rules)
        assert [fields(p) for p in items if isinstance(p, Page)] == row["pages"]
        dropped = {}
        for item in items:
            assert not isinstance(item, DeadLetter)
            if isinstance(item, Dropped):
                dropped[item.reason] = dropped.get(item.reason, 0) + 1
        expected = {
            "filtered:no_url": 3 if version == "3.1.0" else 2,  # + the blank preamble in 3.x
            "filtered:no_content": 1,
            **({"filtered:no_timestamp": 1} if version == "3.1.0" else {}),
        }
        assert dropped == expected
    if version == "3.1.0":
        assert row["counters"] == {"wet-file": 1, "passed": len(row["pages"]), **expected}


def test_quirks_values() -> None:
    pages = {p.url: p for p in read(QUIRKS) if isinstance(p, Page)}
    a = pages["http://a.com/x?utm_source=1"]
    assert a.normalized_url == "a.com/x"
    assert a.content_type == "evil/override"
    assert a.text == "First line.\ncontent-type: lower is text\nindented line"
    c = pages["http://c.com/"]
    assert (
        c.text == "one\ntwo\nthree\nform\x0cfeed\nstripped\nnel\x85inside\n\ufeffbom\nline\u2028sep"
    )
    assert pages["http://d.com/"].text == "before split"
    assert pages["http://g.com/"].text == "last"


# ---- fuzz: whatever the damage, nothing raises and every item is typed -----------------------

_FUZZ_RAW = EXCERPT_5.read_bytes()
_FUZZ_PLAIN = gzip.decompress(_FUZZ_RAW)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    plain=st.booleans(),
    edits=st.lists(
        st.tuples(st.floats(0, 1), st.binary(min_size=0, max_size=8), st.integers(0, 8)),
        max_size=6,
    ),
    cut=st.floats(0, 1),
)
def test_damaged_input_never_raises(plain: bool, edits: list, cut: float) -> None:
    data = bytearray(_FUZZ_PLAIN if plain else _FUZZ_RAW)
    for where, insert, remove in edits:
        at = int(where * len(data))
        data[at : at + remove] = insert
    data = data[: max(1, int(cut * len(data)))] if cut < 0.5 else data
    for rules in (V3, V2):
        items = list(iter_wet(io.BytesIO(bytes(data)), "fuzz.wet.gz", rules, max_record_bytes=8192))
        assert items, "something is always reported"
        for item in items:
            assert isinstance(item, Page | Dropped | DeadLetter)
            if isinstance(item, DeadLetter):
                assert item.reason in {
                    REASON_CORRUPT_GZIP,
                    REASON_EMPTY_FILE,
                    REASON_INVALID_UTF8,
                    REASON_NOT_WET,
                    REASON_RECORD_TOO_LARGE,
                    REASON_TRAILING_GARBAGE,
                    REASON_TRUNCATED_GZIP,
                }
                assert item.record_offset >= 0 and item.source_file == "fuzz.wet.gz"


# ---- differential: random line soup with every tricky token, TFDS vs us -----------------------

_TOKENS = [
    "WARC/1.0",
    " WARC/1.0 ",
    "\u2003WARC/1.0\x1c",
    "WARC/1.0x",
    "WARC/1.00",
    "xWARC/1.0",
    "WARC-Target-URI: http://a.com/",
    "WARC-Target-URI:http://b.com/?ref=1",
    "WARC-Target-URI:",
    "WARC-Date: 2019-01-01T00:00:00Z",
    "WARC-Date:",
    "Content-Type: text/plain",
    "Content-Length: 12",
    "CONTENT-LENGTH: 3",
    "content-length: 4",
    "WARCx",
    "plain words",
    "  padded  ",
    "\x0c",
    "\x85",
    "\u2028",
    "\ufeffbom",
    "ünïcödé",
    "中文",
    "",
]
_BREAKS = ["\n", "\r\n", "\r", "\n\n", "\r\r\n"]


def _soup(seed: int) -> bytes:
    rng = random.Random(seed)
    parts = []
    for _ in range(rng.randint(5, 60)):
        parts.append(rng.choice(_TOKENS) + rng.choice(_BREAKS))
    if rng.random() < 0.5:
        parts.insert(0, "WARC/1.0\r\n")
    return "".join(parts).encode()


@pytest.fixture(scope="module")
def soup_files() -> list[Path]:
    out = []
    for seed in range(40):
        path = CACHE_DIR / "generated" / f"soup-{seed:02d}.wet.gz"
        data = gzip.compress(_soup(seed), mtime=0)
        if not path.exists() or path.read_bytes() != data:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        out.append(path)
    return out


@pytest.mark.reference
@pytest.mark.parametrize("version", ["3.1.0", "2.2.0"])
def test_line_soup_equals_tfds(quirks_file: Path, soup_files: list[Path], version: str) -> None:
    rows = reference(version, quirks_file, soup_files)
    rules = resolve_rules("en", version)
    compared = 0
    for path in soup_files:
        row = rows[path.name]
        items = list(iter_wet_path(str(path), rules))
        if row["error"] is not None:  # 2.x crashes on text before the first record
            assert version == "2.2.0" and "NoneType" in row["error"]
            continue
        compared += 1
        pages = [fields(i) for i in items if isinstance(i, Page)]
        assert pages == row["pages"], path.name
        counts: dict[str, int] = {}
        for item in items:
            if isinstance(item, Dropped):
                counts[item.reason] = counts.get(item.reason, 0) + 1
            elif isinstance(item, DeadLetter):
                # Our decision for input that has no record at all, where TFDS counts no_url.
                assert item.reason in (REASON_NOT_WET, REASON_EMPTY_FILE), path.name
        theirs = {k: v for k, v in row["counters"].items() if k.startswith("filtered:")}
        if version == "3.1.0" and any(isinstance(i, Page | Dropped) for i in items):
            assert counts == theirs, path.name
    assert compared >= 20


@pytest.mark.parametrize("inflater", ["isal", "zlib"])
def test_large_members_read_alike_with_either_inflater(
    inflater: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Members far above the inflater's feed (64 KB compressed) and output chunk (4 MB), between
    # small ones and last: every byte arrives, each member ends where it does, with ISA-L or zlib.
    from filters import wet

    if inflater == "zlib":
        monkeypatch.setattr(wet, "_decompressobj", zlib.decompressobj)
    rng = random.Random(7)
    words = [bytes(rng.choices(b"abcdefghij", k=rng.randint(2, 9))) for _ in range(5000)]
    big = b"\n".join(b" ".join(rng.choices(words, k=12)) + b"." for _ in range(60_000))
    assert len(big) > 4 << 20
    urls = ["http://big.com/", "http://small.com/", "http://big2.com/", "http://last.com/"]
    bodies = [big, b"One line.\n", big[: 1 << 20], big[1:]]
    records = [record(url, body) for url, body in zip(urls, bodies, strict=True)]
    data, offsets = per_record_gzip(records)
    assert offsets[1] - offsets[0] > 256 << 10  # the big member spans several feeds
    got = read(data)
    assert summary(got) == [("P", u, o) for u, o in zip(urls, offsets, strict=True)]
    assert [fields(p) for p in got] == [fields(p) for p in read(b"".join(records))]


def test_highly_compressible_last_member_is_not_truncated() -> None:
    # 10 MB from 27 KB of deflate, the last member, inside one feed: the output comes 4 MB at a
    # time and the member must still end (eof), not read as cut short by the end of the stream.
    body = b"Same words again and again.\n" * 400_000
    data, _ = per_record_gzip(
        [record("http://a.com/", b"A line.\n"), record("http://z.com/", body)]
    )
    assert len(data) < 64 << 10
    got = read(data)
    assert [s[:2] for s in summary(got)] == [("P", "http://a.com/"), ("P", "http://z.com/")]
    assert len(got[1].text) == len(body) - 1
