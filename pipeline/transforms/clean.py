"""CleanPages: C4's line filter ``clean_page`` (C4_SPEC §1.4), bad words inside it for 2.x/1.0.0."""

from __future__ import annotations

from typing import Any

from filters.badwords import LineBadwords
from filters.clean import NAMESPACE, clean_page
from filters.records import Page
from filters.sentences import load_punkt
from filters.spec import C4Rules
from pipeline.transforms.common import Counters, PageStage, PageStageFn, prefixed


class _CleanFn(PageStageFn):
    stage = NAMESPACE
    # Runs before DedupUrls, settled there (pipeline/transforms/common.py "Pending").
    provisional = True

    def __init__(self, rules: C4Rules) -> None:
        super().__init__()
        self._rules = rules
        self._sentences: Any = None
        self._badwords: LineBadwords | None = None

    def setup(self) -> None:
        # Loaded per worker, not pickled with the DoFn: punkt and the regex are large.
        self._sentences = load_punkt()
        if self._rules.badwords_in_clean:
            self._badwords = LineBadwords.for_c4()

    def decide(self, page: Page) -> tuple[Page | None, Counters]:
        result = clean_page(page.text, self._rules, self._sentences, self._badwords)
        counters = prefixed(NAMESPACE, result.counters)
        if result.text is None:
            return None, counters
        return page._replace(text=result.text), counters


class CleanPages(PageStage):
    """Apply ``clean_page`` and drop the pages it rejects (``clean-page``)."""

    def __init__(self, rules: C4Rules) -> None:
        super().__init__(_CleanFn(rules))
