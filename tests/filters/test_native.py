"""The compiled core (``filters._native``) against its specification, the pure-Python functions.

Case by case: every record the WET reader parses in the real files (tests/data/wet, edge cases
included) and every real C4 document (tests/data/c4) through both implementations of each
kernel, for every version's parameters (and the bad-word lists of every spaced language); then
every Unicode code point in the places where the kernels classify characters; then a
property-based fuzz of lines built from the characters that matter to the rules (line breaks,
whitespace, end marks, brackets, case-folding oddities, the needles, listed bad words) and of
made-up word lists. Results must be equal, exceptions of the same type.

Where ``filters._native`` is not built, the tests fail if this machine could have built it (a C
compiler and Python's headers: ``make setup`` builds it) and are skipped otherwise.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import shutil
import sys
import sysconfig
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from filters import clean, dedup, kernels, wet
from filters.badwords import UNSPACED_LANGUAGES, LineBadwords, PageBadwords, _compile, _has_word_py
from filters.sentences import load_punkt
from filters.spec import resolve_rules
from tests.conftest import C4_SAMPLE, EDGE_WET, REAL_WET


def can_compile() -> bool:
    """Whether this Python could build a C extension: a C compiler and ``Python.h``."""
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    headers = Path(sysconfig.get_paths()["include"]) / "Python.h"
    return shutil.which(compiler) is not None and headers.is_file()


def _native() -> Any:
    if kernels.native is not None:
        return kernels.native
    if os.environ.get(kernels.PURE_ENV, "") not in ("", "0"):
        pytest.skip(f"{kernels.PURE_ENV} is set: the pure path is forced")
    if can_compile():
        pytest.fail("filters._native is not built though it could be: run `make setup`")
    pytest.skip("no C compiler or Python headers here: the pure-Python core runs")


@pytest.fixture(scope="module")
def native() -> Any:
    return _native()


PUNKT = load_punkt()
LINE_BADWORDS = LineBadwords.for_c4().matches
SUB = clean.CITATION_RE.sub
# clean_lines' parameters of 3.x (word limit, no per-line bad words), 2.2.0 (both) and 1.0.0
# (no word limit), plus a tiny limit so the word-length rule fires often.
CLEAN_PARAMS: tuple[tuple[int, Callable[[str], bool] | None], ...] = (
    (1000, None),
    (1000, LINE_BADWORDS),
    (sys.maxsize, LINE_BADWORDS),
    (6, None),
)


def outcome(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)``, or the type of the exception it raised."""
    try:
        return fn(*args)
    except Exception as exc:  # compared by type: both implementations must fail alike
        return type(exc)


def check_clean(native: Any, text: str, params: tuple[tuple[int, Any], ...] = CLEAN_PARAMS) -> None:
    for max_word_length, badwords in params:
        got = outcome(native.clean_lines, text, max_word_length, badwords, SUB)
        want = outcome(clean._clean_lines, text, max_word_length, badwords, SUB)
        assert got == want, (text[:200], max_word_length, badwords is not None)


def check_hashes(native: Any, text: str) -> None:
    for bytes_rule in (False, True):
        got = outcome(native.line_hashes, text, bytes_rule)
        assert got == outcome(dedup._line_hashes_py, text, bytes_rule), (text[:200], bytes_rule)


def check_record(native: Any, record: str) -> None:
    got = outcome(native.split_wet_record, record, wet._METADATA_PREFIXES)
    assert got == outcome(wet._split_record_py, record), record[:200]


PAGE_WORDS = PageBadwords.for_c4()._words
SPACED = sorted(lang for lang in PAGE_WORDS if lang not in UNSPACED_LANGUAGES)


class WordLists:
    """Each spaced language's list compiled both ways: ``_compile``'s regex and ``word_list``."""

    def __init__(self, native: Any) -> None:
        self.native = native
        self.lists = {lang: native.word_list(PAGE_WORDS[lang]) for lang in SPACED}
        self.regexes = {lang: _compile(lang, PAGE_WORDS[lang]) for lang in SPACED}

    def check(self, text: str, languages: tuple[str, ...] | list[str] = ("en",)) -> None:
        for lang in languages:
            got = outcome(self.native.has_word, self.lists[lang], text)
            want = outcome(_has_word_py, self.regexes[lang], lang, text)
            assert got == want, (lang, text[:200])


