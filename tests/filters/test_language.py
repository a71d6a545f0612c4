"""filters/language.py: detectors, sorted profiles, the English and mC4 decisions, pickling.

The identity test runs both langdetect implementations on every real page and C4 document and
requires equal floats. The reference tests run TFDS's own ``c4_utils.detect_english`` in the
reference venv, with langdetect's default profile order and with sorted profiles.
"""

from __future__ import annotations

import ast
import functools
import gzip
import json
import os
import pickle
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from filters.kernels import native
from filters.langdetect_table import languages, load_table
from filters.language import (
    CLD3_MAX_NUM_BYTES,
    CLD3_MIN_NUM_BYTES,
    ENGLISH_FILTER_NAMESPACE,
    LEGACY_COUNTER_NAMES,
    LEGACY_ENGLISH_FILTER_NAMESPACE,
    MC4_LANGUAGES,
    UNKNOWN_LANGUAGE,
    Cld3Detector,
    LangdetectDetector,
    LangdetectRsDetector,
    LangResult,
    LanguageDetectionError,
    LanguageDetector,
    detect_english,
    detect_mc4_language,
    english_filter_counters,
    legacy_counter_name,
    make_detector,
    sorted_profile_names,
)
from filters.spec import resolve_rules
from tests.conftest import C4_SAMPLE, REAL_WET, WET_DIR
from tests.reference import pins

EXCERPT_2026 = WET_DIR / "CC-MAIN-2026-12.excerpt-262.warc.wet.gz"
REFERENCE_HOME = pins.home()
REFERENCE_PY = REFERENCE_HOME / "venv" / "bin" / "python"
LEGACY_SRC = REFERENCE_HOME / "src"

ENGLISH = (
    "The quick brown fox jumps over the lazy dog. This is a perfectly ordinary English sentence, "
    "written to be recognised by any language detector without the slightest doubt."
)
FRENCH = (
    "Bonjour tout le monde, ceci est une phrase en français assez longue pour que le détecteur de "
    "langue puisse la reconnaître correctement sans la moindre hésitation."
)
JAPANESE = (
    "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。何でも薄暗いじめじめした所で"
)
# langdetect-rs's README example: two Cyrillic languages share the vote, ru at about 0.57.
RUSSIAN_SHORT = "Война и мир — роман Льва Толстого."


def iter_wet_records(path: Path) -> Iterator[tuple[dict[str, str], bytes]]:
    """A minimal WET reader: (headers, body) per record. The raw page text is all we need here."""
    with gzip.open(path) as f:
        data = f.read()
    pos = 0
    while (start := data.find(b"WARC/1.0\r\n", pos)) >= 0:
        end = data.index(b"\r\n\r\n", start)
        headers = {}
        for line in data[start:end].split(b"\r\n")[1:]:
            key, _, value = line.partition(b":")
            headers[key.strip().decode()] = value.strip().decode()
        length = int(headers["Content-Length"])
        yield headers, data[end + 4 : end + 4 + length]
        pos = end + 4 + length


@functools.cache
def wet_pages(path: Path) -> list[tuple[dict[str, str], str]]:
    return [
        (h, body.decode("utf-8"))
        for h, body in iter_wet_records(path)
        if h.get("WARC-Type") == "conversion"
    ]


@pytest.fixture(scope="module")
def real_texts() -> list[str]:
    """Every page of every real WET file, then every document of the real C4 sample."""
    texts = [text for path in REAL_WET for _, text in wet_pages(path)]
    with gzip.open(C4_SAMPLE, "rt", encoding="utf-8") as f:
        texts += [json.loads(line)["text"] for line in f]
    return texts


@pytest.fixture(scope="module")
def rs() -> LangdetectRsDetector:
    return LangdetectRsDetector().load()


@pytest.fixture(scope="module")
def py() -> LangdetectDetector:
    return LangdetectDetector().load()


@pytest.fixture(scope="module")
def cld3() -> Cld3Detector:
    return Cld3Detector().load()


def outcome(detector: LanguageDetector, text: str) -> list[tuple[str, float]] | str:
    try:
        return detector.detect_langs(text)
    except LanguageDetectionError as e:
        return f"error {e.code}: {e}"


# --- detectors ------------------------------------------------------------------------------------


