"""Pages packed for a shuffle: pickled, then zstd-compressed when large, as one ``bytes`` value.

Why: a runner holds what crosses a shuffle, and the DirectRunner holds it several times (the
encoded output, the grouped table, the regrouped encoding) in one process; text compresses about
2.5x at zstd level 1, and a ``bytes`` value is copied, not pickled again, at every hop. On
Dataflow it is also what Shuffle bills by.

Why only from ``MIN_COMPRESSED`` bytes: zstd costs a fixed ~4 us a call (frame and context set-up)
on top of its per-byte cost, and most packed pages are small (median ~1.2 kB pickled, after
``clean_page``), so compressing every page cost ~2x the per-byte rate (85 MB corpus: pack and
unpack ~0.8 CPU-s in all). Pickles under 4 kB are 1/3 of the bytes and most of the calls:
left raw, packing and unpacking cost ~0.2 CPU-s less for ~27 % more bytes shuffled (peak memory
of an 85 MB build within noise, at most +2.5 %).

Why ``Page`` and ``Pending`` as plain tuples: pickle spends more on a NamedTuple than on its
fields (a call of ``__reduce_ex__`` to pickle it, of the class to rebuild it): as the tuple of
their fields behind a one-byte tag they pickle ~2x and unpickle ~1.3x faster (85 MB corpus:
~0.1 CPU-s). Any other value is pickled as it is.

A packed value says which it is by its first byte: a zstd frame starts with zstd's magic number
(the frame holds one of the others), a pickle (protocol 2 and up) with ``0x80``, a tagged record
with its tag. The packed bytes never reach an output: every consumer unpacks them, and every
decision is made on unpacked values, so they need not be identical across zstd versions (they
are across runs).
"""

from __future__ import annotations

import pickle
import threading
from typing import Any

import zstandard

from filters.records import Page
from pipeline.transforms.common import Pending

LEVEL = 1
# Pickles shorter than this are packed as they are (module docstring).
MIN_COMPRESSED = 4096
# What every zstd frame starts with (RFC 8878, 3.1.1); never the first bytes of a pickle.
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
# Tags of the records packed as the tuple of their fields; neither is 0x80 (a pickle) nor 0x28.
PAGE = b"P"
PENDING = b"Q"
_local = threading.local()
_new = tuple.__new__  # a NamedTuple from its fields, as pickle rebuilds one (no checks)


def _codecs() -> tuple[zstandard.ZstdCompressor, zstandard.ZstdDecompressor]:
    # zstd contexts are not thread-safe, and Beam runs DoFns on several threads.
    codecs = getattr(_local, "codecs", None)
    if codecs is None:
        codecs = (zstandard.ZstdCompressor(level=LEVEL), zstandard.ZstdDecompressor())
        _local.codecs = codecs
    return codecs


def pack(value: Any) -> bytes:
    """``value`` (a page, a pending page, any picklable record) as bytes, compressed if large."""
    raw = _encode(value)
    if len(raw) < MIN_COMPRESSED:
        return raw
    return _codecs()[0].compress(raw)


def unpack(data: bytes) -> Any:
    """The value ``pack`` was given."""
    if data[:4] == ZSTD_MAGIC:
        data = _codecs()[1].decompress(data)
    tag = data[:1]
    if tag == PENDING:
        page, counters, keep, dead = pickle.loads(memoryview(data)[1:])
        return _new(Pending, (_new(Page, page), counters, keep, dead))
    if tag == PAGE:
        return _new(Page, pickle.loads(memoryview(data)[1:]))
    return pickle.loads(data)


def _encode(value: Any) -> bytes:
    """``value`` pickled; a ``Page`` or ``Pending`` (exactly those types) as a tagged tuple."""
    kind = type(value)
    if kind is Pending and type(value.page) is Page:
        fields = (tuple(value.page), value.counters, value.keep, value.dead)
        return PENDING + pickle.dumps(fields, protocol=pickle.HIGHEST_PROTOCOL)
    if kind is Page:
        return PAGE + pickle.dumps(tuple(value), protocol=pickle.HIGHEST_PROTOCOL)
    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
