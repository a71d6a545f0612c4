"""``c4 forget --verify``: prove that nothing listed remains, from the shards themselves.

The index (lineage) could be wrong or stale, so every data file is read: each TFRecord example
(its url, and the sha256 of its text), each Parquet row (doc_id, url, text digest), each lineage
row, each masked example's ``doc_ids``, each masked-lineage row, each dead-letter excerpt. A text
that was forgotten and came back under another URL or doc_id is still found, by its digest (exact
copies only).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pyarrow.parquet as pq

from filters.lineage import Request, content_digest
from pipeline import lineage
from pipeline.forget.rewrite import mentions
from pipeline.forget.store import Build, Ledger, data_shards
from pipeline.formats import tfrecord
from pipeline.masking import lineage as masked_lineage


def _why(request: Request, ledger: Ledger, doc_id: str, url: str, text: str | None) -> str:
    reason = request.reason(doc_id, url)
    if reason:
        return reason
    if text is not None and content_digest(text) in ledger.sha256:
        return "text sha256"
    return ""


def findings(build: Build, request: Request, ledger: Ledger) -> Iterator[str]:
    """One line per listed thing still present: ``<file>#<record>: <why>``."""
    request = request.merged(ledger.request)
    for _, tfrecord_path, parquet_path in data_shards(build):
        data = lineage.read_bytes(tfrecord_path)
        for i, record in enumerate(tfrecord.read_tfrecord(io.BytesIO(data))):
            example = tfrecord.decode_example(record)
            url = _text(example.get("url"))
            why = _why(request, ledger, "", url, _text(example.get("text")))
            if why:
                yield f"{lineage.relative(build.root, tfrecord_path)}#{i}: {why}"
        table = pq.read_table(io.BytesIO(lineage.read_bytes(parquet_path)), use_threads=False)
        for i, row in enumerate(table.select(["doc_id", "url", "text"]).to_pylist()):
            why = _why(request, ledger, row["doc_id"], row["url"], row["text"])
            if why:
                yield f"{lineage.relative(build.root, parquet_path)}#{i}: {why}"
    for path in lineage.lineage_files(build.root):
        for i, row in enumerate(lineage.read_rows(path)):
            why = _why(request, ledger, row["doc_id"], row["url"], None)
            if not why and row["sha256"] in ledger.sha256:
                why = "text sha256"
            if why:
                yield f"{lineage.relative(build.root, path)}#{i}: {why}"
    for path in lineage.masked_parquet_files(build.root):
        for i, row in enumerate(lineage.read_rows(path, ["doc_ids"])):
            held = set(row["doc_ids"] or ()) & set(request.doc_ids)
            if held:
                yield f"{lineage.relative(build.root, path)}#{i}: holds {len(held)} doc_id(s)"
    table_dir, _ = masked_lineage.layout(build.path("masked"), build.root)
    for path in masked_lineage.table_files(table_dir):
        for i, row in enumerate(lineage.read_rows(path, ["doc_id"])):
            if row["doc_id"] in request.doc_ids:
                yield f"{lineage.relative(build.root, path)}#{i}: masked lineage of a doc_id"
    yield from _dead_letter_findings(build, request, ledger)


def _dead_letter_findings(build: Build, request: Request, ledger: Ledger) -> Iterator[str]:
    for path in lineage.match_paths(build.path("dead_letter/*.jsonl")):
        lines = lineage.read_bytes(path).decode("utf-8").splitlines()
        for i, line in enumerate(lines):
            letter = json.loads(line)
            excerpt = str(letter.get("excerpt", ""))
            if not excerpt:
                continue
            record = f"{letter.get('source_file')}:{letter.get('record_offset')}"
            if record in ledger.records or mentions(excerpt, request):
                yield f"{lineage.relative(build.root, path)}#{i}: excerpt of a forgotten record"


def _text(values: object) -> str:
    if isinstance(values, list) and values and isinstance(values[0], bytes):
        return values[0].decode("utf-8")
    return ""
