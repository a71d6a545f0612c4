"""Language identification: langdetect for the English configs, CLD3 for mC4 (C4_SPEC §1.6, §2).

Three detectors share one small protocol, ``detect_langs(text) -> [(lang, prob), ...]``:

- ``LangdetectRsDetector`` (default, named ``langdetect-rs``): langdetect 1.0.9's results bit for
  bit from a compiled port: the compiled core's ``langdetect`` kernel (``filters/_native.c``,
  ~80x faster than langdetect) or, where the core is not built, the ``langdetect-rs`` Rust port
  (~40x).
- ``LangdetectDetector``: the original pure-Python ``langdetect`` 1.0.9 that TFDS calls.
- ``Cld3Detector``: ``gcld3`` with TFDS 3.1.0's parameters, for mC4.

Both langdetect detectors are seeded with 0 on every call, as TFDS sets ``DetectorFactory.seed = 0``
before each call, and load their 55 language profiles in sorted name order (INTERFACE.md).
langdetect itself loads them in ``os.listdir`` order, which depends on the file system (ext4 hashes
names with a per-file-system seed), and the order of the profiles decides the order of every
probability sum and the order of tied predictions, so results could differ from machine to machine.

Detectors load lazily, on first use or ``load()``, never at import. Loading is guarded by a lock and
detection is thread-safe. Pickling carries no loaded model: Beam pickles DoFns to ship them, and a
worker reloads after unpickling.

The decisions (``detect_english``, ``detect_mc4_language``) are pure functions that return what they
decided, why, and the TFDS 3.1.0 counters of that decision.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path
from typing import Any, NamedTuple, Protocol, runtime_checkable

from filters.kernels import native
from filters.spec import TFDS_CLD3_MIN_PROB, TFDS_LANGDETECT_MIN_PROB, C4Rules

# TFDS sets langdetect.DetectorFactory.seed = 0 before every call (C4_SPEC §1.6).
LANGDETECT_SEED = 0
# TFDS 3.1.0 c4_utils.detect_languages: "CLD3 is not expected to work well on very short documents."
CLD3_MIN_NUM_BYTES = 100
CLD3_MAX_NUM_BYTES = 10000
# TFDS c4_utils.UNKNOWN_LANGUAGE: the mC4 language of unreliable or low-confidence pages.
UNKNOWN_LANGUAGE = "und"

# Counter namespaces (C4_SPEC §1.11); 2.2.0 and 1.0.0 count under "detected-lang".
ENGLISH_FILTER_NAMESPACE = "english-filter"
LEGACY_ENGLISH_FILTER_NAMESPACE = "detected-lang"
MC4_LANGUAGE_FILTER_NAMESPACE = "language-filter"

# 3.1.0 counter names -> the names 2.2.0/1.0.0's ``is_language`` increments for the same decision.
# ``filtered:ignored_language-<lang>`` maps to ``page-filtered-ignoredlang-<lang>`` (see
# ``legacy_counter_name``). ``passed`` becomes ``page-emited-<lang>`` with the top language, which
# is always ``en`` for a kept English page.
LEGACY_COUNTER_NAMES: dict[str, str] = {
    "passed": "page-emited-en",
    "filtered:langdetect_exception": "langdetect-exception",
    "filtered:no_predictions": "page-filtered-nolangpredictions",
    "filtered:low_confidence": "page-filtered-lowlangdetectconf",
    "filtered:ignored_language": "page-filtered-ignoredlang",
}
_IGNORED_LANGUAGE_PREFIX = "filtered:ignored_language-"
_LEGACY_IGNORED_LANGUAGE_PREFIX = "page-filtered-ignoredlang-"

# TFDS c4.py 3.1.0 MC4_LANGUAGES: the CLD3 languages with at least 10k mC4 pages, in TFDS's order.
MC4_LANGUAGES: tuple[str, ...] = (
    "af", "am", "ar", "az", "be", "bg", "bg-Latn", "bn", "ca", "ceb", "co", "cs", "cy", "da", "de",
    "el", "el-Latn", "en", "eo", "es", "et", "eu", "fa", "fi", "fil", "fr", "fy", "ga", "gd", "gl",
    "gu", "ha", "haw", "hi", "hi-Latn", "hmn", "ht", "hu", "hy", "id", "ig", "is", "it", "iw", "ja",
    "ja-Latn", "jv", "ka", "kk", "km", "kn", "ko", "ku", "ky", "la", "lb", "lo", "lt", "lv", "mg",
    "mi", "mk", "ml", "mn", "mr", "ms", "mt", "my", "ne", "nl", "no", "ny", "pa", "pl", "ps", "pt",
    "ro", "ru", "ru-Latn", "sd", "si", "sk", "sl", "sm", "sn", "so", "sq", "sr", "st", "su", "sv",
    "sw", "ta", "te", "tg", "th", "tr", "uk", "ur", "uz", "vi", "xh", "yi", "yo", "zh", "zh-Latn",
    "zu",
)  # fmt: skip
_MC4_LANGUAGE_SET = frozenset(MC4_LANGUAGES)

# langdetect's ErrorCode.CantDetectError: the one error detect_langs raises on a str.
_CANT_DETECT_ERROR = 5


class LanguageDetectionError(Exception):
    """langdetect could not detect a language (its ``LangDetectException``).

    Attributes:
        code: langdetect's ``ErrorCode`` value (5, ``CantDetectError``, for "No features in text.").
    """

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


@runtime_checkable
class LanguageDetector(Protocol):
    """What a stage needs from a language identifier."""

    name: str

    @property
    def loaded(self) -> bool:
        """Whether the model is in memory."""
        ...

    def detect_langs(self, text: str) -> list[tuple[str, float]]:
        """Return ``(language, probability)`` pairs, best first, as langdetect orders them.

        Raises:
            LanguageDetectionError: where langdetect raises ``LangDetectException``.
        """
        ...

    def load(self) -> LanguageDetector:
        """Load the model now instead of on first use; return self."""
        ...


class _LazyModel:
    """Lazy, lock-guarded loading and model-free pickling, shared by the detectors."""

    name = ""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._model: Any = None

    def _load_model(self) -> Any:
        raise NotImplementedError

    def _get_model(self) -> Any:
        model = self._model
        if model is None:
            # Double-checked: Beam may call one DoFn instance from several threads.
            with self._lock:
                if self._model is None:
                    self._model = self._load_model()
                model = self._model
        return model

    @property
    def loaded(self) -> bool:
        """Whether the model is in memory (False again after unpickling)."""
        return self._model is not None

    def __getstate__(self) -> dict[str, Any]:
        # Models and locks do not travel: a worker reloads after unpickling.
        state = self.__dict__.copy()
        state["_lock"] = None
        state["_model"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(loaded={self.loaded})"


def sorted_profile_names(directory: str | Path) -> list[str]:
    """The profile files langdetect would load from ``directory``, in sorted name order.

    Like ``DetectorFactory.load_profile`` it skips dot files and anything that is not a file.
    """
    root = Path(directory)
    return sorted(p.name for p in root.iterdir() if not p.name.startswith(".") and p.is_file())


class LangdetectDetector(_LazyModel):
    """The original ``langdetect`` 1.0.9 (pure Python), seeded with 0, profiles in sorted order."""

    name = "langdetect"

    def _load_model(self) -> Any:
        from langdetect import detector_factory

        directory = Path(detector_factory.PROFILES_DIRECTORY)
        names = sorted_profile_names(directory)
        factory = detector_factory.DetectorFactory()
        # load_json_profile takes profiles in the order given; load_profile would use os.listdir.
        factory.load_json_profile([(directory / n).read_text(encoding="utf-8") for n in names])
        factory.set_seed(LANGDETECT_SEED)
        _check_sorted(factory.get_lang_list(), self.name)
        return factory

    def load(self) -> LangdetectDetector:
        """Load the 55 profiles now; return self."""
        self._get_model()
        return self

    def detect_langs(self, text: str) -> list[tuple[str, float]]:
        """langdetect's ``detect_langs(text)`` with seed 0, as ``(lang, prob)`` pairs."""
        from langdetect.lang_detect_exception import LangDetectException

        factory = self._get_model()
        # A Detector per call, as langdetect.detect_langs makes one; the factory is read-only.
        detector = factory.create()
        try:
            detector.append(text)
            predictions = detector.get_probabilities()
        except LangDetectException as e:
            raise LanguageDetectionError(str(e), e.get_code()) from e
        return [(p.lang, p.prob) for p in predictions]


