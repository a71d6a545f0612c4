"""C4's line cleaning (TFDS ``clean_page``) for 3.1.0, 2.2.0 and 1.0.0 (C4_SPEC §1.4).

Each line of ``text.splitlines()`` goes through the rules in TFDS's order; the first rule that
fires decides, and its counter is the one TFDS bumps. Three rules kill the whole page (lorem ipsum,
``{``, and 2.x/1.0.0's per-line bad words), but only on a line that survived the rules before
them; lines after a kill are never looked at, so they are not counted.

Speed without changing an answer:
- a word longer than 1000 characters needs a line longer than 1000, so shorter lines skip the split;
- citations contain ``[``, so lines without one skip the regex;
- most web lines have no end mark and leave at the ``endswith`` test before anything costly;
- the sentence count is only compared with 3, and punkt gives every kept line (5+ words) at least
  one sentence: punkt runs only on pages that keep fewer than 3 lines.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import NamedTuple, Protocol

from filters.kernels import native
from filters.spec import TFDS_MIN_NUM_SENTENCES, TFDS_MIN_WORDS_PER_LINE, C4Rules

NAMESPACE = "clean-page"

END_MARKS = (".", "?", "!", '"')  # ASCII only: curly quotes and U+2026 are not end marks.
ELLIPSIS = "..."
POLICY_SUBSTRINGS = (
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
)
# ``\d*`` also matches ``[]``; the line is not re-stripped after removal.
CITATION_RE = re.compile(r"\[\d*\]|\[edit\]|\[citation needed\]")
_END_MARK_SET = frozenset(END_MARKS)  # ``line[-1:] in`` it is ``line.endswith(END_MARKS)``
# The policy substrings that mention cookies, looked for only in lines that contain "cookie".
_COOKIE_POLICY = tuple(p for p in POLICY_SUBSTRINGS if "cookie" in p)

# Our names are TFDS 3.1.0's; the old versions counted the same events under these names.
_LEGACY_2_2_0 = {
    "line-filtered:too_long_word": "lines-with-too-long-word",
    "line-filtered:no_endmark": "lines-no-endmark",
    "line-filtered:too_short": "lines-too-short",
    "line-filtered:javascript": "lines-javascript",
    "line-filtered:policy": "lines-policy",
    "line-passed": "lines-valid",
    "filtered:loremipsum": "filtered-page-loremipsum",
    "filtered:squigglybracket": "filtered-page-squigglybracket",
    "filtered:badword": "filtered-page-badword",
    "filtered:too_few_sentences": "filtered-page-toofewsentences",
    "passed": "emitted-clean-pages",
}
_LEGACY_1_0_0 = {
    **{k: v for k, v in _LEGACY_2_2_0.items() if k != "line-filtered:too_long_word"},
    "filtered:loremipsum": "filtered-url-loremipsum",
    "filtered:squigglybracket": "filtered-url-squigglybracket",
    "filtered:badword": "filtered-url-badword",
    "filtered:too_few_sentences": "filtered-url-toofewsentences",
}
LEGACY_COUNTER_NAMES: dict[str, dict[str, str]] = {
    "3.1.0": {name: name for name in _LEGACY_2_2_0 if name != "filtered:badword"},
    "2.2.0": _LEGACY_2_2_0,
    "1.0.0": _LEGACY_1_0_0,
}


class SentenceCounter(Protocol):
    """What ``clean_page`` needs from punkt (``filters.sentences.SentenceSplitter``).

    ``count`` must be at least 1 for a text with a non-space character, as punkt's is, and
    ``at_least(text, n)`` must be ``count(text) >= n``.
    """

    def count(self, text: str) -> int: ...

    def at_least(self, text: str, n: int) -> bool: ...


class LineMatcher(Protocol):
    """What ``clean_page`` needs from 2.x's bad-word rule (``filters.badwords.LineBadwords``)."""

    def matches(self, line_lower: str) -> bool: ...


class CleanResult(NamedTuple):
    """The cleaned text, or ``None`` and the page-level reason it was dropped.

    ``reason`` is the page counter (``passed`` when kept); ``counters`` holds every ``clean-page``
    counter TFDS 3.1.0 would bump for this page (map them with ``LEGACY_COUNTER_NAMES``).
    """

    text: str | None
    reason: str | None
    counters: dict[str, int]


def _result(text: str | None, reason: str, line_counts: tuple[int, ...]) -> CleanResult:
    """Pack the per-line tallies and the page reason into TFDS-named counters (zeros omitted)."""
    counters = {name: n for name, n in zip(_LINE_COUNTERS, line_counts, strict=True) if n}
    counters[reason] = 1
    return CleanResult(text, reason, counters)


# The order of the tallies ``clean_page`` hands to ``_result``.
_LINE_COUNTERS = (
    "line-filtered:too_long_word",
    "line-filtered:no_endmark",
    "line-filtered:too_short",
    "line-filtered:javascript",
    "line-filtered:policy",
    "line-passed",
)


