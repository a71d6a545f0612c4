"""SplitByUrl: train/validation by md5(normalized url) % 1000 (C4_SPEC §1.8); mC4 per language."""

from __future__ import annotations

from collections.abc import Iterator

import apache_beam as beam

from filters.records import Page
from filters.spec import C4Rules
from filters.urls import split_for
from pipeline.transforms.common import Counters, CountingDoFn, is_counters


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

    def process(self, page: Page) -> Iterator[tuple[str, Page] | Counters]:
        split = split_name(page, self._rules)
        yield self.counted({f"{split}/examples": 1})
        yield split, page


def _is_doc(x: object) -> bool:
    return not isinstance(x, dict)


class SplitByUrl(beam.PTransform):
    """Pages -> ``(docs, counters)`` where a doc is ``(split, page)``."""

    def __init__(self, rules: C4Rules) -> None:
        super().__init__()
        self._rules = rules

    def expand(self, pages: beam.PCollection) -> tuple[beam.PCollection, beam.PCollection]:
        out = pages | "Assign" >> beam.ParDo(_SplitFn(self._rules))
        docs = out | "Docs" >> beam.Filter(_is_doc)
        counters = out | "Counters" >> beam.Filter(is_counters)
        return docs, counters
