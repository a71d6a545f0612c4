"""FilterParagraphs: mC4's "three lines of 200 characters" rule (C4_SPEC §2)."""

from __future__ import annotations

from filters.paragraph import NAMESPACE, paragraph_filter
from filters.records import Page
from pipeline.transforms.common import Counters, PageStage, PageStageFn


class _ParagraphFn(PageStageFn):
    stage = NAMESPACE
    # Runs before DedupUrls, settled there (pipeline/transforms/common.py "Pending").
    provisional = True

    def decide(self, page: Page) -> tuple[Page | None, Counters]:
        keep, reason = paragraph_filter(page.text)
        return (page if keep else None), {f"{NAMESPACE}/{reason}": 1}


class FilterParagraphs(PageStage):
    """Keep pages with at least three lines of at least 200 characters (``paragraph-filter``)."""

    def __init__(self) -> None:
        super().__init__(_ParagraphFn())
