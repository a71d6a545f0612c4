"""Where the report takes its numbers in the build: samples of pages and tallies, per bundle.

- ``enable_tallying(pipeline)`` turns on the tallies of every stage of the graph (a
  ``CountingDoFn`` then also counts pages dropped per reason and domain, languages detected, pages
  a stage changed: ``pipeline/transforms/common.py``). Set on the DoFn objects the ``ParDo``\\ s
  hold, before the graph is serialized to run: the stages themselves take no report flag.
- ``RawSampleFn`` on the stream ReadWet emits: the bottom-k sample of raw pages by the key of
  their doc_id, with their lengths (before any rule).
- ``KeptSampleFn`` on the documents: the bottom-k sample by the key of their url (lengths,
  provenance, an excerpt) and the kept documents per domain and TLD.

Each emits one ``SamplePart`` (and ``TallyBatch``) per bundle; ``pipeline.report.combine`` merges
them. The
lengths of a sampled page are measured when its bundle ends, on the pages still in the sample
only: counting the words of every page would cost more than the whole report may.

Private Beam APIs (docs/runners.md; ``pipeline.runners.PATCHED_BEAM_VERSION``):

- ``apache_beam.pipeline.PipelineVisitor`` (marked "for internal use only"): what
  ``Pipeline.visit`` walks the graph with, to reach the DoFns of ``enable_tallying``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import apache_beam as beam
from apache_beam.pipeline import PipelineVisitor
from apache_beam.transforms.window import GlobalWindows

from filters import report as rules
from filters.records import DeadLetter, Page
from filters.spec import C4Rules
from pipeline.transforms.common import CountingDoFn


class _Tallying(PipelineVisitor):  # type: ignore[misc]
    def __init__(self) -> None:
        self.count = 0

    def visit_transform(self, node: Any) -> None:
        fn = getattr(node.transform, "fn", None)
        if isinstance(fn, CountingDoFn):
            fn.tallying = True
            self.count += 1


def enable_tallying(pipeline: beam.Pipeline) -> int:
    """Turn on the report's tallies in every stage applied to ``pipeline`` so far; how many."""
    visitor = _Tallying()
    pipeline.visit(visitor)
    return visitor.count


def kept_item(key: bytes, url: str, split: str, page: Page) -> tuple[Any, ...]:
    """A kept-sample item (``pipeline.report.aggregates.KEPT_FIELDS`` after the key)."""
    size = rules.lengths_of(page.text)
    return (
        key,
        url,
        split,
        page.doc_id,
        page.source_file,
        int(page.record_offset),
        size.chars,
        size.words,
        size.lines,
        rules.excerpt(page.text),
    )


class SamplePart(NamedTuple):
    """One bundle's sample of a kind: its items, sorted, at most the kind's limit."""

    kind: str
    items: list[tuple[Any, ...]]


_key = rules.sample_key


def _emit(item: Any) -> Any:
    return GlobalWindows.windowed_value(item)


class RawSampleFn(beam.DoFn):
    """Union stream -> one ``SamplePart(sample:raw)`` per bundle; items are
    ``(key, doc_id, chars, words, lines)`` of the raw pages with the smallest keys."""

    def __init__(self) -> None:
        super().__init__()
        self._sample = rules.BottomK(rules.LIMITS[rules.RAW_SAMPLE])

    def start_bundle(self) -> None:
        self._sample = rules.BottomK(rules.LIMITS[rules.RAW_SAMPLE])

    def process(self, item: Any) -> Iterator[Any]:
        if type(item) is Page:
            key = _key(item.doc_id)
            sample = self._sample
            if sample.accepts((key, item.doc_id)):
                text = item.text
                lines = text.count("\n") + 1 if text else 0
                # Words wait for the bundle's end; a page past the cap is words' top bin anyway.
                sample.offer((key, item.doc_id, len(text), lines, text[: rules.WORDS_CAP_CHARS]))
        return iter(())

    def finish_bundle(self) -> Iterator[Any]:
        items = [
            (key, doc_id, chars, len(text.split()), lines)
            for key, doc_id, chars, lines, text in self._sample.items()
        ]
        if items:
            yield _emit(SamplePart(rules.RAW_SAMPLE, items))


class KeptSampleFn(beam.DoFn):
    """``(split, page)`` documents -> per bundle, one ``SamplePart(sample:kept)`` and the
    bundle's documents per domain and TLD (a ``TallyBatch``). ``(split, page, domain)`` too:
    documents read back from a build's outputs (``pipeline.report.recompute``)."""

    def __init__(self, rules_: C4Rules) -> None:
        super().__init__()
        # The url feature (pipeline.write.url_of): 1.0.0 writes the normalized url.
        self._normalized = rules_.version == "1.0.0"
        self._sample = rules.BottomK(rules.LIMITS[rules.KEPT_SAMPLE])
        self._tallies = rules.Tallies()

    def start_bundle(self) -> None:
        self._sample = rules.BottomK(rules.LIMITS[rules.KEPT_SAMPLE])
        self._tallies = rules.Tallies()

    def process(self, doc: tuple[str, Page] | tuple[str, Page, str]) -> Iterator[Any]:
        split, page = doc[0], doc[1]
        url = page.normalized_url if self._normalized else page.url
        # The domain lineage records (filters.lineage.document_domain of the page's own URL),
        # or, read back from a build's outputs, the one it recorded.
        domain = rules.url_domain(page.url or url) if len(doc) == 2 else doc[2]  # type: ignore[misc]
        tallies = self._tallies
        tallies.add(rules.DOMAIN, domain or rules.NO_DOMAIN)
        tallies.add(rules.TLD, rules.tld_of(domain))
        key = _key(url)
        if self._sample.accepts((key, url)):
            self._sample.offer((key, url, split, page))
        return iter(())

    def finish_bundle(self) -> Iterator[Any]:
        items = [kept_item(key, url, split, page) for key, url, split, page in self._sample.items()]
        if items:
            yield _emit(SamplePart(rules.KEPT_SAMPLE, items))
        if self._tallies:
            yield _emit(self._tallies.batch())


def dead_letter_tally(letter: DeadLetter) -> rules.TallyBatch:
    """A dead letter as a tally: its stage and the first word of its reason."""
    reason = letter.reason.split(":", 1)[0].strip()[:80] or "unknown"
    return rules.TallyBatch(((rules.DEAD_LETTER, f"{letter.stage}\t{reason}", 1),))


def is_tally_batch(x: object) -> bool:
    return isinstance(x, rules.TallyBatch)
