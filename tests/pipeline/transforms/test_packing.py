"""pipeline/transforms/packing.py: what crosses a shuffle comes back as it went in, smaller."""

from __future__ import annotations

import pickle

from filters.records import Page
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