def test_make_detector_names() -> None:
    assert isinstance(make_detector(), LangdetectRsDetector)
    assert isinstance(make_detector("langdetect-rs"), LangdetectRsDetector)
    assert isinstance(make_detector("langdetect"), LangdetectDetector)
    assert isinstance(make_detector("cld3"), Cld3Detector)
    for name in ("langdetect-rs", "langdetect", "cld3"):
        detector = make_detector(name)
        assert isinstance(detector, LanguageDetector)
        assert detector.name == name
        assert not detector.loaded  # lazy
    with pytest.raises(ValueError, match="unknown language detector 'fasttext'"):
        make_detector("fasttext")


def test_import_loads_nothing_and_no_beam() -> None:
    code = (
        "import sys, filters.language as m\n"
        "heavy = ['apache_beam', 'langdetect', 'langdetect_rs', 'gcld3']\n"
        "print([h for h in heavy if h in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_profiles_load_sorted_in_both_detectors(
    rs: LangdetectRsDetector, py: LangdetectDetector
) -> None:
    from langdetect import detector_factory
    from langdetect_rs import _core

    names = sorted_profile_names(detector_factory.PROFILES_DIRECTORY)
    assert len(names) == 55
    assert names == sorted(names)
    # langdetect-rs embeds the same 55 profiles; its port checks their order when it loads.
    assert names == _core.builtin_files()
    LangdetectRsDetector("langdetect-rs").load()
    # The compiled port's table holds them in the same order.
    assert languages(load_table()) == names
    assert py._get_model().get_lang_list() == names


def test_profile_order_is_the_only_change_from_the_library_default() -> None:
    """load_json_profile in os.listdir order reproduces langdetect's own default bit for bit.

    So loading sorted through load_json_profile changes the order and nothing else. langdetect-rs's
    public default follows langdetect's os.listdir order too, which is what the reference runs.
    """
    import langdetect
    import langdetect_rs
    from langdetect import detector_factory

    directory = Path(detector_factory.PROFILES_DIRECTORY)
    factory = detector_factory.DetectorFactory()
    listed = [n for n in os.listdir(directory) if not n.startswith(".")]
    factory.load_json_profile([(directory / n).read_text(encoding="utf-8") for n in listed])
    factory.set_seed(0)
    langdetect.DetectorFactory.seed = 0
    langdetect_rs.DetectorFactory.seed = 0
    try:
        for text in [t for _, t in wet_pages(EXCERPT_2026)[:10]] + [ENGLISH, RUSSIAN_SHORT]:
            detector = factory.create()
            detector.append(text)
            mine = [(p.lang, p.prob) for p in detector.get_probabilities()]
            default = [(p.lang, p.prob) for p in langdetect.detect_langs(text)]
            rs_default = [(p.lang, p.prob) for p in langdetect_rs.detect_langs(text)]
            assert mine == default == rs_default
    finally:
        langdetect.DetectorFactory.seed = None
        langdetect_rs.DetectorFactory.seed = None


def test_rs_and_pure_agree_on_crafted_texts(
    rs: LangdetectRsDetector, py: LangdetectDetector
) -> None:
    texts = [ENGLISH, FRENCH, JAPANESE, RUSSIAN_SHORT, "", "1234567890", "   ", "http://x.org"]
    assert [outcome(rs, t) for t in texts] == [outcome(py, t) for t in texts]
    assert rs.detect_langs(ENGLISH)[0][0] == "en"
    langs = [lang for lang, _ in rs.detect_langs(RUSSIAN_SHORT)]
    assert langs == ["ru", "bg"]


@pytest.mark.parametrize("text", ["", "1234567890", "!!! ??? ...", "http://example.com/a"])
def test_no_features_raise_typed_error(
    text: str, rs: LangdetectRsDetector, py: LangdetectDetector
) -> None:
    for detector in (rs, py):
        with pytest.raises(LanguageDetectionError, match="No features in text") as info:
            detector.detect_langs(text)
        assert info.value.code == 5  # langdetect's ErrorCode.CantDetectError


def ports() -> list[LangdetectRsDetector]:
    """The default detector's ports that run here: the compiled core's where it is built, and
    langdetect-rs."""
    found = [LangdetectRsDetector("langdetect-rs").load()]
    if native is not None:
        found.insert(0, LangdetectRsDetector("compiled core").load())
    return found


def test_both_ports_agree_on_pages() -> None:
    texts = [*(text for _, text in wet_pages(EXCERPT_2026)[:60]), "", "42"]
    results = [[outcome(port, t) for t in texts] for port in ports()]
    assert all(r == results[0] for r in results)
    assert results[0][-2:] == ["error 5: No features in text."] * 2


