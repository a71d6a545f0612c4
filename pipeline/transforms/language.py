"""FilterLanguage: langdetect (English configs) or CLD3 (mC4) on the deduplicated text.

C4_SPEC §1.6 and §2.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from filters.language import (
    ENGLISH_FILTER_NAMESPACE,
    MC4_LANGUAGE_FILTER_NAMESPACE,
    detect_english,
    detect_mc4_language,
    make_detector,
)
from filters.records import Page
from filters.spec import C4Rules
from pipeline.transforms.common import Counters, PageStage, PageStageFn, prefixed
from pipeline.transforms.resume import DecisionCache, text_key


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
        else:
            key = text_key(page.text)
            result = self._cache.get(key)
            if result is None:
                result = self._detect(page.text)
                self._cache.put(key, result)
        counters = prefixed(self.stage, result.counters)
        if self.report is not None:  # the language detected, before the filter decides
            self.report.language(result.language, result.reason == "filtered:low_confidence")
        if not result.keep:
            return None, counters
        return page._replace(language=result.language), counters


class FilterLanguage(PageStage):
    """Keep English pages (p >= 0.99), or tag mC4 pages with their CLD3 language."""

    def __init__(self, rules: C4Rules, detector_name: str, resume_dir: str | None = None) -> None:
        super().__init__(_LanguageFn(rules, detector_name, resume_dir))
