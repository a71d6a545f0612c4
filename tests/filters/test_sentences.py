"""load_punkt: the same sentences as NLTK's own punkt_tab tokenizer on every real line."""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
from pathlib import Path

import nltk
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from nltk.tokenize.punkt import PunktSentenceTokenizer, PunktTokenizer

from filters.sentences import PUNKT_DIR, _plain_sentbreak, load_punkt
from tests.conftest import C4_SAMPLE, REAL_WET

# sha256 of the english/ files of NLTK's published punkt_tab.zip (sha256 e57f6418...0e0106).
NLTK_PUNKT_TAB_ENGLISH = {
    "abbrev_types.txt": "92a3e070f43d9b4c5534758ca40ad7343b04e7e29bfe0c2eb658a39445a4f779",
    "collocations.tab": "8e2da1225e4dd2cc9dba261ee231ccb134859e21b46006e7f472c5ee269af0cf",
    "ortho_context.tab": "4bbcca25ed3d3f06c02402abf8419b9f033b8adc06e7b482eca4e45f81a5dc4c",
    "sent_starters.txt": "f3f8535483e1dba487241b764945168123bca3209a9645e59acd1225dc76edac",
}


@pytest.fixture(scope="module")
def nltk_punkt(nltk_data_dir: Path) -> PunktTokenizer:
    """NLTK's tokenizer for TFDS's request, from the shipped parameters (never downloaded)."""
    nltk.data.path.insert(0, str(nltk_data_dir))
    try:
        tokenizer = nltk.data.load("nltk:tokenizers/punkt/english.pickle")
    finally:
        nltk.data.path.remove(str(nltk_data_dir))
    assert isinstance(tokenizer, PunktTokenizer)
    return tokenizer


def _wet_lines() -> list[str]:
    lines: list[str] = []
    for path in REAL_WET:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            lines.extend(s for s in (line.strip() for line in f) if s)
    return lines


def _c4_lines() -> list[str]:
    lines: list[str] = []
    with gzip.open(C4_SAMPLE, "rt", encoding="utf-8") as f:
        for row in f:
            lines.extend(json.loads(row)["text"].splitlines())
    return lines


def test_shipped_parameters_are_nltks_files():
    assert sorted(p.name for p in PUNKT_DIR.iterdir()) == sorted(NLTK_PUNKT_TAB_ENGLISH)
    for name, sha256 in NLTK_PUNKT_TAB_ENGLISH.items():
        assert hashlib.sha256((PUNKT_DIR / name).read_bytes()).hexdigest() == sha256, name


def test_parameters_equal_nltks(nltk_punkt: PunktTokenizer):
    ours = load_punkt()._tokenizer._params
    theirs = nltk_punkt._params
    assert ours.abbrev_types == theirs.abbrev_types
    assert ours.collocations == theirs.collocations
    assert ours.sent_starters == theirs.sent_starters
    assert dict(ours.ortho_context) == dict(theirs.ortho_context)


@pytest.mark.parametrize("source", ["wet", "c4"])
def test_identical_to_nltk_on_every_real_line(nltk_punkt: PunktTokenizer, source: str):
    lines = _wet_lines() if source == "wet" else _c4_lines()
    assert len(lines) > 5_000
    splitter = load_punkt()
    for i, line in enumerate(lines):
        expected = nltk_punkt.tokenize(line)
        assert splitter.split(line) == expected, line
        if i % 10 == 0:  # count() walks the same spans; a sample keeps the test fast
            assert splitter.count(line) == len(expected), line
            assert splitter.at_least(line, len(expected)), line
            assert not splitter.at_least(line, len(expected) + 1), line


def test_spec_example_is_one_sentence():
    text = "This line looks like it has three sentences...but it's actually just 1."
    assert load_punkt().count(text) == 1
    assert load_punkt().split("Hello there Mr. Smith. How are you? Fine.") == [
        "Hello there Mr. Smith.",
        "How are you?",
        "Fine.",
    ]


def test_at_least_on_multi_line_pages():
    splitter = load_punkt()
    with gzip.open(C4_SAMPLE, "rt", encoding="utf-8") as f:
        texts = [json.loads(row)["text"] for row, _ in zip(f, range(200), strict=False)]
    for text in texts:
        n = splitter.count(text)
        assert [splitter.at_least(text, k) for k in (0, 1, 3, n, n + 1)] == [
            True,
            n >= 1,
            n >= 3,
            True,
            False,
        ]


def test_memoized_once_per_process_across_threads():
    seen: list[object] = []
    threads = [threading.Thread(target=lambda: seen.append(load_punkt())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(s) for s in seen}) == 1
    assert seen[0] is load_punkt()


def test_unknown_words_do_not_grow_the_tables():
    splitter = load_punkt()
    before = len(splitter._tokenizer._params.ortho_context)
    splitter.split("Zyxwvut qwertyuiop. Asdfghjk zxcvbnm. Plokijuh ygtfrdes.")
    assert len(splitter._tokenizer._params.ortho_context) == before


def test_whole_pages_identical_to_nltk(nltk_punkt: PunktTokenizer):
    # Dedup runs punkt on whole multi-line pages, where sentences may span lines.
    splitter = load_punkt()
    with gzip.open(C4_SAMPLE, "rt", encoding="utf-8") as f:
        texts = [json.loads(row)["text"] for row, _ in zip(f, range(300), strict=False)]
    for text in texts:
        assert splitter.split(text) == nltk_punkt.tokenize(text)