@pytest.mark.slow
def test_ports_identical_to_langdetect_on_all_real_texts(
    real_texts: list[str], py: LangdetectDetector
) -> None:
    """Every (lang, prob) of each port equals langdetect 1.0.9's, on full texts (~12 s)."""
    assert len(real_texts) == 1296
    slow = [outcome(py, t) for t in real_texts]
    for port in ports():
        fast = [outcome(port, t) for t in real_texts]
        differ = [i for i, (a, b) in enumerate(zip(fast, slow, strict=True)) if a != b]
        assert differ == [], port.port


# --- pickling and threads -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["langdetect-rs", "langdetect", "cld3"])
def test_pickle_round_trip_drops_the_model(name: str) -> None:
    detector = make_detector(name).load()
    before = detector.detect_langs(ENGLISH)
    blob = pickle.dumps(detector)
    assert len(blob) < 1000  # no profiles or network inside
    clone = pickle.loads(blob)
    assert type(clone) is type(detector)
    assert not clone.loaded
    assert clone.detect_langs(ENGLISH) == before
    assert clone.loaded
    # A never-loaded detector pickles too (Beam pickles DoFns at graph construction).
    assert not pickle.loads(pickle.dumps(make_detector(name))).loaded


def test_cld3_pickle_keeps_parameters() -> None:
    clone = pickle.loads(pickle.dumps(Cld3Detector(min_num_bytes=0, max_num_bytes=500)))
    assert (clone.min_num_bytes, clone.max_num_bytes) == (0, 500)
    assert (
        (Cld3Detector().min_num_bytes, Cld3Detector().max_num_bytes)
        == (
            CLD3_MIN_NUM_BYTES,
            CLD3_MAX_NUM_BYTES,
        )
        == (100, 10000)
    )


@pytest.mark.parametrize("name", ["langdetect-rs", "cld3"])
def test_threads_share_one_lazy_detector(name: str) -> None:
    texts = [text for _, text in wet_pages(EXCERPT_2026)][:40]
    reference = make_detector(name).load()
    serial = [outcome(reference, t) for t in texts]
    shared = make_detector(name)  # first calls race to load it
    with ThreadPoolExecutor(max_workers=4) as pool:
        threaded = list(pool.map(lambda t: outcome(shared, t), texts))
    assert threaded == serial


# --- the English filter (C4 en, all versions) -----------------------------------------------------


class FixedDetector:
    """Returns fixed predictions: reaches the branches real langdetect output cannot."""

    name = "fixed"
    loaded = True

    def __init__(self, predictions: list[tuple[str, float]]) -> None:
        self.predictions = predictions

    def detect_langs(self, text: str) -> list[tuple[str, float]]:
        return self.predictions

    def load(self) -> FixedDetector:
        return self


def test_detect_english_on_crafted_texts(rs: LangdetectRsDetector) -> None:
    assert detect_english(ENGLISH, rs) == LangResult(True, "en", None, {"passed": 1})
    assert detect_english(FRENCH, rs) == LangResult(
        False,
        "fr",
        "filtered:ignored_language",
        {"filtered:ignored_language": 1, "filtered:ignored_language-fr": 1},
    )
    japanese = detect_english(JAPANESE, rs)
    assert japanese.counters == {
        "filtered:ignored_language": 1,
        "filtered:ignored_language-ja": 1,
    }
    assert detect_english(RUSSIAN_SHORT, rs) == LangResult(
        False, "ru", "filtered:low_confidence", {"filtered:low_confidence": 1}
    )
    for text in ("", "0123456789 42 7"):
        assert detect_english(text, rs) == LangResult(
            False, "", "filtered:langdetect_exception", {"filtered:langdetect_exception": 1}
        )


def test_detect_english_thresholds_and_empty_predictions() -> None:
    assert detect_english("x", FixedDetector([])) == LangResult(
        False, "", "filtered:no_predictions", {"filtered:no_predictions": 1}
    )
    # TFDS drops on prob < 0.99: exactly 0.99 passes.
    assert detect_english("x", FixedDetector([("en", 0.99)])).keep
    assert not detect_english("x", FixedDetector([("en", 0.98999999)])).keep
    # A low-confidence non-English page counts low_confidence only (the checks run in order).
    low = detect_english("x", FixedDetector([("de", 0.5), ("en", 0.4)]))
    assert low.counters == {"filtered:low_confidence": 1}
    assert detect_english("x", FixedDetector([("en", 0.9)]), min_probability=0.8).keep


