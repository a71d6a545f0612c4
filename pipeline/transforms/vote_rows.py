"""Dedup votes as packed rows: what ``DedupText`` ships through its vote shuffle.

A vote (``filters.dedup.Vote``) is one page's claim on a key (a 16-byte md5): the owner's md5,
how often the key occurs in the owner's page, and how often in all pages. Combining the votes of
a key keeps the smallest owner, sums ``owner_count`` over that owner's votes and ``total`` over
all (``filters.dedup.merge_votes``, associative and commutative). Here votes are rows of a numpy
record array serialized to ``bytes``, so a shuffle carries 44 bytes per vote instead of a tuple
of Python objects, and a table of votes is merged by one sort instead of a dict update per vote.

Keys and owners are stored as two big-endian ``uint64`` each, so that sorting them numerically
orders them as bytes (the order TFDS compares hex digests in) and no trailing zero byte of a
digest is lost.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from filters import dedup

ROW = np.dtype(
    [
        ("k0", ">u8"),
        ("k1", ">u8"),
        ("o0", ">u8"),
        ("o1", ">u8"),
        ("owner_count", "<u4"),
        ("total", "<u8"),
    ]
)


def rows_of(keys: Sequence[bytes], owners: Sequence[bytes], counts: Sequence[int]) -> np.ndarray:
    """Votes as rows: key ``i`` occurs ``counts[i]`` times in the page whose owner md5 is
    ``owners[i]`` (``owner_count == total == counts[i]``); not merged."""
    rows = np.empty(len(keys), dtype=ROW)
    if not len(keys):
        return rows
    k = np.frombuffer(b"".join(keys), dtype=">u8").reshape(-1, 2)
    o = np.frombuffer(b"".join(owners), dtype=">u8").reshape(-1, 2)
    rows["k0"], rows["k1"] = k[:, 0], k[:, 1]
    rows["o0"], rows["o1"] = o[:, 0], o[:, 1]
    rows["owner_count"] = counts
    rows["total"] = counts
    return rows


def merge(rows: np.ndarray) -> np.ndarray:
    """One row per key: the smallest owner, its summed ``owner_count``, the summed ``total``.

    The result is sorted by key, so equal tables give equal bytes.
    """
    if len(rows) == 0:
        return rows
    r = rows[np.lexsort((rows["o1"], rows["o0"], rows["k1"], rows["k0"]))]
    n = len(r)
    starts_mask = np.ones(n, dtype=bool)
    starts_mask[1:] = (r["k0"][1:] != r["k0"][:-1]) | (r["k1"][1:] != r["k1"][:-1])
    starts = np.flatnonzero(starts_mask)
    # Each row's key group starts at the last start at or before it; that row holds the winner.
    first = starts[np.cumsum(starts_mask) - 1]
    winner = (r["o0"] == r["o0"][first]) & (r["o1"] == r["o1"][first])
    out = r[starts].copy()
    out["owner_count"] = np.add.reduceat(np.where(winner, r["owner_count"], 0), starts)
    out["total"] = np.add.reduceat(r["total"], starts)
    return out


def to_bytes(rows: np.ndarray) -> bytes:
    # numpy may hand back native-order fields (np.concatenate does): serialize as ROW says.
    return rows.astype(ROW, copy=False).tobytes()


def from_bytes(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype=ROW)


def merge_bytes(tables: Iterable[bytes]) -> bytes:
    """``merge`` over serialized tables."""
    parts = [from_bytes(t) for t in tables if t]
    if not parts:
        return b""
    return to_bytes(merge(np.concatenate(parts)))


def by_bucket(rows: np.ndarray, buckets: int) -> Iterator[tuple[int, bytes]]:
    """``(bucket, serialized rows)`` per non-empty bucket; a key's bucket is its first 8 bytes
    (big-endian) modulo ``buckets``."""
    if len(rows) == 0:
        return
    for bucket, part in _split_by(rows, rows["k0"] % np.uint64(buckets)):
        yield bucket, to_bytes(part)


def _split_by(rows: np.ndarray, bucket: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """``(bucket, its rows)`` for every bucket value present, in increasing order."""
    order = np.argsort(bucket, kind="stable")
    rows, bucket = rows[order], bucket[order]
    cuts = np.flatnonzero(np.diff(bucket)) + 1
    for part, rows_part in zip(np.split(bucket, cuts), np.split(rows, cuts), strict=True):
        yield int(part[0]), rows_part


PAIR = np.dtype([("o0", ">u8"), ("o1", ">u8"), ("k0", ">u8"), ("k1", ">u8")])


def owner_bucket(owner: bytes, buckets: int) -> int:
    """The page bucket of an owner digest: its first 8 bytes (big-endian) modulo ``buckets``."""
    return int.from_bytes(owner[:8], "big") % buckets


def kept_by_bucket(rows: np.ndarray, span: bool, buckets: int) -> Iterator[tuple[int, bytes]]:
    """``(page bucket, serialized (owner, key) pairs)`` of the keys winners keep, for merged rows
    (``filters.dedup.loses``): the winner keeps a line; a 1.0.0 window only if it occurs once in
    the winner (``skip_n=1`` spares one occurrence, not one page). Pages are grouped by
    ``owner_bucket`` so one shuffle element carries the kept keys of many pages."""
    if span:
        rows = rows[rows["owner_count"] <= 1]
    if len(rows) == 0:
        return
    pairs = np.empty(len(rows), dtype=PAIR)
    for name in ("o0", "o1", "k0", "k1"):
        pairs[name] = rows[name]
    for bucket, part in _split_by(pairs, pairs["o0"] % np.uint64(buckets)):
        yield bucket, part.astype(PAIR, copy=False).tobytes()


def _digests(hi: np.ndarray, lo: np.ndarray) -> list[bytes]:
    both = np.empty((len(hi), 2), dtype=">u8")
    both[:, 0], both[:, 1] = hi, lo
    data = both.tobytes()
    return [data[i : i + 16] for i in range(0, len(data), 16)]


def kept_keys(tables: Iterable[bytes]) -> dict[bytes, frozenset[bytes]]:
    """Owner digest -> the keys it keeps, from ``kept_by_bucket`` tables of one page bucket."""
    parts = [np.frombuffer(t, dtype=PAIR) for t in tables if t]
    if not parts:
        return {}
    pairs = np.concatenate(parts) if len(parts) > 1 else parts[0]
    pairs = pairs[np.lexsort((pairs["o1"], pairs["o0"]))]
    o0, o1 = pairs["o0"], pairs["o1"]
    # Where the owner changes, found by numpy: Python then loops per page, not per key.
    cuts = np.flatnonzero((o0[1:] != o0[:-1]) | (o1[1:] != o1[:-1])) + 1
    starts = np.concatenate(([0], cuts))
    owners = _digests(o0[starts], o1[starts])
    keys = _digests(pairs["k0"], pairs["k1"])
    out = {}
    start = 0
    for owner, end in zip(owners, [*cuts.tolist(), len(pairs)], strict=True):
        out[owner] = frozenset(keys[start:end])
        start = end
    return out


# A page ``filters.dedup.whole_if_owned`` says is unchanged when it owns all of its ``n``
# distinct line keys: its owner digest and ``n``, sent by the emitting worker beside its votes.
WHOLE = np.dtype([("o0", ">u8"), ("o1", ">u8"), ("n", ">u4")])


def whole_by_bucket(
    owners: Sequence[bytes], counts: Sequence[int], buckets: int
) -> Iterator[tuple[int, bytes]]:
    """``(page bucket, serialized WHOLE rows)``: page ``owners[i]`` keeps its text unchanged if
    it owns ``counts[i]`` keys (as many as it has), in the page buckets of ``kept_by_bucket``, so
    line dedup's apply step knows which pages lost nothing without hashing their lines again."""
    if not owners:
        return
    rows = np.empty(len(owners), dtype=WHOLE)
    o = np.frombuffer(b"".join(owners), dtype=">u8").reshape(-1, 2)
    rows["o0"], rows["o1"] = o[:, 0], o[:, 1]
    rows["n"] = counts
    for bucket, part in _split_by(rows, rows["o0"] % np.uint64(buckets)):
        yield bucket, part.astype(WHOLE, copy=False).tobytes()


