"""The compiled langdetect port (``filters/_native.c`` ``langdetect``) against langdetect 1.0.9.

langdetect itself is the specification: the table the port reads is rebuilt from langdetect's
files and must match the shipped bytes; NGram.normalize is compared on every code point; the
text append() prepares and the n-grams it extracts are compared on crafted cases of each regex
and rule; every result (languages, probabilities as floats, order) on the real pages and on a
property fuzz. The Rust port (``langdetect-rs``), which runs where the core is not built, is held
to the same results in tests/filters/test_language.py.
"""

from __future__ import annotations

import random
import zlib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from filters import langdetect_table
from filters.language import (
    LangdetectDetector,
    LangdetectRsDetector,
    LanguageDetectionError,
    sorted_profile_names,
)
from tests.filters.test_native import _native


@pytest.fixture(scope="module")
def native() -> Any:
    return _native()


@pytest.fixture(scope="module")
def model(native: Any) -> object:
    return langdetect_table.compiled_model(native, 0)


@pytest.fixture(scope="module")
def factory() -> Any:
    return LangdetectDetector().load()._get_model()


def spec_ngrams(factory: Any, text: str) -> tuple[str, list[str]]:
    """What langdetect's Detector does before its trials: append, cleaning_text, n-grams."""
    detector = factory.create()
    detector.append(text)
    detector.cleaning_text()
    return detector.text, detector._extract_ngrams()


def spec_detect(factory: Any, text: str) -> list[tuple[str, float]] | None:
    detector = factory.create()
    detector.append(text)
    try:
        return [(p.lang, p.prob) for p in detector.get_probabilities()]
    except Exception as e:  # LangDetectException: "No features in text."
        assert "No features in text" in str(e)
        return None


def test_shipped_table_is_rebuilt_from_langdetect() -> None:
    from langdetect import detector_factory

    built = langdetect_table.build_table()
    assert zlib.decompress(langdetect_table.TABLE.read_bytes()) == built
    assert langdetect_table.languages(built) == sorted_profile_names(
        detector_factory.PROFILES_DIRECTORY
    )


def test_normalize_on_every_code_point(native: Any, model: object) -> None:
    from langdetect.utils.ngram import NGram

    every = "".join(map(chr, range(0x110000)))
    assert native.langdetect_normalize(model, every) == "".join(map(NGram.normalize, every))


URLS = [
    "see http://example.com/a?b=1&c=2#x now",
    "https://x.org/ and http://y.net",
    "http:// https:// httpss://x hhttp://x.y http:/x ftp://z",
    "xhttp://a.b/c,d;e~f+g=h",
    "http://" + "a" * 2100 + " tail",  # longer than URL_RE's {1,2076}
    "https://a.b" + "/" * 3000,
]
MAILS = [
    "write to a@b.c today",
    "a@b ab@c ab@cd a@.b a@b. a.b@c.d x@y@z.w @a a@ @",
    "user.name+tag@example.co.uk, -_.@-_x.y",
    "l" * 70 + "@host.example",  # the local part is cut to its last 64 characters
    "a@" + "b" * 300 + ".c",  # the host parts are cut at 255 and 255
    "a@" + "b" * 600,
    "a@bb. a@b- a@-.",
    "joe@x.y@z.w mail@@twice a@b@c@d",
]
VIETNAMESE = [
    "Tie\u0302\u0301ng Vie\u0323\u0302t co\u0301 da\u0302\u0301u",  # decomposed marks
    "A\u0300 E\u0301 O\u0303 Y\u0309 u\u0323 \u01b0\u0300 \u0103\u0301",
    "x\u0300 \u0300a \u0301\u0301 a\u0300\u0301",
]
RULES = [
    "",
    " ",
    "   double  spaces   collapse  ",
    "NASA and the USA. McDonald's iPhone ÉCOLE ΑΘΗΝΑ ǅemal Ⅷ",
    "Война и мир — роман Льва Толстого, with some English words in it",
    "日本語のテキストとカタカナとひらがな。中文简体字和繁體字。한국어 텍스트",
    "فارسی یک زبان است",  # Farsi yeh
    "Română: știință și țară",  # comma below -> cedilla
    "Latin-1: «quote» 50° a\u00a0b",
    "\u0000\u0001 nul and control \x7f",
    "lone \ud800 surrogate \udfff",
    "emoji 😀 and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 and \U0010ffff",
    "ẠẢẤ Ầ ẨẪẬ ḀḁỳỴ",  # Latin Extended Additional
    "\u2019curly\u2019 \u201cquotes\u201d \u2014 dash",
]


