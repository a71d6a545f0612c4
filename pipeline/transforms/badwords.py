"""FilterBadwords: 3.x's page-level LDNOOBW filter, after dedup and language ID (C4_SPEC §1.7)."""

from __future__ import annotations

from filters.badwords import NAMESPACE, PageBadwords
from filters.records import Page
from filters.spec import C4Rules
from pipeline.transforms.common import Counters, PageStage, PageStageFn


class _BadwordsFn(PageStageFn):
    stage = NAMESPACE

    def __init__(self, rules: C4Rules) -> None:
        super().__init__()
        self._fraction = rules.badwords_filter_fraction
        self._filter: PageBadwords | None = None

    def setup(self) -> None:
        self._filter = PageBadwords.for_c4(self._fraction)

    def decide(self, page: Page) -> tuple[Page | None, Counters]:
        assert self._filter is not None
        result = self._filter.decide(page.text, page.language, page.normalized_url)
        counters = {f"{ns}/{name}": n for (ns, name), n in result.counters.items()}
        return (page if result.keep else None), counters


class FilterBadwords(PageStage):
    """Drop (or, in mC4, softly keep) pages with a bad word of their language."""

    def __init__(self, rules: C4Rules) -> None:
        super().__init__(_BadwordsFn(rules))
