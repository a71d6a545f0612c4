"""Pages packed for a shuffle: pickled, then compressed, as one ``bytes`` value.

Why: a runner holds what crosses a shuffle, and the DirectRunner holds it several times (the
encoded output, the grouped table, the regrouped encoding) in one process; a ``bytes`` value is
copied, not pickled again, at every hop. On Dataflow it is also what Shuffle bills by.

Two codecs, named by the first byte of the packed value, so ``unpack`` needs no setting:

- ``zstd`` (level 1): for runners whose shuffle crosses a network and is billed by the byte
  (Dataflow, and the default). Our pages compress ~2.0x.
- ``lz4``: for the DirectRunner, whose shuffle stays in the process's memory. ~1.5x, but packing
  and unpacking cost a third less CPU: 0.81 against 1.27 CPU-s for the ~64 MB a build of 85 MB
  of WET packs (``docs/benchmarks.md``); the DirectRunner's peak memory stays under 2 GB at 1 GB.
  pyarrow (already ours, for Parquet) provides it.

The packed bytes never reach an output: every consumer unpacks them, and every decision is made
on unpacked values, so they need not be identical across codec versions (they are across runs).
"""

from __future__ import annotations

import pickle
import struct
import threading
from typing import Any

import pyarrow as pa
import zstandard

ZSTD = "zstd"
LZ4 = "lz4"
CODECS = (ZSTD, LZ4)
ZSTD_LEVEL = 1
_TAG = {ZSTD: b"Z", LZ4: b"L"}
_SIZE = struct.Struct("<Q")  # lz4 blocks do not record their decompressed size
_local = threading.local()


def _zstd() -> tuple[zstandard.ZstdCompressor, zstandard.ZstdDecompressor]:
    # zstd contexts are not thread-safe, and Beam runs DoFns on several threads.
    codecs = getattr(_local, "zstd", None)
    if codecs is None:
        codecs = (zstandard.ZstdCompressor(level=ZSTD_LEVEL), zstandard.ZstdDecompressor())
        _local.zstd = codecs
    return codecs


def _lz4() -> pa.Codec:
    codec = getattr(_local, "lz4", None)
    if codec is None:
        codec = _local.lz4 = pa.Codec("lz4_raw")
    return codec


def pack(value: Any, codec: str = ZSTD) -> bytes:
    """``value`` (a page, a pending page, any picklable record) as compressed bytes.

    Raises:
        ValueError: ``codec`` is not one of ``CODECS``.
    """
    raw = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    if codec == ZSTD:
        return _TAG[ZSTD] + _zstd()[0].compress(raw)
    if codec == LZ4:
        return _TAG[LZ4] + _SIZE.pack(len(raw)) + _lz4().compress(raw, asbytes=True)
    raise ValueError(f"unknown packing codec {codec!r}; choose one of {', '.join(CODECS)}")


def unpack(data: bytes) -> Any:
    """The value ``pack`` was given, whichever codec packed it."""
    tag, body = data[:1], memoryview(data)[1:]
    if tag == _TAG[ZSTD]:
        return pickle.loads(_zstd()[1].decompress(body))
    if tag == _TAG[LZ4]:
        (size,) = _SIZE.unpack_from(body)
        raw = _lz4().decompress(body[_SIZE.size :], decompressed_size=size, asbytes=True)
        return pickle.loads(raw)
    raise ValueError(f"not a packed value (first byte {tag!r})")


def codec_for(runner: str) -> str:
    """The codec for a build on ``runner`` (module docstring): lz4 for the DirectRunner."""
    return LZ4 if runner in ("DirectRunner", "C4DirectRunner") else ZSTD
