"""Deduplication: URL dedup (C4_SPEC §1.3), line dedup (§1.5, 2.x/3.x) and 1.0.0's sentence windows.

Every rule is split in the three pieces a shuffle-based runner needs, so the Beam pipeline and the
in-memory ``filters.local`` run the very same functions:

1. **key emission per page** (``emit_line_keys``, ``emit_window_keys``): one ``(key, Vote)`` per
   distinct line (or window) of the page, where the vote names the page by the md5 digest of its
   owner URL and says how often the key occurs in the page;
2. **a reduction per key** that is associative and commutative (``merge_votes``: the smallest owner
   digest wins, TFDS's "smallest ``md5(url).hexdigest()``" since hex preserves byte order), plus
   ``lost_by`` which names every owner that must delete the key;
3. **application per page** (``remove_lines``, ``remove_windows``) given the keys the page LOSES.

Why ship the lost keys and not the owned ones (3.x's ``CoGroupByKey`` ships owned lines): most C4
lines are unique, so a page owns nearly all of its lines; the owned set is about the size of the
whole line-hash table, the lost set only its duplicated fraction. Both give identical output (each
key of a page is either owned or lost), so the second shuffle (keys -> pages) carries the smaller
one. The price is that the first shuffle is a GroupByKey (``lost_by`` must see every owner of a
key) where the owned variant could use ``merge_votes`` as a lifted combiner; with mostly unique
keys a combiner shrinks nothing there, so both first shuffles move about the same bytes. Keys and
owners are raw 16-byte md5 digests, not 32-character hex strings, to halve the shuffle bytes.

Pure: no Beam, no I/O.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Collection, Iterable, Iterator
from typing import NamedTuple, Protocol

from filters.kernels import native
from filters.records import Page
from filters.spec import C4Rules

URL_NAMESPACE = "duplicate-url-filter"
LINES_NAMESPACE = "dedupe-lines"
WINDOWS_NAMESPACE = "dedupe-sentences"
# 1.0.0 ``remove_duplicate_text(sentence_window_size=3)``.
SENTENCE_WINDOW = 3
# 1.0.0 skips windows made only of these "sentences" (C4_SPEC §1.5).
_END_MARKS = frozenset((".", "?", "!", '"'))

# Counters that exist only in the legacy versions keep their legacy name in both tables.
EMITTED_LINE_DUPLICATE = "emitted-line-duplicate"
EMITTED_WINDOW_DUPLICATE = "emitted-sentences-duplicate"
SENTENCE_DUPLICATE = "sentence-filtered:duplicate"

# Our (3.1.0-style) counter -> the 2.2.0 / 1.0.0 name; None: the legacy code has no such counter.
LEGACY_COUNTER_NAMES: dict[str, dict[str, str | None]] = {
    "2.2.0": {
        f"{URL_NAMESPACE}/passed": "dedupe-urls/unique-url",
        f"{URL_NAMESPACE}/filtered": "dedupe-urls/filtered-url-duplicate",
        f"{LINES_NAMESPACE}/{EMITTED_LINE_DUPLICATE}": f"{LINES_NAMESPACE}/emitted-line-duplicate",
        f"{LINES_NAMESPACE}/line-filtered:global_duplicate": (
            f"{LINES_NAMESPACE}/filtered-lines-duplicate"
        ),
        f"{LINES_NAMESPACE}/filtered:too_few_sentences": (
            f"{LINES_NAMESPACE}/filtered-doc-toofewsentences"
        ),
        f"{LINES_NAMESPACE}/line-passed": None,
        f"{LINES_NAMESPACE}/passed": None,
    },
    "1.0.0": {
        f"{URL_NAMESPACE}/passed": "dedupe-urls/unique-url",
        f"{URL_NAMESPACE}/filtered": "dedupe-urls/filtered-url-duplicate",
        f"{WINDOWS_NAMESPACE}/{EMITTED_WINDOW_DUPLICATE}": (
            f"{WINDOWS_NAMESPACE}/emitted-sentences-duplicate"
        ),
        f"{WINDOWS_NAMESPACE}/{SENTENCE_DUPLICATE}": (
            f"{WINDOWS_NAMESPACE}/filtered-sentence-duplicate"
        ),
        f"{WINDOWS_NAMESPACE}/filtered:too_few_sentences": (
            f"{WINDOWS_NAMESPACE}/filtered-doc-toofewsentences"
        ),
        f"{WINDOWS_NAMESPACE}/passed": None,
    },
}


class Sentences(Protocol):
    """What dedup needs of a sentence splitter (``filters.sentences.SentenceSplitter``)."""

    def split(self, text: str) -> list[str]: ...

    def count(self, text: str) -> int: ...

    def at_least(self, text: str, n: int) -> bool: ...


class Vote(NamedTuple):
    """One page's claim on a dedup key, and the reduction's accumulator.

    Attributes:
        owner: md5 digest of the owner URL; the smallest wins the key.
        owner_count: occurrences of the key in the winning page (1.0.0 needs it: a window repeated
            in the winner is deleted there too).
        total: occurrences across all pages (the legacy ``emitted-*-duplicate`` counters).
    """

    owner: bytes
    owner_count: int
    total: int


class DedupResult(NamedTuple):
    """The page text after dedup (``None``: page dropped), why, and the counters it bumped."""

    text: str | None
    reason: str | None
    counters: dict[str, int]


# --------------------------------------------------------------------------------------------
# URL dedup
# --------------------------------------------------------------------------------------------


def url_dedup_rank(page: Page, rules: C4Rules) -> tuple[str, int, int]:
    """A sort key such that the page kept among same-``normalized_url`` pages is ``max(rank)``.

    3.1.0 ``select_newest_page`` keeps the largest ``timestamp`` string and, on a tie, the page seen
    first; "first" is fixed as input order ``(file_index, record_offset)``, hence the negations.
    2.x/1.0.0 ``dedupe_urls`` keeps the last value iterated, fixed (as the legacy harness does) to
    the last page in input order.
    """
    if rules.url_dedup_rule == "newest":
        return (page.timestamp, -page.file_index, -page.record_offset)
    return ("", page.file_index, page.record_offset)


def url_dedup_counters(n_pages: int) -> dict[str, int]:
    """``duplicate-url-filter`` counters of one normalized URL seen ``n_pages`` times."""
    return {f"{URL_NAMESPACE}/passed": 1, f"{URL_NAMESPACE}/filtered": n_pages - 1}


def select_url_copy(pages: Iterable[Page], rules: C4Rules) -> Page:
    """The page kept among the copies of one normalized URL (a reduction: ``max`` of the rank)."""
    return max(pages, key=lambda p: url_dedup_rank(p, rules))


# --------------------------------------------------------------------------------------------
# keys and votes
# --------------------------------------------------------------------------------------------


def line_hash(line: str, rules: C4Rules) -> bytes:
    """The 16-byte md5 a line is deduplicated by.

    3.x: ``md5(line.strip().lower())`` (Unicode strip and lower). 2.2.0 hashes the UTF-8 bytes
    stripped and lowercased as bytes, so only ASCII is folded (``É`` and ``é`` stay different).
    """
    if rules.line_hash == "bytes":
        return hashlib.md5(line.encode("utf-8").strip().lower()).digest()
    return hashlib.md5(line.strip().lower().encode("utf-8")).digest()


def window_hash(window: Iterable[str]) -> bytes:
    """The 16-byte md5 of a window of lowercased sentences (none contains a newline)."""
    return hashlib.md5("\n".join(window).encode("utf-8")).digest()


def owner_url(page: Page, rules: C4Rules) -> str:
    """The URL that competes for lines: raw in 3.x, the normalized pipeline key in 2.x and 1.0.0."""
    return page.url if rules.dedup_url_key == "url" else page.normalized_url


def owner_digest(page: Page, rules: C4Rules) -> bytes:
    """md5 digest of the owner URL; bytes order equals TFDS's order of hex digests."""
    return hashlib.md5(owner_url(page, rules).encode("utf-8")).digest()