class LangdetectRsDetector(_LazyModel):
    """langdetect 1.0.9's ``detect_langs`` with seed 0 and sorted profiles, from a compiled port.

    Two exact ports, the same results (the tests compare both with langdetect on the real data):

    - the compiled core's ``langdetect`` kernel (``filters/_native.c``), with the profiles and
      normalization tables of ``filters/langdetect_table.py``; ~2x faster than the Rust port,
      mostly by looking n-grams of ASCII letters up directly and by not copying texts with
      nothing for ``Detector.append``'s substitutions;
    - ``langdetect-rs`` 0.1.0 (Rust), where the compiled core is not built (``C4_PURE_PYTHON=1``
      or no compiler): its built-in profiles loaded in sorted order, and its one-call path.

    The name stays ``langdetect-rs`` for both: it names the decisions (configs and resume keys
    carry it), which do not depend on the port.
    """

    name = "langdetect-rs"
    COMPILED_PORT = "compiled core"
    RUST_PORT = "langdetect-rs"
    PORTS = (COMPILED_PORT, RUST_PORT)

    def __init__(self, port: str | None = None) -> None:
        """``port``: ``"compiled core"`` or ``"langdetect-rs"``; None (the default) takes the
        compiled core where it is built.

        Raises:
            ValueError: an unknown port, or the compiled core asked for where it is not built.
        """
        super().__init__()
        if port is None:
            port = self.COMPILED_PORT if native is not None else self.RUST_PORT
        if port not in self.PORTS:
            raise ValueError(f"unknown langdetect port {port!r}; choose one of {self.PORTS}")
        if port == self.COMPILED_PORT and native is None:
            raise ValueError("the compiled core is not built here (filters/kernels.py)")
        self.port = port

    def _load_model(self) -> Any:
        if self.port == self.COMPILED_PORT:
            assert native is not None
            from filters.langdetect_table import compiled_model

            model = compiled_model(native, LANGDETECT_SEED)
            return functools.partial(native.langdetect, model)
        from langdetect_rs import DetectorFactory, _core
        from langdetect_rs._seed import seed_state

        factory = DetectorFactory()
        # The public load_profile(PROFILES_DIRECTORY) copies langdetect's os.listdir order when
        # langdetect is installed; loading the built-in files ourselves fixes the sorted order.
        factory._core.load_builtin(sorted(_core.builtin_files()))
        factory.langlist[:] = factory._core.langs()
        factory.set_seed(LANGDETECT_SEED)
        _check_sorted(factory.get_lang_list(), self.name)
        core, seed = factory._core, seed_state(LANGDETECT_SEED)
        return lambda text: core.detect_langs(text, seed)

    def load(self) -> LangdetectRsDetector:
        """Load the 55 profiles now; return self."""
        self._get_model()
        return self

    def detect_langs(self, text: str) -> list[tuple[str, float]]:
        """langdetect's ``detect_langs(text)`` with seed 0, as ``(lang, prob)`` pairs."""
        result = self._get_model()(text)
        if result is None:
            raise LanguageDetectionError("No features in text.", _CANT_DETECT_ERROR)
        return [(lang, prob) for lang, prob in result]