def whole_counts(tables: Iterable[bytes]) -> dict[bytes, int]:
    """Owner digest -> the keys it must own to be unchanged, from ``whole_by_bucket`` tables."""
    parts = [np.frombuffer(t, dtype=WHOLE) for t in tables if t]
    if not parts:
        return {}
    rows = np.concatenate(parts) if len(parts) > 1 else parts[0]
    return dict(zip(_digests(rows["o0"], rows["o1"]), rows["n"].tolist(), strict=True))


def key_counters(rows: np.ndarray, major: int, span: bool) -> dict[str, int]:
    """``filters.dedup.key_counters`` summed over merged rows (nothing in 3.x)."""
    if major >= 3 or len(rows) == 0:
        return {}
    if span:
        name = f"{dedup.WINDOWS_NAMESPACE}/{dedup.EMITTED_WINDOW_DUPLICATE}"
        return {name: int(np.count_nonzero(rows["total"] > 1))}
    name = f"{dedup.LINES_NAMESPACE}/{dedup.EMITTED_LINE_DUPLICATE}"
    return {name: int(rows["total"].astype(np.int64).sum() - len(rows))}


def duplicated(data: bytes) -> bytes:
    """The rows of a merged table whose key occurs more than once (``total > 1``): the only keys
    a page can lose (``c4 build --record_drops`` asks who won them)."""
    rows = from_bytes(data)
    return to_bytes(rows[rows["total"] > 1])


def winners(tables: Iterable[bytes]) -> dict[bytes, bytes]:
    """Key -> the owner digest that won it, over merged tables of one vote bucket."""
    parts = [from_bytes(t) for t in tables if t]
    if not parts:
        return {}
    rows = merge(np.concatenate(parts)) if len(parts) > 1 else parts[0]
    keys = _digests(rows["k0"], rows["k1"])
    owners = _digests(rows["o0"], rows["o1"])
    return dict(zip(keys, owners, strict=True))
