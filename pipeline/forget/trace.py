"""``c4 trace``: where a document came from and every place it lives now, or why it is not there.

Reads ``DIR/lineage/`` (ids, source record, digest, TFRecord shard and position, Parquet file and
row) and ``DIR/lineage/masked/`` (the masked examples holding its tokens); a DIR masked before
that table existed is answered from the masked Parquet files' ``doc_ids`` instead. A
document that ``c4 forget`` removed is reported as forgotten, from ``forget/ledger.json``.

A page a rule dropped is answered from ``DIR/drops/`` (``c4 build --record_drops``,
``pipeline/drops.py``), matched by the same keys (``filters/lineage.py``): the stage and reason
that dropped it and what the rule saw, and for a duplicate which page won: URL dedup's kept copy,
or the pages that kept the lines line dedup took from it (named there by the md5 of their URL as
dedup compares it, found here in lineage and drops), each with what became of it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from filters.lineage import Request
from filters.spec import resolve_rules
from filters.urls import normalize_url
from pipeline import drops, lineage
from pipeline.forget.store import Build, Ledger
from pipeline.masking import lineage as masked_lineage

NOT_RECORDED = (
    "drops were not recorded in this build: rebuild it with c4 build --record_drops to see "
    "why a page was dropped"
)
_URL_DUPLICATE = "duplicate-url-filter"
Fate = dict[str, Any]


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


def trace_drops(build: Build, request: Request) -> list[dict[str, Any]] | None:
    """Every dropped page the request matches, with why and who won (module docstring); None
    when the build did not record its drops."""
    if not drops.recorded(build.resolved):
        return None
    rows = [r for r in drops.iter_drops(build.root) if request.reason(r["doc_id"], r["url"])]
    if not rows:
        return []
    winners = {r["winner_doc_id"] for r in rows if r["winner_doc_id"]}
    owners = {c["owner_md5"] for r in rows for c in r["credited_to"]}
    by_id, by_owner = _fates(build, winners, owners)
    return [_answer(row, by_id, by_owner) for row in rows]


def _fates(
    build: Build, doc_ids: set[str], owners: set[str]
) -> tuple[dict[str, Fate], dict[str, list[Fate]]]:
    """What became of the pages named by doc_id (URL dedup's kept copies) and by owner md5 (the
    pages line dedup credited): kept (where) or dropped (by what). A page kept is answered from
    lineage; one dropped later from its drop row (a URL-dedup loss is another copy's row)."""
    by_id: dict[str, Fate] = {}
    by_owner: dict[str, list[Fate]] = {}
    if not doc_ids and not owners:
        return by_id, by_owner
    raw_url = resolve_rules(build.config, build.version).dedup_url_key == "url"
    for row in lineage.iter_lineage(build.root):
        fate = {
            "doc_id": row["doc_id"],
            "url": row["url"],
            "status": "kept",
            "where": f"{row['parquet_file']} row {row['parquet_row']}",
        }
        if row["doc_id"] in doc_ids:
            by_id.setdefault(row["doc_id"], fate)
        if owners:
            owner = _md5(row["url"] if raw_url else row["normalized_url"])
            if owner in owners:
                by_owner.setdefault(owner, []).append(fate)
    missing, unplaced = doc_ids - set(by_id), owners - set(by_owner)
    if not missing and not unplaced:
        return by_id, by_owner
    for row in drops.iter_drops(build.root):
        if row["stage"] == _URL_DUPLICATE:
            continue
        fate = {
            "doc_id": row["doc_id"],
            "url": row["url"],
            "status": "dropped",
            "where": f"{row['stage']}/{row['reason']}",
        }
        if row["doc_id"] in missing:
            by_id.setdefault(row["doc_id"], fate)
        if unplaced and row["url"]:
            owner = _md5(row["url"] if raw_url else normalize_url(row["url"]))
            if owner in unplaced:
                by_owner.setdefault(owner, []).append(fate)
    return by_id, by_owner


def _md5(url: str) -> str:
    # What line dedup names an owner page by (filters.dedup.owner_digest), not a secret.
    return hashlib.md5(url.encode("utf-8")).hexdigest()


def _answer(
    row: Mapping[str, Any], by_id: Mapping[str, Fate], by_owner: Mapping[str, list[Fate]]
) -> dict[str, Any]:
    """One dropped page, as ``--json`` prints it."""
    out: dict[str, Any] = {
        k: row[k] for k in ("doc_id", "url", "source_file", "record_offset", "record_id")
    }
    out["dropped"] = {
        "stage": row["stage"],
        "reason": row["reason"],
        "counter": f"{row['stage']}/{row['reason']}",
        "detail": row["detail"],
        "language": row["language"],
        "probability": row["probability"],
    }
    if row["winner_doc_id"]:
        fate = by_id.get(row["winner_doc_id"], {"status": "unknown", "where": ""})
        out["kept_instead"] = {**fate, "doc_id": row["winner_doc_id"], "url": row["winner_url"]}
    if row["credited_to"]:
        out["lines_kept_by"] = [
            {
                "owner_md5": c["owner_md5"],
                "count": c["count"],
                "pages": by_owner.get(c["owner_md5"], []),
            }
            for c in row["credited_to"]
        ]
    return out


def forgotten(ledger: Ledger, request: Request) -> list[str]:
    """What the ledger says was already forgotten of this request (doc_ids, URL and domain keys)."""
    out = [f"doc_id {d}" for d in sorted(request.doc_ids & ledger.doc_ids)]
    out += [f"url {u}" for u in sorted(request.urls & ledger.urls)]
    out += [f"domain {d}" for d in sorted(request.domains & ledger.domains)]
    return out


def format_trace(rows: Sequence[Mapping[str, Any]]) -> str:
    """The readable answer: one block per document, kept or dropped."""
    blocks = [_dropped_block(row) if "dropped" in row else _kept_block(row) for row in rows]
    return "\n\n".join(blocks) + "\n"


def _kept_block(row: Mapping[str, Any]) -> str:
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
    return "\n".join(lines)


def _fate_text(fate: Mapping[str, Any]) -> str:
    if fate["status"] == "unknown":
        return "not in this build's lineage or drops"
    return f"{fate['status']}: {fate['where']}"


def _dropped_block(row: Mapping[str, Any]) -> str:
    dropped = row["dropped"]
    place = f" @ byte {row['record_offset']}" if row["record_offset"] >= 0 else ""
    lines = [
        f"doc_id        {row['doc_id']}",
        f"url           {row['url'] or '(not recorded)'}",
        f"came from     {row['source_file']}{place}",
        f"dropped by    {dropped['counter']}",
    ]
    if dropped["detail"]:
        lines.append(f"why           {dropped['detail']}")
    kept = row.get("kept_instead")
    if kept:
        lines.append(f"kept instead  {kept['doc_id']} {kept['url']} ({_fate_text(kept)})")
    unit = "sentence windows" if dropped["stage"] == "dedupe-sentences" else "lines"
    for credit in row.get("lines_kept_by", []):
        took = f"kept {credit['count']} of the {unit} it lost"
        if not credit["pages"]:
            lines.append(
                f"credited to   the page whose dedup URL has md5 {credit['owner_md5']} ({took})"
            )
        for page in credit["pages"]:
            lines.append(
                f"credited to   {page['doc_id']} {page['url']} ({took}; {_fate_text(page)})"
            )
    return "\n".join(lines)
