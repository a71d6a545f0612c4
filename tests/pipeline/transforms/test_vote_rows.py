"""pipeline/transforms/vote_rows.py: packed vote tables decide exactly what filters.dedup's votes
decide."""

from __future__ import annotations

import hashlib
import random

import pytest

from filters import dedup
from filters.spec import resolve_rules
from pipeline.transforms import vote_rows


def _digest(i: int) -> bytes:
    return hashlib.md5(str(i).encode()).digest()


def _random_votes(seed: int) -> list[tuple[bytes, dedup.Vote]]:
    rng = random.Random(seed)
    keys = [_digest(i) for i in range(40)] + [bytes(15) + b"\x01", b"\x01" + bytes(15)]
    owners = [_digest(1000 + i) for i in range(12)] + [bytes(16), b"\xff" * 16]
    votes = []
    for _ in range(400):
        n = rng.randint(1, 3)
        votes.append((rng.choice(keys), dedup.Vote(rng.choice(owners), n, n)))
    return votes


def _rows(votes: list[tuple[bytes, dedup.Vote]]) -> vote_rows.np.ndarray:
    return vote_rows.rows_of(
        [k for k, _ in votes], [v.owner for _, v in votes], [v.owner_count for _, v in votes]
    )


def _as_votes(rows: vote_rows.np.ndarray) -> dict[bytes, dedup.Vote]:
    out = {}
    for r in rows:
        key = int(r["k0"]).to_bytes(8, "big") + int(r["k1"]).to_bytes(8, "big")
        owner = int(r["o0"]).to_bytes(8, "big") + int(r["o1"]).to_bytes(8, "big")
        out[key] = dedup.Vote(owner, int(r["owner_count"]), int(r["total"]))
    return out


@pytest.mark.parametrize("seed", range(5))
def test_merge_equals_the_vote_reduction_per_key(seed: int) -> None:
    votes = _random_votes(seed)
    expected: dict[bytes, list[dedup.Vote]] = {}
    for key, vote in votes:
        expected.setdefault(key, []).append(vote)
    merged = vote_rows.merge(_rows(votes))
    assert _as_votes(merged) == {k: dedup.combine_votes(v) for k, v in expected.items()}
    # In parts, in any order: the same table, byte for byte.
    half = len(votes) // 2
    parts = [vote_rows.to_bytes(_rows(votes[half:])), vote_rows.to_bytes(_rows(votes[:half]))]
    assert vote_rows.merge_bytes(parts) == vote_rows.to_bytes(merged)


@pytest.mark.parametrize("version", ["3.1.0", "2.2.0", "1.0.0"])
def test_kept_keys_and_counters_equal_the_per_key_rules(version: str) -> None:
    rules = resolve_rules("en", version)
    span = rules.dedup_unit == "span"
    merged = vote_rows.merge(_rows(_random_votes(7)))
    combined = _as_votes(merged)
    expected: dict[bytes, set[bytes]] = {}
    counters: dict[str, int] = {}
    for key, vote in combined.items():
        if not dedup.loses(vote, vote.owner, rules):
            expected.setdefault(vote.owner, set()).add(key)
        for name, n in dedup.key_counters(vote, rules).items():
            counters[name] = counters.get(name, 0) + n
    tables = list(vote_rows.kept_by_bucket(merged, span, 3))
    got = {}
    for bucket, table in tables:
        for owner, keys in vote_rows.kept_keys([table]).items():
            assert vote_rows.owner_bucket(owner, 3) == bucket
            got[owner] = set(keys)
    assert got == expected
    assert vote_rows.kept_keys(t for _, t in tables) == {k: frozenset(v) for k, v in got.items()}
    assert vote_rows.key_counters(merged, rules.major, span) == {
        k: v for k, v in counters.items() if rules.major < 3
    }


def test_buckets_are_the_keys_first_eight_bytes_modulo() -> None:
    keys = [_digest(i) for i in range(100)]
    rows = vote_rows.rows_of(keys, keys, [1] * 100)
    seen = {}
    for bucket, table in vote_rows.by_bucket(rows, 7):
        for key in _as_votes(vote_rows.from_bytes(table)):
            seen[key] = bucket
    assert seen == {k: int.from_bytes(k[:8], "big") % 7 for k in keys}


def test_empty_tables() -> None:
    empty = vote_rows.rows_of([], [], [])
    assert len(vote_rows.merge(empty)) == 0
    assert list(vote_rows.by_bucket(empty, 4)) == []
    assert list(vote_rows.kept_by_bucket(empty, False, 4)) == []
    assert vote_rows.kept_keys([b""]) == {}
    assert vote_rows.merge_bytes([b"", b""]) == b""


def test_whole_tables_round_trip_in_the_page_buckets() -> None:
    """``Whole`` rows travel in the page buckets the kept pairs do (``owner_bucket``)."""
    owners = [_digest(i) for i in range(50)] + [bytes(16), b"\xff" * 16]
    counts = list(range(1, len(owners) + 1))
    seen: dict[bytes, int] = {}
    for bucket, table in vote_rows.whole_by_bucket(owners, counts, 5):
        part = vote_rows.whole_counts([table])
        assert all(vote_rows.owner_bucket(o, 5) == bucket for o in part)
        seen.update(part)
    assert seen == dict(zip(owners, counts, strict=True))
    assert list(vote_rows.whole_by_bucket([], [], 5)) == []
    assert vote_rows.whole_counts([b""]) == {}


def test_kept_keys_tells_owners_apart_by_all_sixteen_bytes() -> None:
    """Owners sharing their first 8 bytes (one page bucket) keep their own keys."""
    a, b = bytes(8) + b"\x01" * 8, bytes(8) + b"\x02" * 8
    keys = [_digest(i) for i in range(6)]
    rows = vote_rows.rows_of(keys, [a, b, a, b, b, a], [1] * 6)
    tables = [table for _, table in vote_rows.kept_by_bucket(vote_rows.merge(rows), False, 1)]
    assert vote_rows.kept_keys(tables) == {
        a: frozenset(keys[i] for i in (0, 2, 5)),
        b: frozenset(keys[i] for i in (1, 3, 4)),
    }
