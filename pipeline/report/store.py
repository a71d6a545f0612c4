"""A built DIR as the report reads it, and the report's files, through Beam's ``FileSystems``.

Local paths and ``gs://`` alike. The report reads only small files: ``stats.json``,
``config.json``, ``report/aggregates.json`` and ``masked/config.json``, plus the first rows of
each split's first masked Parquet shard (a bounded sample of masked examples). It never reads
the documents: an older build without aggregates goes through ``pipeline.report.recompute``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NamedTuple

import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from pipeline import lineage, summary
from pipeline.io.output import read_text
from pipeline.report.aggregates import AGGREGATES_PATH
from pipeline.write import join, write_atomic

REPORT_HTML = "report.html"
RUN_JSON = "run.json"
# Masked examples sampled per split (the first rows of its first shard).
MASKED_SAMPLE = 1000


class NotABuild(ValueError):
    """The directory holds no finished ``c4 build`` (no ``stats.json``)."""


class BuildFiles(NamedTuple):
    """What the page is made from: every field is file content (``masked`` is ours, below)."""

    stats: dict[str, Any]
    config: dict[str, Any]
    aggregates: dict[str, Any] | None
    masked: dict[str, Any] | None


def read_json(path: str) -> Any:
    """The JSON content of ``path``, ``None`` if it does not exist."""
    text = read_text(path)
    return None if text is None else json.loads(text)


def write_json(path: str, content: Any) -> None:
    """``content`` as deterministic JSON (sorted keys), written atomically."""
    write_atomic(path, summary.json_text(content).encode("utf-8"))


def write_page(path: str, page: str) -> None:
    write_atomic(path, page.encode("utf-8"))


def _sentinel_floor(config: Mapping[str, Any]) -> int:
    vocab = config.get("vocab", {})
    return int(vocab.get("first_sentinel", 0)) + 1 - int(vocab.get("extra_ids", 0))


def masked_examples(path: str, floor: int, limit: int = MASKED_SAMPLE) -> list[list[int]]:
    """``[inputs, targets, sentinels in inputs, sentinels in targets, documents]`` of the first
    ``limit`` examples of a masked Parquet file."""
    columns = ["inputs", "targets", "doc_ids"]
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        table = pq.ParquetFile(handle)
        rows: list[list[int]] = []
        for batch in table.iter_batches(batch_size=limit, columns=columns, use_threads=False):
            for ex in batch.to_pylist()[: limit - len(rows)]:
                s_in = sum(1 for t in ex["inputs"] if t >= floor)
                s_out = sum(1 for t in ex["targets"] if t >= floor)
                rows.append(
                    [len(ex["inputs"]), len(ex["targets"]), s_in, s_out, len(ex["doc_ids"])]
                )
            if len(rows) >= limit:
                break
    return rows


def read_masked(output_dir: str) -> dict[str, Any] | None:
    """``masked/config.json`` and a sample of each split's masked examples; None if unmasked."""
    config = read_json(join(output_dir, "masked", "config.json"))
    if config is None:
        return None
    floor = _sentinel_floor(config)
    sample: dict[str, list[list[int]]] = {}
    for path in lineage.masked_parquet_files(output_dir):
        split = path.rstrip("/").split("/")[-2]
        if split not in sample and ".tmp-" not in path:
            sample[split] = masked_examples(path, floor)
    return {"config": config, "sample": dict(sorted(sample.items()))}


def load_build(output_dir: str) -> BuildFiles:
    """The files of a finished build that the report reads.

    Raises:
        NotABuild: no ``stats.json`` (not a build, or one that did not finish).
    """
    stats = read_json(join(output_dir, "stats.json"))
    if stats is None:
        raise NotABuild(f"{output_dir} holds no finished c4 build (no stats.json)")
    config = read_json(join(output_dir, "config.json")) or {}
    aggregates = read_json(join(output_dir, AGGREGATES_PATH))
    return BuildFiles(stats, config, aggregates, read_masked(output_dir))


def remove_report(output_dir: str) -> bool:
    """Delete a build's page and aggregates (``c4 forget``: they list sampled documents by url,
    with an excerpt, and count documents per domain); whether there was one to delete."""
    paths = [join(output_dir, REPORT_HTML), join(output_dir, AGGREGATES_PATH)]
    found = [path for path in paths if FileSystems.exists(path)]
    if found:
        FileSystems.delete(found)
    return bool(found)
