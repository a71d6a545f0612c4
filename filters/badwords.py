"""The LDNOOBW bad-word rules of each C4 version (C4_SPEC §1.7).

Two different rules share the lists:

- 2.2.0 and 1.0.0 (``LineBadwords``): inside ``clean_page``, each kept line's lowercase text is
  searched with ``[^a-z](w1|w2|...)[^a-z]``, words unescaped; one hit drops the page. Only the
  ``en`` list at LDNOOBW commit 25e679f is used.
- 3.x (``PageBadwords``): after dedup and language ID, the whole lowercase page is searched with a
  per-language regex (words escaped): plain substrings for ja/th/zh, ``\\W``-flanked words for the
  rest. A hit drops the page, except that a fraction of hit pages chosen by md5 of the normalized
  URL is kept (mC4's soft filter).

The lists ship as package data in ``filters/data/ldnoobw/<commit>/<lang>`` (CC-BY-4.0, unmodified).
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

from filters.kernels import native

LDNOOBW_DIR = Path(__file__).resolve().parent / "data" / "ldnoobw"
# The C4 pin: TFDS's original ``_BADWORDS_URL`` (all versions use it for ``en``).
EN_COMMIT = "25e679f03d96baa721cde20db9944649e8d0a844"
# TFDS 3.x ``_BADWORDS_URL`` for every language but ``en``.
OTHER_COMMIT = "5faf2ba42d7b1c0977169ec3611df25a3c08eb13"
# TFDS 3.x ``_BADWORDS_LANGS``: file names at OTHER_COMMIT (``en`` comes from EN_COMMIT instead).
BADWORDS_FILES = (
    "ar", "cs", "da", "de", "en", "eo", "es", "fa", "fi", "fil", "fr", "fr-CA-u-sd-caqc", "hi",
    "hu", "it", "ja", "kab", "ko", "nl", "no", "pl", "pt", "ru", "sv", "th", "tlh", "tr", "zh",
)  # fmt: skip
# 3.1.0: common subwords of unspaced languages that would each drop >10% of that language.
ALLOWLIST: dict[str, frozenset[str]] = {
    "ja": frozenset({"sm", "グロ", "女の子"}),
    "zh": frozenset({"性"}),
}
# Languages written without spaces: any substring hit counts (``ja`` joined in 3.1.0).
UNSPACED_LANGUAGES = frozenset({"ja", "th", "zh"})

NAMESPACE = "badwords-filter"
# Characters that make an unescaped word more than a literal string.
_REGEX_SYNTAX = frozenset(".^$*+?{}[]\\|()")


def _commit_dir(commit: str) -> Path:
    """The data folder of a commit, given its full hash or a prefix of at least 7 digits."""
    for candidate in (EN_COMMIT, OTHER_COMMIT):
        if len(commit) >= 7 and candidate.startswith(commit.lower()):
            return LDNOOBW_DIR / candidate[:7]
    raise ValueError(f"no LDNOOBW lists shipped for commit {commit!r}")


def load_badwords(language: str, commit: str = EN_COMMIT) -> list[str]:
    """One LDNOOBW list as TFDS reads it: every line stripped, in file order.

    Args:
        language: the file name, such as ``en`` or ``fr-CA-u-sd-caqc``.
        commit: ``25e679f…`` (the C4 pin, 25 languages) or ``5faf2ba…`` (every language but ``en``).

    Raises:
        ValueError: no list is shipped for that commit; FileNotFoundError: nor for that language.
    """
    path = _commit_dir(commit) / language
    with path.open(encoding="utf-8") as f:
        return [line.strip() for line in f]


class LineBadwords:
    """2.2.0/1.0.0's per-line rule: ``[^a-z](w1|w2|...)[^a-z]`` on the lowercase line.

    Words are joined unescaped, as TFDS did; a word at the very start or end of the line has no
    flanking character and so never matches.
    """

    def __init__(self, words: Iterable[str]) -> None:
        words = list(words)
        if not words:
            raise ValueError("an empty list disables the rule; pass no matcher instead")
        if any(_REGEX_SYNTAX.intersection(w) for w in words):
            alternatives = "|".join(words)  # a word is a pattern here: keep TFDS's regex as is
        else:
            # Every word is a literal string (true of the C4 list), so the factored form
            # matches exactly the same lines, faster.
            alternatives = _trie_pattern(words)
        self._regex = re.compile(f"[^a-z](?:{alternatives})[^a-z]")

    @classmethod
    def for_c4(cls) -> LineBadwords:
        """The matcher 2.2.0 and 1.0.0 build: the ``en`` list at the C4 pin."""
        return cls(load_badwords("en", EN_COMMIT))

    def matches(self, line_lower: str) -> bool:
        """Whether an already-lowercased line holds a bad word."""
        return self._regex.search(line_lower) is not None


class BadwordsResult(NamedTuple):
    """What the 3.x page filter decided.

    ``reason`` is the ``badwords-filter`` counter (``passed``, ``filtered`` or ``soft-passed``);
    ``counters`` maps ``(namespace, name)`` to the increment, exactly the counters TFDS bumps.
    """

    keep: bool
    reason: str
    counters: dict[tuple[str, str], int]


def _trie_pattern(words: Iterable[str]) -> str:
    """An escaped regex for exactly the set ``words``, factored by common prefixes.

    It matches the same strings as TFDS's ``"|".join(re.escape(w) for w in words)``, so a search
    finds a hit exactly when TFDS's does (the order of alternatives cannot change whether a
    backtracking search succeeds), but ``re`` tries one branch per character instead of every
    word at every position: several times faster on long pages.
    """
    trie: dict[str, dict] = {}
    end = ""  # a key no character can be: marks where a word ends
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[end] = {}

    def pattern(node: dict[str, dict]) -> str:
        branches = [re.escape(c) + pattern(child) for c, child in sorted(node.items()) if c]
        if not branches:
            return ""
        if end in node:
            # A word ends here and longer ones go on: the rest is optional.
            return "(?:" + "|".join(branches) + ")?"
        return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"

    return pattern(trie)


def _compile(language: str, words: Iterable[str]) -> re.Pattern[str]:
    """TFDS's regex for ``language``, except that ``(?:\\W|^)`` becomes ``\\W``.

    Callers search ``" " + text`` instead of ``text`` for a spaced language: the space stands for
    ``^``, and a pattern that starts with a character class lets ``re`` skip from one non-word
    character to the next instead of trying the words at every position (1.6x faster on C4
    pages). Only ``is None`` is ever asked of the search, and that answer is TFDS's.
    """
    alternatives = _trie_pattern(words)
    if language in UNSPACED_LANGUAGES:
        return re.compile(alternatives)
    return re.compile(rf"\W(?:{alternatives})(?:\W|$)")


def _has_word_py(regex: re.Pattern[str], language: str, text: str) -> bool:
    """Whether ``_compile(language, words)`` finds a word in ``text``: the specification of
    ``filters._native.has_word`` (spaced languages)."""
    lowered = text.lower() if language in UNSPACED_LANGUAGES else " " + text.lower()
    return regex.search(lowered) is not None


def url_keeps_badword_page(normalized_url: str, filter_fraction: float) -> bool:
    """TFDS's soft filter: a hit page is kept iff ``md5(url) % denominator >= numerator``.

    ``numerator / denominator`` is ``filter_fraction`` as an exact binary fraction, so 1.0 keeps
    nothing and mC4's 0.999 keeps about one hit page in a thousand, the same ones on every run.
    """
    numerator, denominator = float.as_integer_ratio(filter_fraction)
    value = int(hashlib.md5(normalized_url.encode("utf-8")).hexdigest(), 16)
    return value % denominator >= numerator


class PageBadwords:
    """3.x's page-level filter over per-language lists."""

    def __init__(self, badwords: Mapping[str, Iterable[str]], filter_fraction: float = 1.0) -> None:
        """Compile one regex per language.

        Args:
            badwords: language key (the part of a language code before ``-``) to its words.
            filter_fraction: the share of hit pages to drop, in [0, 1].
        """
        if not 0.0 <= filter_fraction <= 1.0:
            raise ValueError(f"filter_fraction must be within [0, 1], not {filter_fraction}")
        # Compiled on first use: an English build needs one of the 28 (0.3 s saved per worker).
        self._words = {lang: tuple(words) for lang, words in badwords.items()}
        self._regexes: dict[str, re.Pattern[str]] = {}
        self._native: dict[str, object] = {}  # the compiled word lists (filters/kernels.py)
        self._lock = threading.Lock()
        self._filter_fraction = filter_fraction

    def _regex(self, lang: str) -> re.Pattern[str] | None:
        regex = self._regexes.get(lang)
        if regex is None and lang in self._words:
            with self._lock:  # DoFns may share one filter across threads
                regex = self._regexes.get(lang)
                if regex is None:
                    regex = self._regexes[lang] = _compile(lang, self._words[lang])
        return regex

    def _has_word(self, lang: str, text: str) -> bool | None:
        """Whether ``text`` holds a word of ``lang``'s list (None: ``lang`` has no list)."""
        if native is None or lang in UNSPACED_LANGUAGES:
            regex = self._regex(lang)
            return None if regex is None else _has_word_py(regex, lang, text)
        matcher = self._native.get(lang)
        if matcher is None:
            if lang not in self._words:
                return None
            with self._lock:
                matcher = self._native.get(lang)
                if matcher is None:
                    matcher = self._native[lang] = native.word_list(self._words[lang])
        return bool(native.has_word(matcher, text))

    @classmethod
    def for_c4(cls, filter_fraction: float = 1.0) -> PageBadwords:
        """The lists TFDS 3.1.0 builds: ``en`` at the C4 pin, the 27 others at 5faf2ba.

        ``fr-CA-u-sd-caqc`` is merged into ``fr``, and the ja/zh allowlists are removed.
        """
        merged: dict[str, set[str]] = {}
        for name in BADWORDS_FILES:
            words = load_badwords(name, EN_COMMIT if name == "en" else OTHER_COMMIT)
            merged.setdefault(name.split("-")[0], set()).update(words)
        for lang, allowed in ALLOWLIST.items():
            merged[lang] -= allowed
        return cls(merged, filter_fraction)

    @property
    def languages(self) -> frozenset[str]:
        """The language keys that have a list (pages in any other language pass)."""
        return frozenset(self._words)

    def decide(self, text: str, language: str, normalized_url: str) -> BadwordsResult:
        """Keep or drop one page, with TFDS's counters.

        Args:
            text: the page text after dedup.
            language: the page's language code; only the part before the first ``-`` is used.
            normalized_url: the page's ``normalize_url``, which picks the soft-kept pages.
        """
        lang = language.split("-")[0]
        hit = self._has_word(lang, text)
        per_lang = f"{NAMESPACE}-{lang}"
        if hit is None:
            return BadwordsResult(True, "passed", {(NAMESPACE, "passed"): 1})
        if not hit:
            return BadwordsResult(
                True, "passed", {(per_lang, "passed"): 1, (NAMESPACE, "passed"): 1}
            )
        if url_keeps_badword_page(normalized_url, self._filter_fraction):
            reason, keep = "soft-passed", True
        else:
            reason, keep = "filtered", False
        return BadwordsResult(keep, reason, {(NAMESPACE, reason): 1, (per_lang, reason): 1})