def test_legacy_counter_names() -> None:
    assert legacy_counter_name("filtered:ignored_language-ja") == "page-filtered-ignoredlang-ja"
    assert legacy_counter_name("passed") == "page-emited-en"
    ignored = LangResult(
        False, "fr", "filtered:ignored_language",
        {"filtered:ignored_language": 1, "filtered:ignored_language-fr": 1},
    )  # fmt: skip
    assert english_filter_counters(ignored, resolve_rules("en", "2.2.0")) == (
        LEGACY_ENGLISH_FILTER_NAMESPACE,
        {"page-filtered-ignoredlang": 1, "page-filtered-ignoredlang-fr": 1},
    )
    assert english_filter_counters(ignored, resolve_rules("en", "1.0.0"))[0] == "detected-lang"
    assert english_filter_counters(ignored, resolve_rules("en", "3.1.0")) == (
        ENGLISH_FILTER_NAMESPACE,
        ignored.counters,
    )


def test_legacy_counter_names_are_the_old_sources() -> None:
    assert LEGACY_SRC.is_dir(), "reference sources not set up (make reference)"
    for source in ("tfds2.0.0_c4v2.2.0_c4_utils.py", "tfds1.3.0_c4v1.0.0_c4_utils.py"):
        text = (LEGACY_SRC / source).read_text(encoding="utf-8")
        assert '"detected-lang"' in text
        for name in LEGACY_COUNTER_NAMES.values():
            old = "page-emited-%s" if name == "page-emited-en" else name
            assert f'"{old}' in text, (source, name)
        assert '"page-filtered-ignoredlang-%s"' in text


# --- mC4 (CLD3) -----------------------------------------------------------------------------------


