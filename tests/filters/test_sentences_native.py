"""``filters._native.punkt_at_least`` against its specification, punkt's own generators.

``SentenceSplitter.at_least`` runs the kernel; ``SentenceSplitter._at_least_py`` (punkt's
``span_tokenize``, stopped after ``n`` sentences) is what it must equal. Case by case: every
real WET line, every real C4 page and line, and the pages of the tests' corpus, for ``n`` up to
one past the page's sentence count; then every code point where the kernel classifies
characters (regex's ``\\s``, punkt's NonWord and closing characters); then a fuzz of texts built
from the characters that matter to punkt (end marks, closing quotes and brackets, every kind of
whitespace, ``--``, abbreviations, initials, numbers). The patterns the kernel implements are
pinned, so an NLTK that changes them fails here first.
"""

from __future__ import annotations

import gzip
import json
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from filters.sentences import SentenceSplitter, _UntimedLanguageVars, load_punkt
from tests.conftest import C4_SAMPLE, REAL_WET
from tests.filters.test_native import _native


@pytest.fixture(scope="module")
def native() -> Any:
    return _native()


@pytest.fixture(scope="module")
def splitter() -> SentenceSplitter:
    return load_punkt()


def _kernel(native: Any, splitter: SentenceSplitter, text: str, n: int) -> bool:
    return bool(native.punkt_at_least(text, n, *splitter._native_args))


def _assert_same(native: Any, splitter: SentenceSplitter, text: str) -> None:
    count = splitter.count(text)
    for n in sorted({0, 1, 2, 3, count, count + 1}):
        expected = splitter._at_least_py(text, n)
        assert expected == (count >= n)
        assert _kernel(native, splitter, text, n) == expected, (n, text)


# The patterns punkt_at_least implements (filters/_native.c), as NLTK states them.
PERIOD_CONTEXT = r"""
        [\.\?!]             # a potential sentence ending
        (?=(?P<after_tok>
            %(NonWord)s              # either other punctuation
            |
            \s+(?P<next_tok>\S+)     # or whitespace and some other token
        ))"""
REALIGNMENT = r"""["\')\]}\u2018\u2019\u201c\u201d\xab\xbb]+?(?:\s+|(?=--)|$)"""
NONWORD = set(")\";}]*:@'({[\u2018\u2019\u201c\u201d\xab\xbb!?")
CLOSERS = set("\"')]}\u2018\u2019\u201c\u201d\xab\xbb")


def test_the_kernels_patterns_are_punkts():
    lang_vars = _UntimedLanguageVars()
    # NonWord's characters come from a set (their order varies with the hash seed): they are
    # checked one code point at a time below.
    nonword = lang_vars._re_non_word_chars
    assert lang_vars.period_context_re().pattern == PERIOD_CONTEXT % {"NonWord": nonword}
    assert lang_vars.re_boundary_realignment.pattern == REALIGNMENT
    assert lang_vars.sent_end_chars == (".", "?", "!")


def _code_points() -> list[str]:
    return [chr(c) for c in range(sys.maxunicode + 1)]


def test_every_code_point_classified_as_punkts_regexes():
    """The kernel's classes (REGEX_SPACE, punkt_nonword, punkt_closer) on every code point."""
    context = _UntimedLanguageVars().period_context_re()
    realign = _UntimedLanguageVars().re_boundary_realignment
    for ch in _code_points():
        regex_space = ch.isspace() and not "\x1c" <= ch <= "\x1f"
        assert (context.match("." + ch) is not None) == (ch in NONWORD), hex(ord(ch))
        # after a non-NonWord character: a match iff it is whitespace followed by a token
        if ch not in NONWORD:
            assert (context.match("." + ch + "x") is not None) == regex_space, hex(ord(ch))
        assert (realign.match(ch) is not None) == (ch in CLOSERS), hex(ord(ch))
        if ch in CLOSERS:
            assert (realign.match(")" + ch + "x") is not None) == regex_space or ch in CLOSERS