def clean_page(
    text: str,
    rules: C4Rules,
    sentences: SentenceCounter,
    badwords_line_matcher: LineMatcher | None = None,
) -> CleanResult:
    """Clean one page with the line rules of ``rules.version``.

    Args:
        text: the page text as parsed from WET.
        rules: picks the version's rules (``max_word_length`` is None in 1.0.0).
        sentences: punkt, from ``filters.sentences.load_punkt()``.
        badwords_line_matcher: 2.x/1.0.0's ``LineBadwords``; ignored unless
            ``rules.badwords_in_clean`` (3.x checks bad words on the page later).

    Returns:
        ``CleanResult(text, "passed", counters)`` for a kept page, else
        ``CleanResult(None, "filtered:<reason>", counters)``.
    """
    # 1.0.0 has no word-length rule: no line is longer than sys.maxsize.
    max_word_length = sys.maxsize if rules.max_word_length is None else rules.max_word_length
    badwords = None
    if rules.badwords_in_clean and badwords_line_matcher is not None:
        badwords = badwords_line_matcher.matches
    kill, kept, *line_counts = clean_lines(text, max_word_length, badwords, CITATION_RE.sub)
    tallies = (*line_counts, len(kept))
    if kill is not None:
        return _result(None, kill, tallies)
    if not _has_min_sentences(kept, sentences):
        return _result(None, "filtered:too_few_sentences", tallies)
    return _result("\n".join(kept).strip(), "passed", tallies)


def _clean_lines(
    text: str,
    max_word_length: int,
    badwords: Callable[[str], bool] | None,
    citations: Callable[[str, str], str],
) -> tuple[str | None, list[str], int, int, int, int, int]:
    """The line rules of ``clean_page``: the specification of ``filters._native.clean_lines``.

    Args:
        text: the page text.
        max_word_length: a line with a longer word is dropped.
        badwords: 2.x's per-line matcher on the lowercase line, or None.
        citations: ``CITATION_RE.sub``.

    Returns:
        ``(kill, kept, too_long, no_endmark, too_short, javascript, policy)``: the page counter of
        a rule that killed the page (else None), the kept lines (up to the kill), and the tallies
        of the dropped lines per rule.
    """
    # Hot loop over every line of the crawl: plain local tallies and locally bound callables.
    too_long = no_endmark = too_short = javascript = policy = 0
    kept: list[str] = []
    keep = kept.append
    end_marks = _END_MARK_SET

    for raw in text.splitlines():
        line = raw.strip()
        if len(line) > max_word_length and max(map(len, line.split())) > max_word_length:
            too_long += 1
            continue
        if "[" in line:
            line = citations("", line)
        if line[-1:] not in end_marks or line.endswith(ELLIPSIS):
            no_endmark += 1
            continue
        # At most 5 pieces: the count is only compared with 5 (the last piece is the rest).
        if len(line.split(None, TFDS_MIN_WORDS_PER_LINE - 1)) < TFDS_MIN_WORDS_PER_LINE:
            too_short += 1
            continue
        line_lower = line.lower()
        kill = None
        if "lorem ipsum" in line_lower:
            kill = "filtered:loremipsum"
        elif "javascript" in line_lower:
            javascript += 1
            continue
        elif "{" in line:
            kill = "filtered:squigglybracket"
        elif (
            "terms of use" in line_lower
            or "privacy policy" in line_lower
            or ("cookie" in line_lower and any(p in line_lower for p in _COOKIE_POLICY))
        ):
            policy += 1
            continue
        elif badwords is not None and badwords(line_lower):
            kill = "filtered:badword"
        if kill is not None:
            return kill, kept, too_long, no_endmark, too_short, javascript, policy
        keep(line)
    return None, kept, too_long, no_endmark, too_short, javascript, policy


# The compiled twin where it is built (filters/kernels.py); the same answers either way.
clean_lines = _clean_lines if native is None else native.clean_lines


def _has_min_sentences(kept: list[str], sentences: SentenceCounter) -> bool:
    """Whether the kept lines hold ``TFDS_MIN_NUM_SENTENCES`` (3) punkt sentences, summed per line.

    Punkt finds at least one sentence in any text with a non-space character, and every kept
    line has ``TFDS_MIN_WORDS_PER_LINE`` words: 3 kept lines make 3 sentences without punkt, and
    with fewer lines only the sentences beyond the first of each line are missing.
    """
    needed = TFDS_MIN_NUM_SENTENCES
    if len(kept) >= needed:
        return True
    if len(kept) == 1:
        return sentences.at_least(kept[0], needed)
    if len(kept) == needed - 1:  # one line with a second sentence suffices
        return any(sentences.at_least(line, 2) for line in kept)
    return sum(sentences.count(line) for line in kept) >= needed  # no line kept
