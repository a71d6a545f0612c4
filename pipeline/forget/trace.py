"""``c4 trace``: where a document came from and every place it lives now.

Reads ``DIR/lineage/`` (ids, source record, digest, TFRecord shard and position, Parquet file and
row) and ``DIR/lineage/masked/`` (the masked examples holding its tokens); a DIR masked before
that table existed is answered from the masked Parquet files' ``doc_ids`` instead. A
document that ``c4 forget`` removed is reported as forgotten, from ``forget/ledger.json``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from filters.lineage import Request
from pipeline import lineage
from pipeline.forget.store import Build, Ledger
from pipeline.masking import lineage as masked_lineage


def trace(build: Build, request: Request) -> list[dict[str, Any]]:
    """Every document the request matches, with where it lives (``masked`` included)."""
    rows = [
        row for row in lineage.iter_lineage(build.root) if request.reason(row["doc_id"], row["url"])
    ]
    doc_ids = [row["doc_id"] for row in rows]
    table_dir, _ = masked_lineage.layout(build.path("masked"), build.root)
    masked = masked_lineage.read_locations(table_dir, doc_ids)
    if masked is None:
        masked = lineage.masked_locations(build.root, doc_ids)
    return [{**row, "masked": masked.get(row["doc_id"], [])} for row in rows]


def forgotten(ledger: Ledger, request: Request) -> list[str]:
    """What the ledger says was already forgotten of this request (doc_ids, URL and domain keys)."""
    out = [f"doc_id {d}" for d in sorted(request.doc_ids & ledger.doc_ids)]
    out += [f"url {u}" for u in sorted(request.urls & ledger.urls)]
    out += [f"domain {d}" for d in sorted(request.domains & ledger.domains)]
    return out


def format_trace(rows: Sequence[Mapping[str, Any]]) -> str:
    """The readable answer: one block per document."""
    blocks = []
    for row in rows:
        lines = [
            f"doc_id        {row['doc_id']}",
            f"url           {row['url']}",
            f"normalized    {row['normalized_url']}",
            f"domain        {row['domain']}",
            f"came from     {row['source_file']} @ byte {row['record_offset']}",
            f"text sha256   {row['sha256']}",
            f"split         {row['split']}",
            f"tfrecord      {row['tfrecord_file']} #{row['tfrecord_index']}",
            f"parquet       {row['parquet_file']} row {row['parquet_row']}",
        ]
        masked = row.get("masked") or []
        if masked:
            lines += [f"masked        {m}" for m in masked]
        else:
            lines.append("masked        (no masked output holds it)")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"
