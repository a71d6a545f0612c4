"""FilterLanguage: langdetect (English configs) or CLD3 (mC4) on the deduplicated text.

C4_SPEC §1.6 and §2.
"""

from __future__ import annotations

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


class _LanguageFn(PageStageFn):
    def __init__(self, rules: C4Rules, detector_name: str) -> None:
        super().__init__()
        self._mc4 = rules.language_detector == "cld3"
        self.stage = MC4_LANGUAGE_FILTER_NAMESPACE if self._mc4 else ENGLISH_FILTER_NAMESPACE
        self._detector_name = detector_name
        self._detector: Any = None

    def setup(self) -> None:
        # Profiles load once per worker; the detectors are thread-safe and seeded per call.
        self._detector = make_detector(self._detector_name).load()

    def decide(self, page: Page) -> tuple[Page | None, Counters]:
        if self._mc4:
            result = detect_mc4_language(page.text, self._detector)
        else:
            result = detect_english(page.text, self._detector)
        counters = prefixed(self.stage, result.counters)
        if self.report is not None:  # the language detected, before the filter decides
            self.report.language(result.language, result.reason == "filtered:low_confidence")
        if not result.keep:
            return None, counters
        return page._replace(language=result.language), counters


class FilterLanguage(PageStage):
    """Keep English pages (p >= 0.99), or tag mC4 pages with their CLD3 language."""

    def __init__(self, rules: C4Rules, detector_name: str) -> None:
        super().__init__(_LanguageFn(rules, detector_name))
