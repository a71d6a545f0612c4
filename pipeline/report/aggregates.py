"""The merged report parts -> the content of ``DIR/report/aggregates.json``. Pure.

The parts come from ``pipeline.report.combine.ReportCombineFn`` (in ``c4 build``, or in the job
of ``pipeline.report.recompute`` over an older build's outputs): per kind, the items that
survived, sorted. Tally items are ``(-count, key)``; sample items are tuples led by their sample
key (``pipeline.report.taps`` says which fields follow).

``source`` says where they were taken: ``build`` (every aggregate) or ``outputs`` (only what the
written documents hold: no raw pages, no drop domains, no language detail; the page says so).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from filters import report as rules
from pipeline.summary import is_drop_counter

SCHEMA_VERSION = 1
AGGREGATES_PATH = "report/aggregates.json"
SOURCE_BUILD = "build"
SOURCE_OUTPUTS = "outputs"
# Fields of a kept-sample item after its key (``pipeline.report.taps.kept_item``).
KEPT_FIELDS = (
    "url",
    "split",
    "doc_id",
    "source_file",
    "record_offset",
    "chars",
    "words",
    "lines",
    "excerpt",
)
STATS_KIND = "stats"


def _tally(items: Sequence[Sequence[Any]]) -> list[list[Any]]:
    return [[key, -neg] for neg, key in items]


def _lengths(items: Sequence[Sequence[Any]], first: int) -> dict[str, Any]:
    return rules.length_summary([rules.Lengths(*item[first : first + 3]) for item in items])


def kept_document(item: Sequence[Any]) -> dict[str, Any]:
    """A kept-sample item as the JSON object ``aggregates.json`` lists."""
    doc = dict(zip(KEPT_FIELDS, item[1:], strict=True))
    return {"key": rules.key_hex(item[0]), **doc}


def build_aggregates(parts: Mapping[str, Sequence[Sequence[Any]]], source: str) -> dict[str, Any]:
    """``aggregates.json`` from the merged parts (every kind optional)."""
    kept = list(parts.get(rules.KEPT_SAMPLE, ()))
    raw = list(parts.get(rules.RAW_SAMPLE, ()))
    dropped = {
        kind[len(rules.DROP_PREFIX) :]: _tally(items)
        for kind, items in sorted(parts.items())
        if kind.startswith(rules.DROP_PREFIX) and is_drop_counter(kind[len(rules.DROP_PREFIX) :])
    }
    from_build = source == SOURCE_BUILD
    documents = [kept_document(item) for item in kept[: rules.DOCUMENT_SAMPLE]]
    return {
        "schema_version": SCHEMA_VERSION,
        "source": source,
        "sampling": {
            "key": "first 64 bits of BLAKE2b of the doc_id (raw pages) or the url (kept)",
            "raw_pages": rules.LIMITS[rules.RAW_SAMPLE],
            "kept_documents": rules.LIMITS[rules.KEPT_SAMPLE],
            "documents_listed": rules.DOCUMENT_SAMPLE,
        },
        "lengths": {
            "before": _lengths(raw, 2) if from_build else None,
            "after": _lengths(kept, 6),
        },
        "domains": _tally(parts.get(rules.DOMAIN, ())),
        "tlds": _tally(parts.get(rules.TLD, ())),
        "dropped_domains": dropped if from_build else None,
        "languages": _tally(parts.get(rules.LANGUAGE, ())) if from_build else None,
        "languages_unsure": _tally(parts.get(rules.LANGUAGE_UNSURE, ())) if from_build else None,
        "touched": dict(_tally(parts.get(rules.TOUCHED, ()))) if from_build else None,
        "dead_letters": [
            [*key.split("\t", 1), n] for key, n in _tally(parts.get(rules.DEAD_LETTER, ()))
        ],
        "documents": documents,
        # Every kept document is listed: a document absent here is absent from the build.
        "documents_complete": len(kept) < rules.LIMITS[rules.KEPT_SAMPLE]
        and len(kept) <= rules.DOCUMENT_SAMPLE,
    }
