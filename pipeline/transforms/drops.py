"""Drop records: what ``c4 build --record_drops`` keeps of each page a rule removed.

With the option on (``pipeline.drops.enable_drops`` sets ``record_drops`` on every stage DoFn),
a stage that drops a page puts a ``DropRecord`` on the union stream beside its counters
(``pipeline/transforms/common.py``): the page's ids and source record, the counter that counted
the drop (``stage/reason``, exactly a ``reconciliation.dropped`` key of stats.json), and why,
from what the rule already returned (the line counters of ``clean_page`` and line dedup, the
language and probability the detector gave, the copy URL dedup kept). ``DedupText`` also finds
which pages kept the lines a dropped page lost (``LostKeys`` -> ``DropCredit``). The build writes
them to ``DIR/drops/`` (``pipeline/drops.py``). With the option off no stage makes one: the
default build moves the very same elements as before.

Why packed: a record rides the union stream from the stage that made it to the sink, across
every shuffle and flatten between (a dozen encodings for a page dropped while reading), and
Beam's coder pickles a ``NamedTuple`` each time (4.6 us a round trip) but copies ``bytes`` (0.4
us). So a record travels as ``bytes`` (``MAGIC``, the input file's index for the sink's sharding,
the pickled record), made once by the stage and opened once by the sink.

Never a text: a record holds ids, counters and reasons only, so a page blocked by a forget
blocklist leaves its URL and doc_id, nothing of what it said.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple

from filters.records import Dropped, Page

# (md5 hex of the owner URL of a page that kept some of the lost lines, how many distinct lines)
Credits = tuple[tuple[str, int], ...]


class DropRecord(NamedTuple):
    """One page a rule dropped (module docstring); ``file_index`` only shards the files."""

    doc_id: str
    url: str
    source_file: str
    record_offset: int
    record_id: str
    stage: str
    reason: str
    detail: str = ""
    language: str = ""
    probability: float | None = None
    winner_doc_id: str = ""
    winner_url: str = ""
    credited_to: Credits = ()
    file_index: int = 0


class DropCredit(NamedTuple):
    """Which pages kept the lines (1.0.0: sentence windows) a page line dedup dropped had lost;
    merged into that page's ``DropRecord`` (same ``doc_id``) when the drops are written."""

    doc_id: str
    credited_to: Credits
    file_index: int


class LostKeys(NamedTuple):
    """A dropped page's lost dedup keys of one vote bucket, to be joined with the bucket's
    merged votes (``pipeline.transforms.dedup``): who won each of them."""

    bucket: int
    doc_id: str
    owner: bytes
    keys: tuple[bytes, ...]
    file_index: int


# Starts every packed record; no other ``bytes`` element travels the union stream.
MAGIC = b"c4-drop\x00"
_AT = len(MAGIC)


def pack_drop(item: DropRecord | DropCredit) -> bytes:
    """A record as it travels (module docstring): ``MAGIC``, 4 bytes of file index, pickle."""
    body = pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
    return MAGIC + item.file_index.to_bytes(4, "big") + body


def unpack_drop(data: bytes) -> DropRecord | DropCredit:
    item: DropRecord | DropCredit = pickle.loads(data[_AT + 4 :])
    return item


def drop_file_index(data: bytes) -> int:
    """The input file index of a packed record, without unpacking it."""
    return int.from_bytes(data[_AT : _AT + 4], "big")


def is_drop(x: object) -> bool:
    """What ``DIR/drops/`` is written from: a packed ``DropRecord`` or ``DropCredit``."""
    return type(x) is bytes and x[:_AT] == MAGIC


def is_lost_keys(x: object) -> bool:
    return isinstance(x, LostKeys)


def is_not_lost_keys(x: object) -> bool:
    return not isinstance(x, LostKeys)


def drop_counter(counters: Mapping[str, int]) -> tuple[str, str]:
    """``(stage, reason)`` of the counter that counted a dropped page.

    A drop is counted ``<namespace>/filtered[:<reason>]``; TFDS repeats some under a longer
    alias (``badwords-filter-<lang>/filtered``, ``filtered:ignored_language-<lang>``) that
    stats.json's reconciliation leaves out (``pipeline.summary.is_drop_counter``): the shortest
    name is the one it sums.

    Raises:
        ValueError: no drop counter among ``counters``.
    """
    found = []
    for name, n in counters.items():
        stage, _, reason = name.rpartition("/")
        if n and stage and (reason == "filtered" or reason.startswith("filtered:")):
            found.append((len(name), name, stage, reason))
    if not found:
        raise ValueError(f"no drop counter in {sorted(counters)}")
    _, _, stage, reason = min(found)
    return stage, reason


