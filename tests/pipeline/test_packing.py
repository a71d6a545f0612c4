"""pipeline/packing.py: both codecs give back what they were given, and say which they are."""

from __future__ import annotations

import pickle

import pytest

from filters.records import Page
from pipeline import packing
from pipeline.transforms.common import Pending


def _page() -> Page:
    text = "\n".join(f"Line {i} of a page that repeats itself, as text does." for i in range(200))
    url = "https://example.com/a"
    return Page(url, url, text, "2019-04-18T12:00:00Z", "text/plain", "9000", "id", "f.gz", 42)


@pytest.mark.parametrize("codec", packing.CODECS)
def test_round_trip_and_compression(codec: str) -> None:
    page = _page()
    pending = Pending(page, (("clean/passed", 1),), True, None)
    for value in (page, pending, {"kind": "counters"}, b"\x00" * 10):
        assert packing.unpack(packing.pack(value, codec)) == value
    raw = pickle.dumps(page, protocol=pickle.HIGHEST_PROTOCOL)
    assert len(packing.pack(page, codec)) < len(raw) / 4  # repetitive text compresses


def test_unpack_reads_the_codec_from_the_bytes() -> None:
    page = _page()
    zstd, lz4 = packing.pack(page, packing.ZSTD), packing.pack(page, packing.LZ4)
    assert zstd[:1] != lz4[:1]
    assert packing.unpack(zstd) == packing.unpack(lz4) == page
    assert packing.pack(page) == zstd  # the default: what a remote shuffle should carry


def test_bad_codec_and_bad_bytes_are_errors() -> None:
    with pytest.raises(ValueError, match="unknown packing codec 'gzip'"):
        packing.pack(_page(), "gzip")
    with pytest.raises(ValueError, match="not a packed value"):
        packing.unpack(b"Xjunk")


def test_lz4_only_where_the_shuffle_stays_in_memory() -> None:
    assert packing.codec_for("DirectRunner") == packing.LZ4
    for runner in ("DataflowRunner", "DaskRunner", "C4DaskRunner", "PortableRunner"):
        assert packing.codec_for(runner) == packing.ZSTD