@pytest.fixture(scope="module")
def words(native: Any) -> WordLists:
    return WordLists(native)


def check_all(native: Any, text: str, words: WordLists | None = None) -> None:
    check_record(native, text)
    check_clean(native, text)
    check_hashes(native, text)
    if words is not None:
        words.check(text, ("en", "ru", "ko"))


# --- every real record and document ---------------------------------------------------------


def real_record_bytes() -> Iterator[bytes]:
    """Every record the WET reader cuts out of the real files (edge cases included), as bytes:
    what the reader's one call per record (``wet._record_fields``) is given."""
    seen: list[bytes] = []
    fields = wet._record_fields

    def spy(buf: bytearray, end: int) -> Any:
        seen.append(bytes(buf[:end]))
        return fields(buf, end)

    rules = resolve_rules("en", "3.1.0")
    wet._record_fields = spy  # type: ignore[assignment]
    try:
        for path in (*REAL_WET, *EDGE_WET):
            for _ in wet.iter_wet_path(str(path), rules):
                pass
    finally:
        wet._record_fields = fields  # type: ignore[assignment]
    return iter(seen)


def real_records() -> Iterator[str]:
    """Every record string the WET reader parses in the real files, edge cases included (an
    invalid_utf8 record is never split, so it is left out)."""
    for data in real_record_bytes():
        with contextlib.suppress(UnicodeDecodeError):
            yield data.decode("utf-8")


def c4_documents() -> list[str]:
    with gzip.open(C4_SAMPLE, "rt", encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f]


def test_every_real_record_page_and_document(native, words):
    """Case by case on real data: records (split), their texts (clean, hashes) and what clean_page
    keeps of them (hashes: dedup's input), and the 1,000 real C4 documents."""
    records = list(real_records())
    assert len(records) > 300
    for record in records:
        check_record(native, record)
        _, text = wet._split_record_py(record)
        check_clean(native, text)
        check_hashes(native, text)
        cleaned = clean.clean_page(text, resolve_rules("en", "3.1.0"), PUNKT).text
        words.check(text)
        if cleaned is not None:
            check_hashes(native, cleaned)
    documents = c4_documents()
    assert len(documents) == 1000
    for i, document in enumerate(documents):
        check_clean(native, document)
        check_hashes(native, document)
        check_record(native, document)
        words.check(document, SPACED if i < 50 else ("en",))


# --- every code point -----------------------------------------------------------------------

CODE_POINTS = [cp for cp in range(0x110000) if not 0xD800 <= cp < 0xE000]


def chunks(size: int = 8192) -> Iterator[list[str]]:
    for at in range(0, len(CODE_POINTS), size):
        yield [chr(cp) for cp in CODE_POINTS[at : at + size]]


def test_lowercase_premise():
    """The code points whose ``str.lower()`` holds ASCII, which clean_lines maps by hand."""
    found = [cp for cp in range(128, 0x110000) if any(ord(c) < 128 for c in chr(cp).lower())]
    assert found == [0x130, 0x212A]


@pytest.mark.slow
def test_every_code_point(native):
    """Each character where the kernels classify characters: as a whole line (strip, lower,
    UTF-8), inside a line (line break, word separator), in a needle (case folding) and around a
    header line (surrogates: ``test_surrogates``)."""

    def clean_3x(native: Any, text: str) -> None:  # the bad-word matcher sees no code point
        check_clean(native, text, ((1000, None), (6, None)))

    sweeps: tuple[tuple[str, Callable[[Any, str], None]], ...] = (
        ("{c}", check_record),
        ("{c}", clean_3x),
        ("{c}", check_hashes),
        ("one two{c}three four five.", clean_3x),
        ("one two{c}three four five.", check_record),
        ("Read our coo{c}ie pr{c}vacy policy, or else.", clean_3x),
        ("{c}WARC-Type: x{c}", check_record),
    )
    for chars in chunks():
        for template, check in sweeps:
            check(native, "\n".join(template.format(c=c) for c in chars))


@pytest.mark.slow
def test_every_code_point_around_a_bad_word(native, words):
    """Each character before and after a listed word: the page search's word boundaries."""
    english = sorted(PAGE_WORDS["en"])[0]
    russian = sorted(w for w in PAGE_WORDS["ru"] if not w.isascii())[0]
    for cp in CODE_POINTS:
        c = chr(cp)
        words.check(f"{english}{c}", ("en",))
        words.check(f"{c}{english}", ("en",))
        words.check(f"{c}{russian}{c}", ("ru",))