class Cld3Prediction(NamedTuple):
    """CLD3's ``FindLanguage`` result."""

    language: str
    probability: float
    is_reliable: bool


class Cld3Detector(_LazyModel):
    """CLD3 (``gcld3``) as TFDS 3.1.0 builds it for mC4: 100 to 10,000 bytes of each text."""

    name = "cld3"

    def __init__(
        self, min_num_bytes: int = CLD3_MIN_NUM_BYTES, max_num_bytes: int = CLD3_MAX_NUM_BYTES
    ) -> None:
        super().__init__()
        self.min_num_bytes = min_num_bytes
        self.max_num_bytes = max_num_bytes

    def _load_model(self) -> Any:
        import gcld3

        return gcld3.NNetLanguageIdentifier(
            min_num_bytes=self.min_num_bytes, max_num_bytes=self.max_num_bytes
        )

    def load(self) -> Cld3Detector:
        """Build the identifier now; return self."""
        self._get_model()
        return self

    def find_language(self, text: str) -> Cld3Prediction:
        """CLD3's best language, its probability and whether CLD3 calls it reliable."""
        model = self._get_model()
        # The identifier keeps per-call state, so calls are serialized (TFDS locks them too).
        with self._lock:
            result = model.FindLanguage(text)
        return Cld3Prediction(result.language, result.probability, result.is_reliable)

    def detect_langs(self, text: str) -> list[tuple[str, float]]:
        """The protocol view: ``[(language, probability)]``, ``und`` with 0.0 for no text."""
        prediction = self.find_language(text)
        return [(prediction.language, prediction.probability)]


DETECTORS: dict[str, type[LangdetectRsDetector | LangdetectDetector | Cld3Detector]] = {
    LangdetectRsDetector.name: LangdetectRsDetector,
    LangdetectDetector.name: LangdetectDetector,
    Cld3Detector.name: Cld3Detector,
}
DEFAULT_DETECTOR = LangdetectRsDetector.name