def test_untimed_patterns_are_nltks_own():
    # The splitter drops only NLTK's timeout wrapper: the regexes themselves must be NLTK's.
    from nltk.tokenize.punkt import PunktLanguageVars, PunktToken

    from filters.sentences import _UntimedLanguageVars, _UntimedToken

    stock, ours = PunktLanguageVars(), _UntimedLanguageVars()
    pairs = [
        (stock._word_tokenizer_re(), ours._word_tokenizer_re()),
        (stock.period_context_re(), ours.period_context_re()),
        (stock.re_boundary_realignment, ours.re_boundary_realignment),
        *(
            (getattr(PunktToken, name), getattr(_UntimedToken, name))
            for name in ("_RE_ELLIPSIS", "_RE_NUMERIC", "_RE_INITIAL", "_RE_ALPHA")
        ),
    ]
    for theirs, mine in pairs:
        assert (mine.pattern, mine.flags) == (theirs.pattern, theirs.flags)
        assert not hasattr(mine, "_rx")


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1),
        min_size=5,
        max_size=12,
    ),
    st.sampled_from([" ", "\t", "\u3000", "  "]),
)
def test_any_text_with_words_has_a_sentence(words: list[str], sep: str):
    # clean_page relies on it: a kept line (5+ words) adds at least one sentence to the count.
    line = sep.join(words)
    assume(line.split())
    assert load_punkt().count(line) >= 1


# --- the plain contexts decided without punkt's tokens (filters.sentences._plain_sentbreak) ---


def _punkt_decides(context: str) -> bool:
    """Punkt's own ``text_contains_sentbreak``, on our tokenizer's parameters and classes."""
    return PunktSentenceTokenizer.text_contains_sentbreak(load_punkt()._tokenizer, context)


def test_every_real_context_decided_as_punkt_does(monkeypatch: pytest.MonkeyPatch):
    """Every potential sentence end punkt examines in the real lines and pages: the plain ones
    get punkt's answer, and they are most of them."""
    tokenizer = load_punkt()._tokenizer
    contexts: list[str] = []
    real = type(tokenizer).text_contains_sentbreak

    def spy(self: PunktSentenceTokenizer, text: str) -> bool:
        contexts.append(text)
        return real(self, text)

    monkeypatch.setattr(type(tokenizer), "text_contains_sentbreak", spy)
    splitter = load_punkt()
    with gzip.open(C4_SAMPLE, "rt", encoding="utf-8") as f:
        pages = [json.loads(row)["text"] for row in f]
    for text in (*_wet_lines(), *pages):
        splitter.split(text)
    monkeypatch.undo()
    assert len(contexts) > 20_000
    decided = 0
    for context in contexts:
        plain = _plain_sentbreak(context, tokenizer._params)
        if plain is not None:
            decided += 1
            assert plain == _punkt_decides(context), context
    assert decided > len(contexts) // 2


_PARAMS = load_punkt()._tokenizer._params
_WORD = st.one_of(
    st.text(st.characters(categories=("Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Nd")), max_size=6),
    st.sampled_from(sorted(_PARAMS.abbrev_types)),
    st.sampled_from(sorted(w for pair in _PARAMS.collocations for w in pair)),
    st.sampled_from(["a", "I", "U.S", "e.g", "etc", "Dr", "3", "1st", "x-ray", "co-op", "ǅungla"]),
)


@settings(max_examples=2000, deadline=None)
@given(
    _WORD,
    st.sampled_from([".", "?", "!", "..", ".?"]),
    st.text(st.sampled_from(" \n\t\r\u3000\xa0"), min_size=1, max_size=3),
    _WORD,
    st.sampled_from(["", ".", ",", '"', ")", "'s"]),
    st.booleans(),
)
def test_fuzz_contexts_decided_as_punkt_does(word, mark, space, following, tail, title):
    """Made-up contexts near the plain ones: abbreviations, collocations, initials, numbers,
    hyphens, other scripts and spaces; whatever the fast path decides, punkt decides alike."""
    if title:
        following = following.title()
    context = f"{word}{mark}{space}{following}{tail}"
    plain = _plain_sentbreak(context, _PARAMS)
    if plain is not None:
        assert plain == _punkt_decides(context), context
    assert load_punkt()._tokenizer.text_contains_sentbreak(context) == _punkt_decides(context)


def test_known_collocation_and_abbreviation_are_punkts():
    # A collocation pair (no break) and an abbreviation (left to punkt's heuristics).
    typ, following = sorted(_PARAMS.collocations)[0]
    if typ.isalpha() and following.isalpha() and typ not in _PARAMS.abbrev_types:
        assert _plain_sentbreak(f"{typ}. {following}", _PARAMS) is False
    assert _plain_sentbreak("Mr. Smith", _PARAMS) is None
    assert _plain_sentbreak("word. Next", _PARAMS) is True
    assert _plain_sentbreak("word? next", _PARAMS) is True
    # A word that starts no collocation stays a break whatever token follows.
    assert _plain_sentbreak("word. 3", _PARAMS) is True
    assert _plain_sentbreak("word.\u3000Then,", _PARAMS) is True
    assert _plain_sentbreak("word. \x1c", _PARAMS) is None  # str.isspace, but regex's \S
    assert _plain_sentbreak("word.\x1c Next", _PARAMS) is None
