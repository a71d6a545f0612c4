"""FilterLength: TFDS's ``is_valid_length`` (C4_SPEC §1.1 step 3)."""

from __future__ import annotations

from filters.length import NAMESPACE, is_valid_length
from filters.records import Page
from pipeline.transforms.common import Counters, PageStage, PageStageFn


class _LengthFn(PageStageFn):
    stage = NAMESPACE

    def decide(self, page: Page) -> tuple[Page | None, Counters]:
        keep, reason = is_valid_length(page.text)
        return (page if keep else None), {f"{NAMESPACE}/{reason}": 1}


class FilterLength(PageStage):
    """Drop pages longer than 190,000 characters (``too-long-filter``)."""

    def __init__(self) -> None:
        super().__init__(_LengthFn())