def make_detector(name: str = DEFAULT_DETECTOR) -> LanguageDetector:
    """A detector by name: ``langdetect-rs`` (default), ``langdetect`` or ``cld3``; not loaded yet.

    Raises:
        ValueError: an unknown name.
    """
    try:
        cls = DETECTORS[name]
    except KeyError:
        raise ValueError(
            f"unknown language detector {name!r}; choose one of {', '.join(DETECTORS)}"
        ) from None
    return cls()


def _check_sorted(langs: list[str], name: str) -> None:
    if langs != sorted(langs) or len(langs) != len(set(langs)):
        raise RuntimeError(f"{name}: profiles did not load in sorted order: {langs}")


class LangResult(NamedTuple):
    """A language decision.

    Attributes:
        keep: whether the page goes on.
        language: the page's language: ``en`` for a kept English page, the top prediction for an
            English-filter drop (``""`` when there is none), the CLD3 language or ``und`` in mC4.
        reason: the deciding counter (``filtered:low_confidence``), None for a plain pass. In mC4 an
            ``und`` page is kept with the reason it became ``und``.
        counters: every counter the decision increments in its namespace, TFDS 3.1.0 names.
    """

    keep: bool
    language: str
    reason: str | None
    counters: dict[str, int]


def detect_english(
    text: str, detector: LanguageDetector, min_probability: float = TFDS_LANGDETECT_MIN_PROB
) -> LangResult:
    """TFDS 3.1.0 ``detect_english``: keep iff langdetect's top prediction is ``en`` with p >= 0.99.

    2.2.0 and 1.0.0's ``is_language("en")`` decide the same way (same threshold, same checks in the
    same order); only their counter names differ (``english_filter_counters``).
    Counters are in the ``english-filter`` namespace.
    """
    try:
        predictions = detector.detect_langs(text)
    except LanguageDetectionError:
        return _drop("", "filtered:langdetect_exception")
    if not predictions:
        return _drop("", "filtered:no_predictions")
    lang, prob = predictions[0]
    if prob < min_probability:
        return _drop(lang, "filtered:low_confidence")
    if lang != "en":
        reason = "filtered:ignored_language"
        return LangResult(False, lang, reason, {reason: 1, f"{_IGNORED_LANGUAGE_PREFIX}{lang}": 1})
    return LangResult(True, "en", None, {"passed": 1})


def _drop(language: str, reason: str) -> LangResult:
    return LangResult(False, language, reason, {reason: 1})


def legacy_counter_name(name: str) -> str:
    """The 2.2.0/1.0.0 ``detected-lang`` name of a 3.1.0 ``english-filter`` counter."""
    if name.startswith(_IGNORED_LANGUAGE_PREFIX):
        return _LEGACY_IGNORED_LANGUAGE_PREFIX + name[len(_IGNORED_LANGUAGE_PREFIX) :]
    return LEGACY_COUNTER_NAMES[name]


def english_filter_counters(result: LangResult, rules: C4Rules) -> tuple[str, dict[str, int]]:
    """The namespace and counters ``rules.version``'s TFDS code increments for ``result``."""
    if rules.major >= 3:
        return ENGLISH_FILTER_NAMESPACE, dict(result.counters)
    legacy = {legacy_counter_name(k): v for k, v in result.counters.items()}
    return LEGACY_ENGLISH_FILTER_NAMESPACE, legacy


def detect_mc4_language(
    text: str,
    detector: Cld3Detector,
    min_probability: float = TFDS_CLD3_MIN_PROB,
    languages: frozenset[str] = _MC4_LANGUAGE_SET,
) -> LangResult:
    """TFDS 3.1.0 mC4 language ID: CLD3's language, ``und`` when unsure, drop if not in mC4.

    Not reliable -> ``und`` (``filtered:no_predictions``); probability < 0.95 -> ``und``
    (``filtered:low_confidence``); both still pass into the ``und`` split. A reliable language
    outside ``MC4_LANGUAGES`` is dropped (``filtered:ignored_language``). A page that goes on
    counts ``passed`` and ``passed:<lang>``. Counters are in the ``language-filter`` namespace.
    """
    prediction = detector.find_language(text)
    counters: dict[str, int] = {}
    reason: str | None = None
    if not prediction.is_reliable:
        reason = "filtered:no_predictions"
        lang = UNKNOWN_LANGUAGE
    elif prediction.probability < min_probability:
        reason = "filtered:low_confidence"
        lang = UNKNOWN_LANGUAGE
    else:
        lang = prediction.language
        if lang not in languages:
            return _drop(lang, "filtered:ignored_language")
    if reason is not None:
        counters[reason] = 1
    counters["passed"] = 1
    counters[f"passed:{lang}"] = 1
    return LangResult(True, lang, reason, counters)