def votes_for(keys: Iterable[bytes], owner: bytes) -> Iterator[tuple[bytes, Vote]]:
    """One ``(key, Vote)`` per distinct key, counting its occurrences among ``keys``."""
    for key, n in Counter(keys).items():  # counted in C, in first-seen order
        yield key, Vote(owner, n, n)


def page_line_hashes(text: str, rules: C4Rules) -> list[bytes]:
    """The dedup key of every ``\\n``-separated line of a page, in order (``line_hash``).

    This runs for every line of the crawl, and again in Beam's apply step for a page that loses a
    line (``whole_if_owned``): compiled where ``filters._native`` is built
    (``filters/kernels.py``), else ``_line_hashes_py``.
    """
    bytes_rule = rules.line_hash == "bytes"
    if native is None:
        return _line_hashes_py(text, bytes_rule)
    return native.line_hashes(text, bytes_rule)


def _line_hashes_py(text: str, bytes_rule: bool) -> list[bytes]:
    """``line_hash`` of every line, inlined: the specification of ``filters._native.line_hashes``.

    ``bytes_rule``: 2.2.0's ``line_hash == "bytes"``.
    """
    md5 = hashlib.md5
    lines = text.split("\n")
    if bytes_rule:
        return [md5(line.encode("utf-8").strip().lower()).digest() for line in lines]
    return [md5(line.strip().lower().encode("utf-8")).digest() for line in lines]


