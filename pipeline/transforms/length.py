"""FilterLength: TFDS's ``is_valid_length`` (C4_SPEC §1.1 step 3)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from filters.length import NAMESPACE, is_valid_length
from filters.records import Page
from filters.spec import TFDS_MAX_PAGE_LENGTH
from pipeline.transforms.common import Counters, PageStage, PageStageFn
from pipeline.transforms.drops import drop_record


class _LengthFn(PageStageFn):
    stage = NAMESPACE

    def decide(self, page: Page) -> tuple[Page | None, Counters]:
        keep, reason = is_valid_length(page.text)
        return (page if keep else None), {f"{NAMESPACE}/{reason}": 1}

    def drop_records(self, page: Page, counters: Counters) -> Iterator[Any]:
        detail = f"{len(page.text):,} characters (at most {TFDS_MAX_PAGE_LENGTH:,})"
        yield drop_record(page, counters, detail=detail)


class FilterLength(PageStage):
    """Drop pages longer than 190,000 characters (``too-long-filter``)."""

    def __init__(self) -> None:
        super().__init__(_LengthFn())
