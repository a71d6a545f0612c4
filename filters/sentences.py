"""Punkt sentence splitting exactly as TFDS's C4 code gets it, without downloads or pickles.

TFDS asks NLTK for ``tokenizers/punkt/english.pickle``; NLTK >= 3.9 answers with a
``PunktSentenceTokenizer`` built from the four ``punkt_tab/english`` parameter files. We ship those
files as package data (``filters/data/punkt_tab/english``, MIT) and build the same parameters
ourselves, so a worker never calls ``nltk.download`` and never unpickles anything (C4_SPEC §1.4).
Punkt's own regexes run without NLTK's per-match timeout wrapper (``_untimed``): same engine, same
patterns, same sentences, in less than half the time.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nltk.tokenize.punkt import (
    PunktLanguageVars,
    PunktParameters,
    PunktSentenceTokenizer,
    PunktToken,
)

from filters.kernels import native

PUNKT_DIR = Path(__file__).resolve().parent / "data" / "punkt_tab" / "english"


def _untimed(pattern: Any) -> Any:
    """The compiled ``regex`` pattern inside NLTK's ``redos.TimedPattern`` (as is if not one).

    NLTK >= 3.10 runs each of punkt's regexes under a wall-clock timeout, a guard against
    caller-supplied patterns; punkt's own patterns are fixed, and the timeout bookkeeping is more
    than half of punkt's time on web text. Same engine, same pattern, same flags: same matches.
    """
    return getattr(pattern, "_rx", pattern)


class _UntimedToken(PunktToken):
    """``PunktToken`` whose property regexes run without NLTK's timeout wrapper."""

    __slots__ = ()
    _RE_ELLIPSIS = _untimed(PunktToken._RE_ELLIPSIS)
    _RE_NUMERIC = _untimed(PunktToken._RE_NUMERIC)
    _RE_INITIAL = _untimed(PunktToken._RE_INITIAL)
    _RE_ALPHA = _untimed(PunktToken._RE_ALPHA)


class _UntimedLanguageVars(PunktLanguageVars):
    """English ``PunktLanguageVars`` whose regexes run without NLTK's timeout wrapper."""

    __slots__ = ()
    re_boundary_realignment = _untimed(PunktLanguageVars.re_boundary_realignment)
    _WORD_TOKENIZER = _untimed(PunktLanguageVars()._word_tokenizer_re())
    _PERIOD_CONTEXT = _untimed(PunktLanguageVars().period_context_re())

    def _word_tokenizer_re(self) -> Any:
        return self._WORD_TOKENIZER

    def period_context_re(self) -> Any:
        return self._PERIOD_CONTEXT


# A potential sentence end as punkt's ``text_contains_sentbreak`` sees it: the word before the
# mark, the mark, the whitespace after it (``regex``'s ``\s``, which punkt's period context
# matches: ``str.isspace`` but U+001C..U+001F) and the next token. Decided here when the word is
# letters only (``_plain_sentbreak``); anything else goes to punkt.
_PLAIN_CONTEXT = re.compile(r"(\S+?)([.?!])[^\S\x1c-\x1f]+(\S+)")


def collocation_firsts(params: PunktParameters) -> frozenset[str]:
    """The first word types of punkt's known collocations."""
    return frozenset(first for first, _ in params.collocations)


def _plain_sentbreak(
    context: str, params: PunktParameters, firsts: frozenset[str] | None = None
) -> bool | None:
    """``text_contains_sentbreak(context)`` for ``word`` + ``.?!`` + spaces + a token, else None.

    Punkt's own steps on such a context, where the word is ``str.isalpha()`` (no character of
    it is whitespace, punctuation its word tokenizer splits at, a digit, a period or ``-``) and
    the token has no whitespace (so it, or a piece of it, is a token after the mark):

    - the word tokenizer gives ``[word + ".", ...]``, or ``[word, "?", ...]`` for ``?``/``!``;
    - ``?`` and ``!`` are sentence breaks in the first pass, which the second pass (about tokens
      ending in a period) never undoes, and a token follows: True;
    - ``word.`` of two or more letters is no initial, ellipsis or number; unless its lowercase is
      an abbreviation (left to punkt: the orthographic heuristics decide), the first pass makes
      it a break, which the second pass undoes only for a known collocation with the next
      token's type. A word that starts no collocation (``firsts``, from ``params`` when not
      given) stays a break, whatever follows: True. Otherwise only a next token of letters is
      decided here (its type is its lowercase: no period, no digits, nothing split off).

    ``filters._native.punkt_at_least`` decides the same contexts the same way. The tests check
    it against punkt on every context of the real data and on a fuzz
    (tests/filters/test_sentences.py).
    """
    match = _PLAIN_CONTEXT.fullmatch(context)
    if match is None:
        return None
    word, mark, following = match.groups()
    if not word.isalpha():
        return None
    if mark != ".":
        return True
    if len(word) < 2:  # an initial
        return None
    typ = word.lower()
    if typ in params.abbrev_types:
        return None
    if typ not in (collocation_firsts(params) if firsts is None else firsts):
        return True
    if not following.isalpha():
        return None
    return (typ, following.lower()) not in params.collocations