def emit_line_keys(page: Page, rules: C4Rules) -> Iterator[tuple[bytes, Vote]]:
    """One ``(line_hash, Vote)`` per distinct line of the page (lines are split on ``\\n``)."""
    return votes_for(page_line_hashes(page.text, rules), owner_digest(page, rules))


def whole_if_owned(n_lines: int, n_distinct: int, rules: C4Rules) -> bool:
    """Whether a page of ``n_lines`` lines and ``n_distinct`` distinct line keys keeps its text
    as it is when it owns every one of its keys: 3.x also drops a line repeated within the page
    (``remove_lines``), 2.x does not. Such a page's ``remove_lines`` is ``remove_no_lines``.
    """
    return not rules.local_line_dedup or n_lines == n_distinct


def _line_windows(sentences: list[str]) -> Iterator[tuple[int, tuple[str, ...]]]:
    """1.0.0's sliding windows over one line's lowercased sentences, with their start index.

    A line of fewer than ``SENTENCE_WINDOW`` sentences is a single window of all of them.
    """
    n = len(sentences)
    for i in range(n - min(n, SENTENCE_WINDOW) + 1):
        yield i, tuple(sentences[i : i + SENTENCE_WINDOW])


def split_lines(text: str, sentences: Sentences) -> list[list[str]]:
    """The punkt sentences of each line (``splitlines``), as 1.0.0 splits a page."""
    return [sentences.split(line) for line in text.splitlines()]


def page_window_hashes(
    text: str, sentences: Sentences, lines: list[list[str]] | None = None
) -> list[bytes]:
    """Keys of the windows 1.0.0 emits for a page, skipping windows of bare end marks.

    ``lines`` is ``split_lines(text, sentences)`` if the caller already has it.
    """
    keys = []
    for line_sentences in split_lines(text, sentences) if lines is None else lines:
        lowered = [s.lower() for s in line_sentences]
        for _, window in _line_windows(lowered):
            if not all(s in _END_MARKS for s in window):
                keys.append(window_hash(window))
    return keys


def emit_window_keys(
    page: Page, rules: C4Rules, sentences: Sentences
) -> Iterator[tuple[bytes, Vote]]:
    """One ``(window_hash, Vote)`` per distinct three-sentence window of the page (1.0.0)."""
    return votes_for(page_window_hashes(page.text, sentences), owner_digest(page, rules))