def test_surrogates(native, words):
    """Lone surrogates (never in decoded WET): the same lines, or the same exception."""
    for cp in range(0xD800, 0xE000, 7):
        c = chr(cp)
        check_all(native, f"one two {c} three four five.\n{c}WARC-Type: x\nx{c}y", words)


# --- property fuzz --------------------------------------------------------------------------

# Characters the rules tell apart: line breaks and whitespace (ASCII and not), end marks, the
# citation brackets, case-folding oddities (Kelvin sign, dotted I, final sigma, sharp s), UCS-2
# and UCS-4 characters, and the letters of the needles.
SPECIAL = (
    "\n\r\t\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2028\u2029\u202f\u3000 "
    ".?!\"'…[]{}()0123456789,;:-"
    "\u212a\u0130\u03a3\u03c3\u00df\u00c9\u00e9\u2019\u201c\u201d\U0001f600\U00010400"
)
NEEDLE_LETTERS = "loremipsuvjacktfy ABCDEFGHIJKLMNOPQRSTUVWXYZ"
PIECES = (
    "lorem ipsum",
    "LOREM IPSUM",
    "javascript",
    "JavaScript",
    "terms of use",
    "Privacy Policy",
    "cookie",
    "COOKIE POLICY",
    "uses cookies",
    "use of cookies",
    "use cookies",
    "...",
    "[1]",
    "[edit]",
    "[citation needed]",
    "[]",
    "WARC",
    "WARC/1.0",
    "Content-",
    "CONTENT-",
    "WARC-Target-URI: http://example.com/",
    "\r\n",
    "fuck",
    "one two three four five",
    "x" * 1001,
    *sorted(PAGE_WORDS["en"])[::25],
    *sorted(PAGE_WORDS["ru"])[::40],
    *PAGE_WORDS["ko"][:4],
    "_",
)
CHARS = st.sampled_from(SPECIAL + NEEDLE_LETTERS) | st.characters(codec="utf-8")
TOKEN = st.text(CHARS, min_size=1, max_size=8) | st.sampled_from(PIECES)
LINE = st.lists(TOKEN, max_size=12).map("".join)
SEPARATOR = st.sampled_from(["\n", "\r\n", "\r", "\n\n", " \n", "\u2028", "\x85", "\x1c"])
TEXT = st.builds(
    lambda lines, seps: "".join(line + seps[i % len(seps)] for i, line in enumerate(lines)),
    st.lists(LINE, max_size=10),
    st.lists(SEPARATOR, min_size=1, max_size=4),
)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TEXT)
def test_fuzz_texts(native, words, text):
    check_all(native, text, words)


def perturbed_lines() -> list[str]:
    """Real lines of the C4 sample, the material the fuzz perturbs."""
    return [line for doc in c4_documents()[:200] for line in doc.split("\n")]


REAL_LINES = perturbed_lines()


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(REAL_LINES), min_size=1, max_size=6),
    st.lists(st.tuples(st.integers(0, 10_000), TOKEN), max_size=6),
    SEPARATOR,
)
def test_fuzz_perturbed_real_lines(native, words, lines, edits, separator):
    """Real lines with random insertions of the characters and pieces the rules look at."""
    text = separator.join(lines)
    for at, token in edits:
        at %= len(text) + 1
        text = text[:at] + token + text[at:]
    check_all(native, text, words)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(CHARS, max_size=4) | st.sampled_from(PIECES), max_size=8))
def test_fuzz_word_lists(native, words, pieces):
    """Made-up lists (empty words, prefixes of each other, regex syntax, non-ASCII starts)."""
    words_list = sorted({p for p in pieces if len(p) < 100})  # _compile recurses per character
    compiled = native.word_list(words_list)
    regex = _compile("xx", words_list)
    for text in ("", " ".join(words_list), "_".join(words_list), "|".join(words_list)[::-1]):
        assert native.has_word(compiled, text) == _has_word_py(regex, "xx", text), (pieces, text)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300))
def test_md5(native, data):
    assert native.md5(data) == hashlib.md5(data).digest()


def test_md5_block_boundaries(native):
    for n in range(0, 260):
        data = bytes(range(256))[:n] * 3
        assert native.md5(data) == hashlib.md5(data).digest()