class _PlainFirstTokenizer(PunktSentenceTokenizer):
    """Punkt, deciding the plain potential sentence ends without building its tokens.

    Most contexts punkt examines are a word, a period and a capitalized word; its answer for
    them comes from a few set lookups (``_plain_sentbreak``), the same answer in a fraction of the
    time. Every other context goes through punkt's own code.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.collocation_firsts = collocation_firsts(self._params)

    def text_contains_sentbreak(self, text: str) -> bool:
        decided = _plain_sentbreak(text, self._params, self.collocation_firsts)
        return super().text_contains_sentbreak(text) if decided is None else decided


class _ZeroDefault(dict[str, int]):
    """``ortho_context`` that answers 0 for unknown types without storing them.

    NLTK uses ``defaultdict(int)``, which inserts every unseen word type it is asked about: same
    answers, but a long-running worker's table would grow with the whole corpus.
    """

    def __missing__(self, key: str) -> int:
        return 0


def _lines(path: Path) -> Iterator[str]:
    """A parameter file's lines without their newline, as NLTK's ``TabDecoder`` reads them."""
    with path.open(encoding="utf-8") as f:
        for line in f:
            yield line[:-1] if line.endswith("\n") else line


def load_punkt_parameters(directory: Path = PUNKT_DIR) -> PunktParameters:
    """Build ``PunktParameters`` from a ``punkt_tab/<lang>`` directory (NLTK's tab format).

    Args:
        directory: holds ``abbrev_types.txt``, ``collocations.tab``, ``ortho_context.tab`` and
            ``sent_starters.txt``.

    Returns:
        The parameters NLTK's own ``PunktTokenizer`` would load from the same files.
    """
    params = PunktParameters()
    params.abbrev_types = set(_lines(directory / "abbrev_types.txt"))
    params.sent_starters = set(_lines(directory / "sent_starters.txt"))
    collocations = _lines(directory / "collocations.tab")
    params.collocations = {tuple(line.split("\t")) for line in collocations}
    ortho = _ZeroDefault()
    for line in _lines(directory / "ortho_context.tab"):
        typ, flags = line.split("\t")
        ortho[typ] = int(flags)
    params.ortho_context = ortho
    return params


class SentenceSplitter:
    """TFDS's ``_get_sentences``: ``PunktSentenceTokenizer.tokenize`` with English parameters."""

    def __init__(self, params: PunktParameters) -> None:
        self._tokenizer = _PlainFirstTokenizer(
            params, lang_vars=_UntimedLanguageVars(), token_cls=_UntimedToken
        )
        # ``filters._native.punkt_at_least``'s arguments after ``text, n``.
        self._native_args = (
            self._tokenizer.text_contains_sentbreak,
            params.abbrev_types,
            self._tokenizer.collocation_firsts,
            params.collocations,
        )

    def split(self, text: str) -> list[str]:
        """The punkt sentences of ``text``."""
        return self._tokenizer.tokenize(text)

    def count(self, text: str) -> int:
        """How many punkt sentences ``text`` has (what C4's sentence minimums compare)."""
        return sum(1 for _ in self._tokenizer.span_tokenize(text))

    def at_least(self, text: str, n: int) -> bool:
        """Whether ``text`` has at least ``n`` punkt sentences (``count(text) >= n``).

        Punkt yields sentences lazily from the start, so this stops after the ``n``-th: the same
        answer as ``count`` for a fraction of the work on long pages. Compiled where
        ``filters._native`` is built (its ``punkt_at_least`` walks punkt's steps in C and calls
        back ``text_contains_sentbreak`` for the contexts it cannot decide), else
        ``_at_least_py``.
        """
        if native is None:
            return self._at_least_py(text, n)
        return native.punkt_at_least(text, n, *self._native_args)

    def _at_least_py(self, text: str, n: int) -> bool:
        """``at_least`` through punkt's own generators: the specification of
        ``filters._native.punkt_at_least``."""
        return sum(1 for _ in itertools.islice(self._tokenizer.span_tokenize(text), n)) >= n


_lock = threading.Lock()
_splitters: dict[Path, SentenceSplitter] = {}


def load_punkt(directory: Path = PUNKT_DIR) -> SentenceSplitter:
    """The English punkt splitter, built once per process (thread-safe, on first use).

    Args:
        directory: the ``punkt_tab/english`` parameter files; the package's own by default.

    Returns:
        A shared ``SentenceSplitter``; tokenizing leaves its answers unchanged, so threads share it.
    """
    splitter = _splitters.get(directory)
    if splitter is None:
        with _lock:
            splitter = _splitters.get(directory)
            if splitter is None:
                splitter = SentenceSplitter(load_punkt_parameters(directory))
                _splitters[directory] = splitter
    return splitter
