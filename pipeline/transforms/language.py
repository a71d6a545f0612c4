"""FilterLanguage: langdetect (English configs) or CLD3 (mC4) on the deduplicated text.

C4_SPEC §1.6 and §2.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from filters.language import (
    ENGLISH_FILTER_NAMESPACE,
    MC4_LANGUAGE_FILTER_NAMESPACE,
    LangResult,
    detect_english,
    detect_mc4_language,
    make_detector,
)
from filters.records import Page
from filters.spec import C4Rules
from pipeline.transforms.common import Counters, PageStage, PageStageFn, prefixed
from pipeline.transforms.drops import drop_record
from pipeline.transforms.resume import DecisionCache, text_key


class _Heard:
    """A detector that remembers its last text and top prediction: the probability the rule
    compared, which ``LangResult`` does not carry, for ``c4 build --record_drops``."""

    def __init__(self, detector: Any) -> None:
        self._detector = detector
        self.last: tuple[str, str, float] | None = None

    def detect_langs(self, text: str) -> Any:
        self.last = None
        predictions = self._detector.detect_langs(text)
        if predictions:
            self.last = (text, str(predictions[0][0]), float(predictions[0][1]))
        return predictions

    def find_language(self, text: str) -> Any:
        self.last = None
        prediction = self._detector.find_language(text)
        self.last = (text, str(prediction.language), float(prediction.probability))
        return prediction


class _LanguageFn(PageStageFn):
    def __init__(self, rules: C4Rules, detector_name: str, resume_dir: str | None = None) -> None:
        super().__init__()
        self._mc4 = rules.language_detector == "cld3"
        self.stage = MC4_LANGUAGE_FILTER_NAMESPACE if self._mc4 else ENGLISH_FILTER_NAMESPACE
        self._detector_name = detector_name
        self._detector: Any = None
        self._resume_dir = resume_dir
        self._cache: DecisionCache | None = None

    def setup(self) -> None:
        # Profiles load once per worker; the detectors are thread-safe and seeded per call.
        self._detector = make_detector(self._detector_name).load()
        if self.record_drops:
            self._detector = _Heard(self._detector)
        if self._resume_dir is not None:  # c4 build --resumable: earlier attempts' decisions
            self._cache = DecisionCache(self._resume_dir)
            self._cache.load()

    def finish_bundle(self) -> Iterator[Any]:
        if self._cache is not None:
            self._cache.flush()
        yield from super().finish_bundle()

    def _detect(self, text: str) -> Any:
        if self._mc4:
            return detect_mc4_language(text, self._detector)
        return detect_english(text, self._detector)

    def decide(self, page: Page) -> tuple[Page | None, Counters]:
        if self._cache is None:
            result = self._detect(page.text)
        else:  # c4 build --resumable: kept with what --record_drops reports of the prediction
            key = text_key(page.text)
            kept = self._cache.get(key)
            if kept is None:
                result = self._detect(page.text)
                heard = getattr(self._detector, "last", None)
                # A plain tuple: pickled in C, a NamedTuple through Python calls.
                self._cache.put(key, (*result, heard[1:] if heard is not None else None))
            else:
                result, heard = LangResult(*kept[:4]), kept[4]
                if isinstance(self._detector, _Heard):
                    self._detector.last = (page.text, *heard) if heard is not None else None
        self._result = result  # for drop_records
        counters = prefixed(self.stage, result.counters)
        if self.report is not None:  # the language detected, before the filter decides
            self.report.language(result.language, result.reason == "filtered:low_confidence")
        if not result.keep:
            return None, counters
        return page._replace(language=result.language), counters

    def drop_records(self, page: Page, counters: Counters) -> Iterator[Any]:
        language = self._result.language
        heard = getattr(self._detector, "last", None)
        if heard is None or heard[0] != page.text:  # no prediction, or an earlier attempt's
            detail = f"detected {language}" if language else "no language detected"
            yield drop_record(page, counters, detail=detail, language=language)
            return
        _, language, probability = heard
        detail = f"detected {language} with probability {probability:.6f}"
        yield drop_record(page, counters, detail=detail, language=language, probability=probability)


class FilterLanguage(PageStage):
    """Keep English pages (p >= 0.99), or tag mC4 pages with their CLD3 language."""

    def __init__(self, rules: C4Rules, detector_name: str, resume_dir: str | None = None) -> None:
        super().__init__(_LanguageFn(rules, detector_name, resume_dir))