def drop_record(page: Page, counters: Mapping[str, int], **why: Any) -> bytes:
    """The packed record of ``page``, dropped with ``counters``; ``why`` sets other fields."""
    stage, reason = drop_counter(counters)
    fields: dict[str, Any] = {
        "doc_id": page.doc_id,
        "url": page.url,
        "source_file": page.source_file,
        "record_offset": int(page.record_offset),
        "record_id": page.record_id,
        "stage": stage,
        "reason": reason,
        "file_index": page.file_index,
    }
    return pack_drop(DropRecord(**{**fields, **why}))


def from_dropped(item: Dropped, file_index: int) -> bytes:
    """The packed record of a WET record the reader dropped (no URL, no text, no date)."""
    return pack_drop(
        DropRecord(
            doc_id=item.doc_id,
            url=item.url,
            source_file=item.source_file,
            record_offset=int(item.record_offset),
            record_id=item.record_id,
            stage=item.stage,
            reason=item.reason,
            file_index=file_index,
        )
    )


def _tally(counters: Mapping[str, int], prefix: str) -> list[tuple[str, int]]:
    return sorted(
        (name.rpartition("/")[2][len(prefix) :], n)
        for name, n in counters.items()
        if n and name.rpartition("/")[2].startswith(prefix)
    )


def line_detail(counters: Mapping[str, int]) -> str:
    """What the line rules did to a page (``clean_page``'s and line dedup's counters):
    ``"3 lines passed; lines removed: no_endmark 12, too_short 4"`` (a rule that drops the
    whole page at a line stops there: the lines after it are not counted)."""
    kept = sum(n for name, n in counters.items() if name.rpartition("/")[2] == "line-passed")
    removed = _tally(counters, "line-filtered:")
    text = f"{kept} line{'' if kept == 1 else 's'} passed"
    if removed:
        text += "; lines removed: " + ", ".join(f"{name} {n}" for name, n in removed)
    return text


def window_detail(counters: Mapping[str, int]) -> str:
    """1.0.0's span dedup: ``"sentences removed as duplicates: 7"``."""
    removed = sum(
        n for name, n in counters.items() if name.endswith("/sentence-filtered:duplicate")
    )
    return f"sentences removed as duplicates: {removed}"


def credits_of(lost: Iterable[bytes], winners: Mapping[bytes, bytes], own: bytes) -> dict[str, int]:
    """Owner md5 (hex) -> how many of the ``lost`` keys it won, from ``winners`` (key -> the
    owner that won it); a key the page lost to itself (1.0.0: a window repeated in the page)
    is not another page's."""
    out: dict[str, int] = {}
    for key in lost:
        owner = winners.get(key)
        if owner is not None and owner != own:
            name = owner.hex()
            out[name] = out.get(name, 0) + 1
    return out


def merged_credits(credits: Iterable[Credits]) -> Credits:
    """Credits of one page from several vote buckets, summed; most lines first, then by md5."""
    total: dict[str, int] = {}
    for part in credits:
        for owner, n in part:
            total[owner] = total.get(owner, 0) + n
    return tuple(sorted(total.items(), key=lambda item: (-item[1], item[0])))


def lost_key_asks(
    page: Page, owner: bytes, lost: Iterable[bytes], buckets: int
) -> Iterator[LostKeys]:
    """``LostKeys`` per vote bucket (the bucket of a key is its first 8 bytes, big-endian,
    modulo ``buckets``: ``pipeline.transforms.vote_rows.by_bucket``)."""
    by_bucket: dict[int, list[bytes]] = {}
    for key in lost:
        by_bucket.setdefault(int.from_bytes(key[:8], "big") % buckets, []).append(key)
    for bucket, keys in sorted(by_bucket.items()):
        yield LostKeys(bucket, page.doc_id, owner, tuple(sorted(keys)), page.file_index)


def unnamed(page: Page, counters: Mapping[str, int]) -> bytes:
    """A page DIR's forget ledger blocked at ingest: its ids and source record, no URL (the
    ledger keeps a hash of it, never the URL itself: ``filters/ledger.py``)."""
    detail = "forgotten by request (c4 forget): its URL is not kept"
    return drop_record(page, counters, url="", detail=detail)