def merge_votes(a: Vote, b: Vote) -> Vote:
    """Associative, commutative reduction: the smallest owner wins; occurrences add up."""
    if a.owner == b.owner:
        return Vote(a.owner, a.owner_count + b.owner_count, a.total + b.total)
    winner = a if a.owner < b.owner else b
    return Vote(winner.owner, winner.owner_count, a.total + b.total)


def combine_votes(votes: Iterable[Vote]) -> Vote:
    """``merge_votes`` folded over every vote of one key (at least one)."""
    it = iter(votes)
    acc = next(it)
    for v in it:
        acc = merge_votes(acc, v)
    return acc


def loses(combined: Vote, owner: bytes, rules: C4Rules) -> bool:
    """Whether the page ``owner`` (which voted for the key) must delete it, given the combined vote.

    Lines: every page but the winner. 1.0.0 windows: also the winner when the window occurs more
    than once in it (its ``skip_n=1`` spares one occurrence, not one page).
    """
    if owner != combined.owner:
        return True
    return rules.dedup_unit == "span" and combined.owner_count > 1


def lost_by(key: bytes, votes: Iterable[Vote], rules: C4Rules) -> Iterator[tuple[bytes, bytes]]:
    """``(owner, key)`` for every owner that loses ``key``: the shuffle to the pages (Beam).

    ``votes`` are the per-page votes of one key (a GroupByKey's values); it is iterated twice.
    """
    votes = list(votes)
    combined = combine_votes(votes)
    for v in votes:
        if loses(combined, v.owner, rules):
            yield v.owner, key


def key_counters(combined: Vote, rules: C4Rules) -> dict[str, int]:
    """The legacy per-key counters of the reduction step (nothing in 3.x)."""
    if rules.major >= 3:
        return {}
    if rules.dedup_unit == "span":
        n = 1 if combined.total > 1 else 0
        return {f"{WINDOWS_NAMESPACE}/{EMITTED_WINDOW_DUPLICATE}": n}
    return {f"{LINES_NAMESPACE}/{EMITTED_LINE_DUPLICATE}": combined.total - 1}


# --------------------------------------------------------------------------------------------
# application per page
# --------------------------------------------------------------------------------------------


def _bump(counters: dict[str, int], name: str, amount: int = 1) -> None:
    counters[name] = counters.get(name, 0) + amount


def _has_sentences(sentences: Sentences, text: str, n: int) -> bool:
    """``sentences.count(text) >= n``, stopping after ``n`` sentences.

    Punkt finds sentences lazily from the start, so the answer is the same; on a long page only
    its first sentences are tokenized.
    """
    return sentences.at_least(text, n)


def remove_lines(
    text: str,
    lost: Collection[bytes],
    rules: C4Rules,
    sentences: Sentences,
    hashes: list[bytes] | None = None,
) -> DedupResult:
    """Drop the lines of a page whose hash it lost, then re-check the page (C4_SPEC §1.5).

    3.x also drops a line already kept earlier in the same page (``local_duplicate``), drops an
    empty result, then one with fewer than ``min_num_sentences`` punkt sentences (whole text).
    2.x keeps within-page repeats and only applies the sentence minimum.

    Args:
        text: the page text (lines joined with ``\\n``).
        lost: line hashes this page does not own (``lost_by`` / ``loses``).
        rules: the version's rules.
        sentences: the punkt splitter.
        hashes: ``page_line_hashes(text, rules)`` if the caller already has them.

    Returns:
        The new text or ``None``, the ``filtered:`` reason, and ``dedupe-lines`` counters.
    """
    ns = LINES_NAMESPACE
    counters: dict[str, int] = {}
    lines = text.split("\n")
    if hashes is None:
        hashes = page_line_hashes(text, rules)
    local = rules.local_line_dedup
    kept: list[str] = []
    seen: set[bytes] = set()
    n_global = n_local = 0
    for line, h in zip(lines, hashes, strict=True):
        if h in lost:
            n_global += 1
        elif local and h in seen:
            n_local += 1
        else:
            kept.append(line)
            if local:
                seen.add(h)
    if n_global:
        _bump(counters, f"{ns}/line-filtered:global_duplicate", n_global)
    if n_local:
        _bump(counters, f"{ns}/line-filtered:local_duplicate", n_local)
    return _lines_checked("\n".join(kept), len(kept), counters, rules, sentences)


