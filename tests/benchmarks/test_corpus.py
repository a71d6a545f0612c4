"""benchmarks/corpus.py: deterministic, well-formed, Common-Crawl-shaped WET from real records."""

from __future__ import annotations

import gzip
import re
import zlib
from collections import Counter
from pathlib import Path

import pytest

from benchmarks.corpus import load_sources, write_corpus
from filters.records import Page
from filters.spec import resolve_rules
from filters.wet import iter_wet_path


@pytest.fixture(scope="module")
def sources():
    return load_sources()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, sources) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "c.warc.wet.gz"
    write_corpus(path, 1.0, seed=0)
    return path


def members(data: bytes) -> list[bytes]:
    out = []
    while data:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out.append(d.decompress(data))
        data = d.unused_data
    return out


def test_same_arguments_same_bytes(corpus, tmp_path):
    again = tmp_path / "again.warc.wet.gz"
    write_corpus(again, 1.0, seed=0)
    assert again.read_bytes() == corpus.read_bytes()
    other = tmp_path / "other.warc.wet.gz"
    write_corpus(other, 1.0, seed=1)
    assert other.read_bytes() != corpus.read_bytes()


def test_size_and_one_member_per_record(corpus):
    data = gzip.decompress(corpus.read_bytes())
    assert 1_000_000 <= len(data) < 1_300_000
    records = members(corpus.read_bytes())
    assert all(r.startswith(b"WARC/1.0\r\n") and r.count(b"WARC/1.0\r\n") == 1 for r in records)
    assert b"WARC-Type: warcinfo" in records[0]
    for r in records:
        head, _, body = r.partition(b"\r\n\r\n")
        length = int(re.search(rb"Content-Length: (\d+)", head).group(1))
        assert body == body[:length] + b"\r\n\r\n" and len(body) == length + 4


def test_ids_unique_and_duplicates_controlled(corpus, sources):
    items = list(iter_wet_path(str(corpus), resolve_rules("en", "3.1.0")))
    pages = [p for p in items if isinstance(p, Page)]
    assert len(items) == len(pages) + 1  # the warcinfo record
    ids = [p.record_id for p in pages]
    assert len(set(ids)) == len(ids) and all(i.startswith("<urn:uuid:") for i in ids)
    by_key = Counter(p.normalized_url for p in pages)
    dup_urls = sum(n - 1 for n in by_key.values())
    # About 2% duplicate URLs (in other spellings), never zero at this size.
    assert 0 < dup_urls < 0.06 * len(pages)
    assert len({p.url for p in pages}) > len(by_key) - 1
    # The pages are real: every URL's host is a host of the real samples.
    hosts = {s.url.split("/")[2] for s in sources[0] + sources[1]}
    strip = lambda h: h[4:] if h.startswith("www.") else h  # noqa: E731
    assert all(strip(p.url.split("/")[2]) in {strip(h) for h in hosts} for p in pages)
