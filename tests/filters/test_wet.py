"""filters/wet.py on the real Common Crawl samples: page for page equal to TFDS split_wet_file.

The oracle is TFDS's own ``split_wet_file`` (3.1.0 from tensorflow-datasets 4.9.10, 2.2.0 from the
saved 2.0.0 source) run in the reference venv by ``tfds_split_wet_dump.py``.
"""

from __future__ import annotations

import collections
import gzip
import hashlib
import io
import zlib
from pathlib import Path

import pytest

from filters.records import DeadLetter, Dropped, Page
from filters.spec import resolve_rules
from filters.urls import normalize_url
from filters.wet import (
    STAGE,
    iter_wet,
    iter_wet_path,
    make_doc_id,
    missing_field_counters,
    parse_record,
    source_file_name,
)
from tests.conftest import EDGE_WET, REAL_WET
from tests.filters.tfds_split_wet_dump import run_reference

VERSIONS = ("3.1.0", "2.2.0")
# TFDS 2.x counter names (sic) -> ours.
LEGACY_COUNTERS = {
    "page-filitered-nourl": "filtered:no_url",
    "page-filtered-nocontent": "filtered:no_content",
    "page-emitted": "passed",
}


def tfds_fields(page: Page) -> dict[str, str]:
    return {
        "url": page.url,
        "text": page.text,
        "timestamp": page.timestamp,
        "content_type": page.content_type,
        "content_length": page.content_length,
    }


def our_counters(items: list) -> dict[str, int]:
    """Our items as TFDS's split-wet-file counters (wet-file excluded)."""
    counts: collections.Counter[str] = collections.Counter()
    for item in items:
        if isinstance(item, Page):
            counts["passed"] += 1
        elif isinstance(item, Dropped):
            counts[item.reason] += 1
    return dict(counts)


def tfds_counters(row: dict, version: str) -> dict[str, int]:
    counts = {k: v for k, v in row["counters"].items() if k != "wet-file"}
    if version.startswith("2."):
        counts = {LEGACY_COUNTERS[k]: v for k, v in counts.items() if k in LEGACY_COUNTERS}
    return counts


@pytest.fixture(scope="module", params=VERSIONS)
def reference(request: pytest.FixtureRequest) -> tuple[str, dict[str, dict]]:
    # The edge cases ride along: one TensorFlow start-up per version for both test files.
    return request.param, run_reference([*REAL_WET, *EDGE_WET], request.param)


@pytest.mark.reference
@pytest.mark.parametrize("path", REAL_WET, ids=lambda p: p.name)
def test_pages_equal_tfds(path: Path, reference: tuple[str, dict[str, dict]]) -> None:
    version, rows = reference
    row = rows[path.name]
    assert row["error"] is None
    items = list(iter_wet_path(str(path), resolve_rules("en", version)))
    assert all(isinstance(item, Page | Dropped) for item in items)
    assert [tfds_fields(p) for p in items if isinstance(p, Page)] == row["pages"]
    assert our_counters(items) == tfds_counters(row, version)


@pytest.mark.reference
def test_split_wet_file_totals_match_reference_stats(
    reference: tuple[str, dict[str, dict]],
) -> None:
    # The reference's stats: split_wet_file in=301 out=296 on the 5 files (5 warcinfo no_url).
    _, rows = reference
    items = [i for p in REAL_WET for i in iter_wet_path(str(p), resolve_rules())]
    assert len(items) == 301
    assert sum(isinstance(i, Page) for i in items) == 296
    assert {i.reason for i in items if isinstance(i, Dropped)} == {"filtered:no_url"}
    assert sum(len(rows[p.name]["pages"]) for p in REAL_WET) == 296


@pytest.mark.parametrize("path", REAL_WET, ids=lambda p: p.name)
def test_record_offset_is_the_member_holding_the_record(path: Path) -> None:
    raw = path.read_bytes()
    pages = [
        i for i in iter_wet_path(str(path), resolve_rules(), file_index=3) if isinstance(i, Page)
    ]
    for page in pages:
        member = zlib.decompressobj(wbits=31).decompress(raw[page.record_offset :])
        assert member.startswith(b"WARC/1.0\r\n")
        assert f"WARC-Record-ID: {page.record_id}".encode() in member
        assert f"WARC-Target-URI: {page.url}".encode() in member
        assert page.doc_id == page.record_id[len("<urn:uuid:") : -1]
        assert page.block_digest.startswith("sha1:")
        assert page.block_digest.encode() in member
        assert page.source_file == path.name
        assert page.file_index == 3
        assert page.normalized_url == normalize_url(page.url)
    offsets = [p.record_offset for p in pages]
    assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets)
    assert len({p.doc_id for p in pages}) == len(pages)