def remove_no_lines(text: str, rules: C4Rules, sentences: Sentences) -> DedupResult:
    """``remove_lines(text, (), rules, sentences)`` for a page ``whole_if_owned`` says loses
    nothing (no line lost, none repeated within it under 3.x): the same result, without hashing
    or splitting the text (``pipeline/transforms/dedup.py`` knows this from the votes)."""
    return _lines_checked(text, text.count("\n") + 1, {}, rules, sentences)


def _lines_checked(
    new_text: str, n_kept: int, counters: dict[str, int], rules: C4Rules, sentences: Sentences
) -> DedupResult:
    """``remove_lines``' end: the page of the ``n_kept`` lines kept, ``new_text``, counted and
    re-checked (empty, then too few sentences)."""
    ns = LINES_NAMESPACE
    local = rules.local_line_dedup
    if n_kept:
        _bump(counters, f"{ns}/line-passed", n_kept)
    if local and not new_text:
        _bump(counters, f"{ns}/filtered:empty")
        return DedupResult(None, "filtered:empty", counters)
    minimum = rules.min_num_sentences
    # Punkt runs on the whole text here (per line in clean_page): sentences can join across
    # lines, so a page clean_page passed may still fail, even when it lost no line.
    if minimum and not _has_sentences(sentences, new_text, minimum):
        _bump(counters, f"{ns}/filtered:too_few_sentences")
        return DedupResult(None, "filtered:too_few_sentences", counters)
    _bump(counters, f"{ns}/passed")
    return DedupResult(new_text, None, counters)


def remove_windows(
    text: str,
    lost: Collection[bytes],
    rules: C4Rules,
    sentences: Sentences,
    lines: list[list[str]] | None = None,
) -> DedupResult:
    """1.0.0: delete every sentence covered by a lost window, re-join, re-check (C4_SPEC §1.5).

    Surviving sentences of a line are joined with one space, lines left empty vanish, and the page
    is dropped if fewer than ``min_num_sentences`` sentences remain (counted, not re-split).
    ``lines`` is ``split_lines(text, sentences)`` if the caller already has it.
    """
    ns = WINDOWS_NAMESPACE
    counters: dict[str, int] = {}
    new_lines: list[str] = []
    n_kept = n_removed = 0
    for line_sentences in split_lines(text, sentences) if lines is None else lines:
        lowered = [s.lower() for s in line_sentences]
        removed: set[int] = set()
        for i, window in _line_windows(lowered):
            if window_hash(window) in lost:
                removed.update(range(i, i + len(window)))
        n_removed += len(removed)
        survivors = [s for i, s in enumerate(line_sentences) if i not in removed]
        if survivors:
            n_kept += len(survivors)
            new_lines.append(" ".join(survivors))
    if n_removed:
        _bump(counters, f"{ns}/{SENTENCE_DUPLICATE}", n_removed)
    if n_kept < rules.min_num_sentences:
        _bump(counters, f"{ns}/filtered:too_few_sentences")
        return DedupResult(None, "filtered:too_few_sentences", counters)
    _bump(counters, f"{ns}/passed")
    return DedupResult("\n".join(new_lines), None, counters)


def to_legacy_counters(counters: dict[str, int], version: str) -> dict[str, int]:
    """Rename our dedup counters to a legacy version's names; unmapped names pass through."""
    table = LEGACY_COUNTER_NAMES.get(version, {})
    out: dict[str, int] = {}
    for name, value in counters.items():
        legacy = table.get(name, name)
        if legacy is not None:
            out[legacy] = out.get(legacy, 0) + value
    return out