@pytest.mark.parametrize("text", URLS + MAILS + VIETNAMESE + RULES)
def test_prepared_text_and_ngrams_equal_langdetects(
    text: str, native: Any, model: object, factory: Any
) -> None:
    assert native.langdetect_ngrams(model, text) == spec_ngrams(factory, text)
    assert native.langdetect(model, text) == spec_detect(factory, text)


def test_the_cut_at_10000_characters(native: Any, model: object, factory: Any) -> None:
    """append() keeps the first 10,000 characters after its substitutions, which run on the
    whole text: a URL or address across the cut, or long before it, moves where it falls."""
    base = ("word " * 2100)[:9990]
    for tail in ("http://example.org/" + "x" * 50, "someone@example.org more", "  spaces"):
        for text in (base + tail, tail + base + tail, base[:5000] + tail * 40 + base):
            assert native.langdetect_ngrams(model, text) == spec_ngrams(factory, text)
            assert native.langdetect(model, text) == spec_detect(factory, text)


def test_cleaning_counts_every_character_from_u0300_as_non_latin(
    native: Any, model: object, factory: Any
) -> None:
    """cleaning_text compares a block number with the string 'Latin Extended Additional', so
    Vietnamese letters of that block count as non-Latin too, and the Latin letters go."""
    text = "ab " + "ạ" * 5
    prepared, _ = native.langdetect_ngrams(model, text)
    assert prepared == spec_ngrams(factory, text)[0] == " " + "ạ" * 5


ALPHABET = st.sampled_from(
    [
        *"aeiostnrhlHTPS :/@.-_ ",
        *("http://", "https://", "@", "\u0301", "\u0300", "\u0323"),
        *"âêôăơưАБВгде日本語かカ한ÉÀçñßΩωا",
        *("\u2019", "\u00a0", "«", "1", "\n"),
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ALPHABET, max_size=120).map("".join))
def test_fuzz_equals_langdetect(text: str) -> None:
    native = _native()
    model = _fuzz_model()
    factory = _fuzz_factory()
    assert native.langdetect_ngrams(model, text) == spec_ngrams(factory, text)
    assert native.langdetect(model, text) == spec_detect(factory, text)


_cache: dict[str, Any] = {}


def _fuzz_model() -> object:
    if "model" not in _cache:
        _cache["model"] = langdetect_table.compiled_model(_native(), 0)
    return _cache["model"]


def _fuzz_factory() -> Any:
    if "factory" not in _cache:
        _cache["factory"] = LangdetectDetector().load()._get_model()
    return _cache["factory"]


def test_a_damaged_table_or_state_is_refused(native: Any) -> None:
    table = langdetect_table.load_table()
    state = random.Random(0).getstate()[1][:624]
    for bad in (b"", table[:-1], table + b"\0", b"C4LD0002" + table[8:], table[:100]):
        with pytest.raises(ValueError, match="langdetect table"):
            native.langdetect_model(bad, state)
    with pytest.raises(ValueError, match="624"):
        native.langdetect_model(table, state[:-1])
    with pytest.raises(ValueError, match="incorrect name"):
        native.langdetect(native.word_list(["x"]), "text")  # another kernel's capsule


def test_the_default_detector_runs_the_compiled_port(native: Any) -> None:
    assert LangdetectRsDetector().port == "compiled core"
    assert LangdetectRsDetector("langdetect-rs").port == "langdetect-rs"
    with pytest.raises(ValueError, match="unknown langdetect port"):
        LangdetectRsDetector("java")
    detector = LangdetectRsDetector().load()
    with pytest.raises(LanguageDetectionError, match="No features") as info:
        detector.detect_langs("1234 !!!")
    assert info.value.code == 5
