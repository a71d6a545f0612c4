"""A build made before the report: its aggregates recomputed by a Beam job over its outputs.

The documents are in ``DIR/parquet/`` (text, url, provenance) and ``DIR/lineage/`` (domain, same
rows in the same order), the counters in ``stats.json``, the unreadable input in
``dead_letter/``. The job reads each shard once, spread over workers, and feeds the same recorder
and combiners as ``c4 build`` (``filters.report.Recorder``, ``ReportParts``), so what it can
compute equals what the build would have (tested). What only the build sees is left out, and the
page says so: raw pages before any rule, the domains of dropped pages, the language of each page
the detector was unsure of, the pages line dedup changed (``aggregates.json`` ``source:
outputs``).
"""

from __future__ import annotations

import io
import json
import posixpath
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import apache_beam as beam
import pyarrow.parquet as pq

from filters.records import DeadLetter, Page
from filters.spec import resolve_rules
from pipeline import lineage
from pipeline.report.aggregates import SOURCE_OUTPUTS, build_aggregates
from pipeline.report.combine import Part, ReportParts, merge_parts, split_stats, tally_buckets
from pipeline.report.taps import KeptDocumentsFn
from pipeline.write import join

DOC_COLUMNS = ["url", "text", "doc_id", "source_file", "record_offset"]
LINEAGE_COLUMNS = ["domain", "normalized_url"]

Shard = tuple[str, str, str]  # split, Parquet file, its lineage twin


def shards_of(output_dir: str) -> list[Shard]:
    """Every document shard of a build with its lineage file, in split and shard order."""
    out = []
    for path in lineage.match_paths(join(output_dir, "parquet", "*", "part-*.parquet")):
        split = posixpath.basename(posixpath.dirname(path))
        out.append((split, path, lineage.lineage_path(output_dir, split, posixpath.basename(path))))
    return out


def _table(path: str, columns: list[str]) -> Any:
    return pq.read_table(io.BytesIO(lineage.read_bytes(path)), columns=columns, use_threads=False)


def read_documents(shard: Shard) -> Iterator[tuple[str, Page, str]]:
    """``(split, page, domain)`` of a shard's documents (the page holds what the taps read)."""
    split, parquet_path, lineage_path = shard
    docs = _table(parquet_path, DOC_COLUMNS).to_pylist()
    lines = _table(lineage_path, LINEAGE_COLUMNS).to_pylist()
    if len(docs) != len(lines):
        raise ValueError(f"{lineage_path}: {len(lines)} rows for {len(docs)} documents")
    for doc, line in zip(docs, lines, strict=True):
        page = Page(
            url=doc["url"],
            normalized_url=line["normalized_url"],
            text=doc["text"],
            timestamp="",
            content_type="",
            content_length="",
            doc_id=doc["doc_id"],
            source_file=doc["source_file"],
            record_offset=int(doc["record_offset"]),
        )
        yield split, page, line["domain"]


def dead_letters_of(output_dir: str) -> list[DeadLetter]:
    """The dead letters a build wrote (``dead_letter/*.jsonl``)."""
    letters = []
    for path in lineage.match_paths(join(output_dir, "dead_letter", "*.jsonl")):
        for line in lineage.read_bytes(path).decode("utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                letters.append(
                    DeadLetter(
                        row["stage"], row["source_file"], row["record_offset"], row["reason"]
                    )
                )
    return letters


class _SaveFn(beam.DoFn):
    def __init__(self, path: str) -> None:
        super().__init__()
        self._path = path

    def process(self, gathered: tuple[str, Iterable[Part]]) -> Iterator[int]:
        _, parts = split_stats(merge_parts(gathered[1]))
        aggregates = build_aggregates(parts, SOURCE_OUTPUTS)
        Path(self._path).write_text(json.dumps(aggregates, sort_keys=True), encoding="utf-8")
        yield 1


def recompute(output_dir: str, stats: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """``aggregates.json`` of a finished build, from its outputs (DirectRunner, this machine)."""
    from pipeline.command import run_to_completion
    from pipeline.runners.select import make_runner

    rules = resolve_rules(str(config.get("config", stats["config"])),
                          str(config.get("c4_version", stats["c4_version"])))  # fmt: skip
    shards = shards_of(output_dir)
    with tempfile.TemporaryDirectory(prefix="c4-report-") as tmp:
        saved = str(Path(tmp) / "aggregates.json")
        p = beam.Pipeline(runner=make_runner("DirectRunner"))
        docs = (
            p
            | "Shards" >> beam.Create(shards)
            | "Spread" >> beam.Reshuffle()
            | "ReadDocuments" >> beam.FlatMap(read_documents)
        )
        emitted = (
            docs | "Record" >> beam.ParDo(KeptDocumentsFn(rules)),
            p | "DeadLettersAndStats" >> beam.Create([*dead_letters_of(output_dir), stats]),
        ) | "Emitted" >> beam.Flatten()
        merged = emitted | "Merge" >> ReportParts(tally_buckets(len(shards)))
        _ = merged | "Save" >> beam.ParDo(_SaveFn(saved))
        run_to_completion(p)
        aggregates: dict[str, Any] = json.loads(Path(saved).read_text(encoding="utf-8"))
    return aggregates
