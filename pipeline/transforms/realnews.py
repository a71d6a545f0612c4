"""FilterRealnews: the ``realnewslike`` domain allowlist (C4_SPEC §1.10)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from filters.realnews import NAMESPACE, default_filter
from filters.records import Page
from filters.spec import C4Rules
from pipeline.transforms.common import Counters, PageStage, PageStageFn
from pipeline.transforms.drops import drop_record


class _RealnewsFn(PageStageFn):
    stage = NAMESPACE

    def __init__(self, rules: C4Rules) -> None:
        super().__init__()
        # 3.x checks the normalized URL, 2.x the raw one.
        self._normalized = rules.major >= 3
        self._filter: Any = None

    def setup(self) -> None:
        self._filter = default_filter()

    def decide(self, page: Page) -> tuple[Page | None, Counters]:
        url = page.normalized_url if self._normalized else page.url
        keep, reason = self._filter.decide(url)
        return (page if keep else None), {f"{NAMESPACE}/{reason}": 1}

    def drop_records(self, page: Page, counters: Counters) -> Iterator[Any]:
        which = "normalized URL" if self._normalized else "URL"
        yield drop_record(page, counters, detail=f"its {which} is not on a RealNews domain")


class FilterRealnews(PageStage):
    """Keep pages on Grover's RealNews domains (``realnews-domain-filter``)."""

    def __init__(self, rules: C4Rules) -> None:
        super().__init__(_RealnewsFn(rules))
