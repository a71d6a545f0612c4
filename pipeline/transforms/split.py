"""SplitByUrl: train/validation by md5(normalized url) % 1000 (C4_SPEC §1.8); mC4 per language."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import apache_beam as beam

from filters.records import Page
from filters.spec import C4Rules
from filters.urls import split_for
from pipeline.transforms.common import CountingDoFn


def split_name(page: Page, rules: C4Rules) -> str:
    """The split of a kept page: ``train``/``validation``, or ``<lang>[-validation]`` in mC4."""
    split = split_for(page.normalized_url, rules.has_validation)
    if rules.config == "multilingual":
        return page.language if split == "train" else f"{page.language}-validation"
    return split


class _SplitFn(CountingDoFn):
    def __init__(self, rules: C4Rules) -> None:
        super().__init__()
        self._rules = rules

    def process(self, item: Any) -> Iterator[Any]:
        if not isinstance(item, Page):
            yield item
            return
        split = split_name(item, self._rules)
        self.count({f"{split}/examples": 1})
        if self.report is not None:
            self.report.kept(split, item)
        yield split, item


class SplitByUrl(beam.PTransform):
    """A union stream -> the same stream with each page as a document ``(split, page)``."""

    def __init__(self, rules: C4Rules) -> None:
        super().__init__()
        self._rules = rules

    def expand(self, stream: beam.PCollection) -> beam.PCollection:
        return stream | "Assign" >> beam.ParDo(_SplitFn(self._rules))
