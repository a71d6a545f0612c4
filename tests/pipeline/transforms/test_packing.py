"""pipeline/transforms/packing.py: what crosses a shuffle comes back as it went in, smaller."""

from __future__ import annotations

import pickle

import zstandard

from filters.records import DeadLetter, Page
from pipeline.transforms import packing
from pipeline.transforms.common import Pending


def _page() -> Page:
    text = "\n".join(f"Line {i} of a page that repeats itself, as text does." for i in range(200))
    url = "https://example.com/a"
    return Page(url, url, text, "2019-04-18T12:00:00Z", "text/plain", "9000", "id", "f.gz", 42)


def test_round_trip_and_compression() -> None:
    page = _page()
    pending = Pending(page, (("clean/passed", 1),), True, None)
    for value in (page, pending, {"kind": "counters"}, b"\x00" * 10):
        assert packing.unpack(packing.pack(value)) == value
    raw = pickle.dumps(page, protocol=pickle.HIGHEST_PROTOCOL)
    assert len(packing.pack(page)) < len(raw) / 4  # repetitive text compresses
    assert packing.pack(page) == packing.pack(page)  # same bytes on every call


def _page_of_size(chars: int) -> Page:
    url = "https://example.com/b"
    text = ("Words of a page, as text has them. " * (chars // 35 + 1))[:chars]
    return Page(url, url, text, "2019-04-18T12:00:00Z", "text/plain", "9000", "id", "f.gz", 7)


def test_small_pickles_travel_raw_and_large_ones_compressed_both_unpack() -> None:
    """Under ``MIN_COMPRESSED`` bytes zstd's fixed cost a call is not paid (module docstring)."""
    sizes = {}
    for chars in range(0, 3 * packing.MIN_COMPRESSED, 97):
        value = Pending(_page_of_size(chars), (("clean-page/passed", 1),))
        fields = (tuple(value.page), value.counters, value.keep, value.dead)
        raw = packing.PENDING + pickle.dumps(fields, protocol=pickle.HIGHEST_PROTOCOL)
        packed = packing.pack(value)
        compressed = packed[:4] == packing.ZSTD_MAGIC
        assert compressed == (len(raw) >= packing.MIN_COMPRESSED), chars
        assert packed == raw or compressed
        assert packing.unpack(packed) == value
        sizes[compressed] = sizes.get(compressed, 0) + 1
    assert sizes[True] and sizes[False]  # both kinds were seen
    # Every pickle starts with 0x80 (protocol >= 2), never with zstd's magic number.
    assert packing.pack(b"")[:1] == b"\x80"
    assert packing.pack(packing.ZSTD_MAGIC * 10)[:1] == b"\x80"


class _OtherPage(Page):
    """Not a ``Page`` exactly: packed as any other value, by pickle."""


def test_pages_and_pendings_come_back_as_themselves_other_values_by_pickle() -> None:
    """``Page`` and ``Pending`` travel as tagged tuples; unpacked, they are NamedTuples again
    (``==`` alone would not tell: a NamedTuple equals the tuple of its fields)."""
    dead = DeadLetter("clean-page", "f.gz", 42, "exception", "an excerpt", "a detail")
    small, large = _page_of_size(100), _page_of_size(3 * packing.MIN_COMPRESSED)
    for page in (small, large):
        cases = [page, Pending(page), Pending(page._replace(text=""), (("a/b", 2),), False, dead)]
        for value in cases:
            packed = packing.pack(value)
            compressed = packed[:4] == packing.ZSTD_MAGIC
            body = zstandard.ZstdDecompressor().decompress(packed) if compressed else packed
            assert body[:1] == (packing.PAGE if type(value) is Page else packing.PENDING)
            back = packing.unpack(packed)
            assert back == value and type(back) is type(value)
            if isinstance(back, Pending):
                assert type(back.page) is Page and back.dead == value.dead
        assert packing.pack(cases[0])[: 4 if page is large else 3] == (
            packing.ZSTD_MAGIC if page is large else b"P\x80\x05"
        )
    other = _OtherPage(*small)
    for value in (other, Pending(other), (1, "a"), ["P", b"Q"]):
        packed = packing.pack(value)
        assert packed == pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        back = packing.unpack(packed)
        assert back == value and type(back) is type(value)
