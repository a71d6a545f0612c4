"""``c4 inspect``: a deterministic sample of a build's documents, with text and provenance.

The sample is the documents with the smallest sample keys (``filters.report.sample_key`` of the
url: the report's own sample, so ``c4 inspect DIR`` shows the documents the report lists first),
optionally of one domain and its subdomains (the matching of ``c4 forget --domains``). The
lineage files are read a file at a time (a few columns, only the best ``n`` rows kept), then the
text and record id of those ``n`` documents from their Parquet shards.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import pyarrow.parquet as pq

from filters import report as rules
from filters.lineage import in_domains
from pipeline import lineage
from pipeline.write import join

LINEAGE_COLUMNS = [
    "doc_id", "url", "domain", "split", "source_file", "record_offset", "parquet_file",
    "parquet_row", "tfrecord_file", "tfrecord_index",
]  # fmt: skip


def candidates(output_dir: str, domain: str = "") -> Iterator[tuple[bytes, str, dict[str, Any]]]:
    """``(sample key, url, lineage row)`` of every document (of ``domain``, if given)."""
    wanted = frozenset({domain}) if domain else frozenset()
    for path in lineage.lineage_files(output_dir):
        for row in lineage.read_rows(path, LINEAGE_COLUMNS):
            if wanted and not in_domains(row["domain"], wanted):
                continue
            yield rules.sample_key(row["url"]), row["url"], row


def _texts(output_dir: str, rows: Iterable[Mapping[str, Any]]) -> dict[tuple[str, int], Any]:
    """``(parquet file, row) -> (text, record_id)`` of the given documents."""
    wanted: dict[str, set[int]] = {}
    for row in rows:
        wanted.setdefault(row["parquet_file"], set()).add(int(row["parquet_row"]))
    found: dict[tuple[str, int], Any] = {}
    for rel, positions in sorted(wanted.items()):
        data = lineage.read_bytes(join(output_dir, rel))
        table = pq.read_table(io.BytesIO(data), columns=["text", "record_id"], use_threads=False)
        for i in sorted(positions):
            found[(rel, i)] = (table["text"][i].as_py(), table["record_id"][i].as_py())
    return found


def sample(output_dir: str, n: int, domain: str = "") -> list[dict[str, Any]]:
    """The ``n`` documents of the sample (of ``domain``), smallest key first, with their text."""
    best = rules.smallest(candidates(output_dir, domain), n)
    rows = [row for _, _, row in best]
    texts = _texts(output_dir, rows)
    out = []
    for key, _, row in best:
        text, record_id = texts[(row["parquet_file"], int(row["parquet_row"]))]
        out.append({**row, "key": rules.key_hex(key), "text": text, "record_id": record_id})
    return out


def format_document(doc: Mapping[str, Any], index: int, total: int, max_chars: int) -> str:
    """One document as ``c4 inspect`` prints it: a header of provenance, then the text."""
    text = doc["text"]
    size = rules.lengths_of(text)
    lines = [
        f"── {index}/{total} ── {doc['url']}",
        f"split {doc['split']} · doc_id {doc['doc_id']} · domain {doc['domain'] or '(none)'} · "
        f"{size.chars:,} chars, {size.words:,} words, {size.lines:,} lines",
        f"source {doc['source_file']} at offset {doc['record_offset']:,} · record "
        f"{doc['record_id'] or '(none)'}",
        f"stored {doc['parquet_file']} row {doc['parquet_row']} · {doc['tfrecord_file']} "
        f"record {doc['tfrecord_index']}",
        "",
    ]
    if max_chars and len(text) > max_chars:
        lines.append(text[:max_chars])
        lines.append(f"[… {len(text) - max_chars:,} more characters; --chars 0 prints all]")
    else:
        lines.append(text)
    return "\n".join(lines) + "\n"
