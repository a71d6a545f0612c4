"""FilterBadwords: 3.x's page-level LDNOOBW filter, after dedup and language ID (C4_SPEC §1.7)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from filters.badwords import NAMESPACE, PageBadwords
from filters.records import Page
from filters.spec import C4Rules
from pipeline.transforms.common import Counters, PageStage, PageStageFn
from pipeline.transforms.drops import drop_record


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

    def drop_records(self, page: Page, counters: Counters) -> Iterator[Any]:
        lang = page.language.split("-")[0]
        detail = f"a word of the {lang!r} bad-words list"
        yield drop_record(page, counters, detail=detail, language=page.language)


class FilterBadwords(PageStage):
    """Drop (or, in mC4, softly keep) pages with a bad word of their language."""

    def __init__(self, rules: C4Rules) -> None:
        super().__init__(_BadwordsFn(rules))