def test_code_points_as_a_whole_text(native: Any, splitter: SentenceSplitter):
    # Every class the kernel tests lies below U+3100 (the classification test covers them all);
    # above, a sample of letters and others (Py_UNICODE_ISALPHA is str.isalpha itself).
    for ch in (*_code_points()[:0x3100], *_code_points()[0x3100::61]):
        for text in (f"One two. {ch} Three.", f"A b.{ch}C d. E f"):
            assert _kernel(native, splitter, text, 2) == splitter._at_least_py(text, 2), text


def test_a_negative_n_raises_as_islice_does(native: Any, splitter: SentenceSplitter):
    with pytest.raises(ValueError):
        splitter._at_least_py("One. Two.", -1)
    with pytest.raises(ValueError):
        _kernel(native, splitter, "One. Two.", -1)


def _wet_lines() -> list[str]:
    lines: list[str] = []
    for path in REAL_WET:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            lines.extend(line.rstrip("\n") for line in f)
    return lines


def _c4_pages() -> list[str]:
    with gzip.open(C4_SAMPLE, "rt", encoding="utf-8") as f:
        return [json.loads(row)["text"] for row in f]


def test_every_real_line(native: Any, splitter: SentenceSplitter):
    lines = _wet_lines()
    assert len(lines) > 5_000
    for line in lines:
        _assert_same(native, splitter, line)


def test_every_real_page_and_its_lines(native: Any, splitter: SentenceSplitter):
    pages = _c4_pages()
    assert len(pages) >= 1_000
    for page in pages:
        _assert_same(native, splitter, page)
        for line in page.splitlines():
            _assert_same(native, splitter, line)


def test_whole_wet_records(native: Any, splitter: SentenceSplitter):
    """Whole raw records: long texts, every script, markup left in."""
    for path in REAL_WET:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for record in f.read().split("WARC/1.0"):
                _assert_same(native, splitter, record)


def test_the_splitter_runs_the_kernel(native: Any, splitter: SentenceSplitter):
    calls: list[str] = []
    decide = splitter._native_args[0]

    def spy(context: str) -> bool:
        calls.append(context)
        return bool(decide(context))

    args = (spy, *splitter._native_args[1:])
    # Plain contexts are decided in C; the others are called back with punkt's context.
    assert native.punkt_at_least("Plain words. More words. Last one.", 3, *args)
    assert calls == []
    assert not native.punkt_at_least("He met Dr. Smith today.", 2, *args)
    assert calls == ["Dr. Smith"]
    assert splitter.at_least("One. Two. Three.", 3) == splitter._at_least_py("One. Two. Three.", 3)


def test_a_failing_callback_raises(native: Any, splitter: SentenceSplitter):
    def fail(context: str) -> bool:
        raise ValueError(context)

    with pytest.raises(ValueError, match=r"Mr\. Smith"):
        native.punkt_at_least("Hi Mr. Smith. Bye.", 2, fail, *splitter._native_args[1:])


_PIECES = st.sampled_from(
    [
        *".?!",
        ".",
        ".",
        *"\"')]}\u2018\u2019\u201c\u201d\xab\xbb([{;:*@,-",
        "--",
        "...",
        " ",
        " ",
        " ",
        "\n",
        "\n\n",
        "\t",
        "\r",
        "\x0b",
        "\x0c",
        "\x1c",
        "\x1f",
        "\x85",
        "\xa0",
        "\u2028",
        "\u3000",
        "word",
        "Word",
        "The",
        "I",
        "A",
        "b",
        "Mr",
        "Dr",
        "U.S",
        "e.g",
        "etc",
        "no",
        "vs",
        "3",
        "1st",
        "2012",
        "x-ray",
        "ΟΔΟΣ",
        "Σ",
        "İ",
        "ǅ",
        "日本",
        "é",
    ]
)


@settings(max_examples=3000, deadline=None)
@given(st.lists(_PIECES, max_size=40), st.integers(min_value=0, max_value=6))
def test_fuzz(native: Any, splitter: SentenceSplitter, pieces: list[str], n: int) -> None:
    text = "".join(pieces)
    assert _kernel(native, splitter, text, n) == splitter._at_least_py(text, n), text


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60), st.integers(min_value=0, max_value=4))
def test_fuzz_any_text(native: Any, splitter: SentenceSplitter, text: str, n: int) -> None:
    assert _kernel(native, splitter, text, n) == splitter._at_least_py(text, n), text