def test_mc4_languages_are_tfds_3_1_0s() -> None:
    import importlib.util

    spec = importlib.util.find_spec("tensorflow_datasets")
    assert spec is not None and spec.origin is not None
    c4_py = Path(spec.origin).parent / "text" / "c4.py"
    tree = ast.parse(c4_py.read_text(encoding="utf-8"))
    (tfds_list,) = [
        ast.literal_eval(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and any(getattr(t, "id", None) == "MC4_LANGUAGES" for t in node.targets)
    ]
    assert tuple(tfds_list) == MC4_LANGUAGES
    assert len(MC4_LANGUAGES) == 107


def test_mc4_decisions_on_crafted_texts(cld3: Cld3Detector) -> None:
    assert detect_mc4_language(FRENCH, cld3) == LangResult(
        True, "fr", None, {"passed": 1, "passed:fr": 1}
    )
    # Under 100 bytes CLD3 is not reliable: the page is kept as und.
    assert detect_mc4_language("Bonjour.", cld3) == LangResult(
        True,
        UNKNOWN_LANGUAGE,
        "filtered:no_predictions",
        {"filtered:no_predictions": 1, "passed": 1, "passed:und": 1},
    )
    assert cld3.detect_langs("") == [("und", 0.0)]
    # A reliable language outside the list is dropped.
    assert detect_mc4_language(FRENCH, cld3, languages=frozenset({"en"})) == LangResult(
        False, "fr", "filtered:ignored_language", {"filtered:ignored_language": 1}
    )


def test_mc4_on_real_multilingual_pages(cld3: Cld3Detector) -> None:
    expected = {"zho": "zh", "rus": "ru", "jpn": "ja", "kor": "ko"}
    totals: Counter[str] = Counter()
    hits: Counter[str] = Counter()
    for headers, text in wet_pages(EXCERPT_2026):
        result = detect_mc4_language(text, cld3)
        totals.update(result.counters)
        want = expected.get(headers.get("WARC-Identified-Content-Language", ""))
        if want is not None:
            # CLD3 agrees with Common Crawl's own label or says und, never another language.
            assert result.language in (want, UNKNOWN_LANGUAGE), (headers["WARC-Target-URI"], result)
            hits[want] += result.language == want
    assert hits == {"zh": 31, "ru": 14, "ja": 5, "ko": 3}
    # gcld3 3.1.0 on the 262 pages: every page passes, 45 of them as und.
    assert totals["passed"] == 262
    assert totals["filtered:no_predictions"] == 33
    assert totals["filtered:low_confidence"] == 12
    assert totals["passed:und"] == 45
    assert totals["filtered:ignored_language"] == 0


# --- against the TFDS reference -------------------------------------------------------------------

# Runs TFDS 4.9.10's own c4_utils.detect_english in the reference venv; counters are collected
# the way the reference harness does it. With "sorted", langdetect's global factory is replaced
# by one that loads its profiles in sorted name order (the change INTERFACE.md asks for).
_REFERENCE_SCRIPT = r"""
import collections, json, os, sys
import langdetect
from langdetect import detector_factory
from tensorflow_datasets.text import c4_utils

order, texts = sys.argv[1], json.load(sys.stdin)
if order == "sorted":
    directory = detector_factory.PROFILES_DIRECTORY
    names = sorted(n for n in os.listdir(directory)
                   if not n.startswith(".") and os.path.isfile(os.path.join(directory, n)))
    factory = detector_factory.DetectorFactory()
    profiles = []
    for name in names:
        with open(os.path.join(directory, name), encoding="utf-8") as f:
            profiles.append(f.read())
    factory.load_json_profile(profiles)
    detector_factory._factory = factory

counts = collections.Counter()
c4_utils.get_counter_inc_fn = lambda ns: lambda name, n=1: counts.update({ns + "/" + name: n})
seen = []
original = langdetect.detect_langs
def recording(text):
    try:
        predictions = original(text)
    except Exception:
        seen.append(None)
        raise
    seen.append([[p.lang, p.prob] for p in predictions])
    return predictions
langdetect.detect_langs = recording

out = []
for text in texts:
    counts.clear()
    page = c4_utils.PageFeatures(url="u", normalized_url="u", text=text)
    kept = list(c4_utils.detect_english(page))
    out.append({"keep": bool(kept), "counters": dict(counts), "predictions": seen[-1]})
json.dump(out, sys.stdout)
"""


def run_reference_detect_english(texts: list[str], order: str) -> list[dict]:
    proc = subprocess.run(
        [str(REFERENCE_PY), "-c", _REFERENCE_SCRIPT, order],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return json.loads(proc.stdout)


def ours(texts: list[str], detector: LangdetectRsDetector) -> list[dict]:
    rows = []
    for text in texts:
        result = detect_english(text, detector)
        try:
            predictions = [list(p) for p in detector.detect_langs(text)]
        except LanguageDetectionError:
            predictions = None
        counters = {f"{ENGLISH_FILTER_NAMESPACE}/{k}": v for k, v in result.counters.items()}
        rows.append({"keep": result.keep, "counters": counters, "predictions": predictions})
    return rows


@pytest.fixture(scope="module")
def reference_texts() -> list[str]:
    if not REFERENCE_PY.exists():
        pytest.fail("reference venv not set up (make reference)")
    texts = [text for path in REAL_WET for _, text in wet_pages(path)]
    return [*texts, ENGLISH, FRENCH, JAPANESE, RUSSIAN_SHORT, "", "0123456789"]


@pytest.mark.reference
@pytest.mark.slow
def test_reference_with_sorted_profiles_is_bit_identical(
    reference_texts: list[str], rs: LangdetectRsDetector
) -> None:
    """TFDS's detect_english with sorted profiles: same decisions, counters and every float."""
    assert run_reference_detect_english(reference_texts, "sorted") == ours(reference_texts, rs)


@pytest.mark.reference
@pytest.mark.slow
def test_reference_as_shipped_makes_the_same_decisions(
    reference_texts: list[str], rs: LangdetectRsDetector
) -> None:
    """The harness as shipped (os.listdir order): the same decisions and counters on every page.

    Probabilities may differ in their last bits (the sums run in another order), so they are
    compared to 1e-12 here.
    """
    reference = run_reference_detect_english(reference_texts, "listdir")
    mine = ours(reference_texts, rs)
    assert [(r["keep"], r["counters"]) for r in reference] == [
        (m["keep"], m["counters"]) for m in mine
    ]
    for r, m in zip(reference, mine, strict=True):
        if r["predictions"] is None or m["predictions"] is None:
            assert r["predictions"] == m["predictions"]
            continue
        assert [lang for lang, _ in r["predictions"]] == [lang for lang, _ in m["predictions"]]
        for (_, p), (_, q) in zip(r["predictions"], m["predictions"], strict=True):
            assert p == pytest.approx(q, abs=1e-12)