def test_bytes_read_counts_decompressed_bytes() -> None:
    path = REAL_WET[0]
    with iter_wet_path(str(path), resolve_rules()) as reader:
        assert reader.bytes_read == 0
        list(reader)
        assert reader.bytes_read == len(gzip.decompress(path.read_bytes()))
    with path.open("rb") as stream:
        reader = iter_wet(stream, path.name, resolve_rules())
        next(reader)
        reader.close()  # stops early; a stream it was handed stays the caller's
        assert not stream.closed


def test_source_file_name() -> None:
    cc = "crawl-data/CC-MAIN-2019-18/segments/1555578517558.8/wet/CC-MAIN-x-00000.warc.wet.gz"
    assert source_file_name(f"gs://commoncrawl/{cc}") == cc
    assert source_file_name(f"https://data.commoncrawl.org/{cc}") == cc
    assert source_file_name(f"/mnt/cc/{cc}") == cc
    assert source_file_name(cc) == cc
    assert source_file_name("/tmp/a/b/sample.warc.wet.gz") == "sample.warc.wet.gz"
    assert source_file_name("sample.wet") == "sample.wet"
    # "crawl-data/" must be a whole path component.
    assert source_file_name("/data/mycrawl-data/x.wet.gz") == "x.wet.gz"


def test_make_doc_id() -> None:
    uuid = "d0cad1a9-b0b0-4067-925a-e9ef4905d25e"
    assert make_doc_id(f"<urn:uuid:{uuid}>", "f.wet.gz", 7) == uuid
    fallback = hashlib.sha1(b"crawl-data/x.wet.gz:1234").hexdigest()
    assert make_doc_id("", "crawl-data/x.wet.gz", 1234) == fallback
    assert make_doc_id("  ", "crawl-data/x.wet.gz", 1234) == fallback
    assert make_doc_id("", "crawl-data/x.wet.gz", 1235) != fallback


def _record(url: str | None, text: str, date: str | None = "2019-04-24T09:23:58Z") -> str:
    head = ["WARC/1.0", "WARC-Type: conversion"]
    if url is not None:
        head.append(f"WARC-Target-URI: {url}")
    if date is not None:
        head.append(f"WARC-Date: {date}")
    head += ["Content-Type: text/plain", f"Content-Length: {len(text.encode())}"]
    return "\r\n".join(head) + "\r\n\r\n" + text + "\r\n\r\n"


def test_validity_order_and_versions() -> None:
    v3, v2 = resolve_rules("en", "3.1.0"), resolve_rules("en", "2.2.0")
    no_date = _record("http://a.com/", "Some text here.", date=None)
    dropped = parse_record(no_date, "f", 0, v3)
    assert dropped == Dropped(
        STAGE, "filtered:no_timestamp", dropped.doc_id, "http://a.com/", "f", 0, dropped.record_id
    )
    kept = parse_record(no_date, "f", 0, v2)
    assert isinstance(kept, Page) and kept.timestamp == "" and kept.text == "Some text here."
    # url first, then text, then timestamp: the first failing check names the reason.
    bare = _record(None, "", date=None)
    assert parse_record(bare, "f", 0, v3).reason == "filtered:no_url"
    no_text = _record("http://a.com/", "  \n\t\n", date=None)
    assert parse_record(no_text, "f", 0, v3).reason == "filtered:no_content"
    assert parse_record(no_text, "f", 0, v2).reason == "filtered:no_content"


def test_stream_items_are_typed_and_in_file_order() -> None:
    data = (_record("http://a.com/1", "one") + _record("http://a.com/2", "two")).encode()
    items = list(iter_wet(io.BytesIO(gzip.compress(data)), "s.wet.gz", resolve_rules()))
    assert [type(i) for i in items] == [Page, Page]
    assert [i.url for i in items] == ["http://a.com/1", "http://a.com/2"]
    assert not any(isinstance(i, DeadLetter) for i in items)


def test_missing_field_counters_name_each_missing_header() -> None:
    page = Page("http://a.com", "a.com", "text", "", "text/plain", "", "id", "f", 0)
    assert missing_field_counters(page) == {
        f"{STAGE}/page-notimestamp": 1,
        f"{STAGE}/page-nocontentlen": 1,
    }
    full = page._replace(timestamp="2019-04-24T09:23:58Z", content_length="12")
    assert missing_field_counters(full) == {}
