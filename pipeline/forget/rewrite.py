"""``c4 forget``: remove documents, and what was derived from them, from a built DIR.

A plain Python program over the files (through ``FileSystems``: local and ``gs://`` alike), not
a Beam pipeline: a takedown touches the few shards holding the listed documents, found through
``DIR/lineage/``; every other file is left as it is, byte for byte.

Order, chosen so that a run stopped anywhere is completed by running it again (idempotent):
1. check the request and the DIR (nothing changes on a bad request);
2. add the request and the matched documents to ``forget/ledger.json`` (intent first);
3. per data shard holding a match: new TFRecord, new Parquet, new lineage, each written under a
   temporary name and renamed over the old one (no reader sees a half-written shard). The
   TFRecord is filtered by url and the Parquet by doc_id, each on its own, so a rerun after a
   stop between the two still removes exactly the same documents;
4. masked examples holding any forgotten document (``pipeline/forget/masked.py``), dead-letter
   excerpts of forgotten records;
5. stats.json, dataset_info.json and DATA_CARD.md recomputed from lineage;
6. the deletion report, JSON and text, digests only.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow.parquet as pq

from filters.lineage import Request, url_key
from filters.spec import resolve_rules
from pipeline import lineage, summary
from pipeline.forget import masked as forget_masked
from pipeline.forget import store as forget_store
from pipeline.forget.store import Build, Ledger, data_shards, exists, read_text
from pipeline.formats import parquet_io, tfds_layout, tfrecord
from pipeline.write import input_names, join, write_atomic

# Before ``forget/removed`` (``summary.REMOVED``), forgotten documents were counted as a rule's
# drop under this name; the next forget moves that count to ``forget/removed``.
FORGOTTEN = "forget/filtered:forgotten"
# URLs inside a dead letter's excerpt (the WARC-Target-URI header, links in the text).
URL_IN_TEXT = re.compile(r"https?://[^\s\"'<>]+")


def matching_rows(build: Build, request: Request) -> list[dict[str, Any]]:
    """Lineage rows of the documents a request matches, each with its ``reason``."""
    found = []
    for row in lineage.iter_lineage(build.root):
        reason = request.reason(row["doc_id"], row["url"])
        if reason:
            found.append({**row, "reason": reason})
    return found


def _file_change(
    build: Build, path: str, before: bytes, after: bytes, n0: int, n1: int
) -> dict[str, Any]:
    """A changed file for the report: records and sha256 before and after."""
    return {
        "path": lineage.relative(build.root, path),
        "records_before": n0,
        "records_after": n1,
        "sha256_before": hashlib.sha256(before).hexdigest(),
        "sha256_after": hashlib.sha256(after).hexdigest(),
    }


def _rewrite_shard(
    build: Build, split: str, tfrecord_path: str, parquet_path: str, doc_ids: set[str]
) -> list[dict[str, Any]]:
    """Remove ``doc_ids`` from one shard (TFRecord, Parquet, lineage); the files it changed."""
    lineage_path = lineage.lineage_path(build.root, split, parquet_path.rsplit("/", 1)[-1])
    rows = lineage.read_rows(lineage_path)
    removed = [r for r in rows if r["doc_id"] in doc_ids]
    if not removed:
        return []
    changes = []
    gone_urls = {r["url"] for r in removed}
    # TFRecord: by url (unique within a split: TFDS's writer refuses a repeated key).
    before = lineage.read_bytes(tfrecord_path)
    records = list(tfrecord.read_tfrecord(io.BytesIO(before)))
    kept = [r for r in records if _example_url(r) not in gone_urls]
    if len(kept) != len(records):
        after = b"".join(tfrecord.frame_record(r) for r in kept)
        write_atomic(tfrecord_path, after)
        changes.append(_file_change(build, tfrecord_path, before, after, len(records), len(kept)))
    # Parquet: by doc_id, rewritten with the build's own writer settings.
    before = lineage.read_bytes(parquet_path)
    prows = pq.read_table(io.BytesIO(before), use_threads=False).to_pylist()
    pkept = [r for r in prows if r["doc_id"] not in doc_ids]
    if len(pkept) != len(prows):
        buffer = io.BytesIO()
        parquet_io.write_parquet(buffer, pkept)
        after = buffer.getvalue()
        write_atomic(parquet_path, after)
        changes.append(_file_change(build, parquet_path, before, after, len(prows), len(pkept)))
    # Lineage last: while it still lists a document, a rerun finds the shard again.
    before = lineage.read_bytes(lineage_path)
    left = [r for r in rows if r["doc_id"] not in doc_ids]
    for position, row in enumerate(left):
        row["tfrecord_index"] = row["parquet_row"] = position
    after = lineage.lineage_bytes(left)
    write_atomic(lineage_path, after)
    changes.append(_file_change(build, lineage_path, before, after, len(rows), len(left)))
    return changes


def _example_url(record: bytes) -> str:
    values = tfrecord.decode_example(record).get("url") or [b""]
    value = values[0]
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def remove_documents(build: Build, doc_ids: set[str]) -> list[dict[str, Any]]:
    """Rewrite every data shard holding one of ``doc_ids``; untouched shards stay as they are."""
    changes: list[dict[str, Any]] = []
    for split, tfrecord_path, parquet_path in data_shards(build):
        changes.extend(_rewrite_shard(build, split, tfrecord_path, parquet_path, doc_ids))
    return changes


def _redact_dead_letters(build: Build, ledger: Ledger) -> list[dict[str, Any]]:
    """Blank the excerpt of dead letters from a forgotten record or of a forgotten URL."""
    changes = []
    request = ledger.request
    for path in lineage.match_paths(build.path("dead_letter/*.jsonl")):
        before = lineage.read_bytes(path)
        lines = before.decode("utf-8").splitlines()
        out, hits = [], 0
        for line in lines:
            letter = json.loads(line)
            record = f"{letter.get('source_file')}:{letter.get('record_offset')}"
            excerpt = str(letter.get("excerpt", ""))
            if excerpt and (record in ledger.records or mentions(excerpt, request)):
                letter["excerpt"] = ""
                letter["redacted"] = "c4 forget"
                hits += 1
            out.append(json.dumps(letter, sort_keys=True, ensure_ascii=False))
        if hits:
            after = "".join(line + "\n" for line in out).encode("utf-8")
            write_atomic(path, after)
            changes.append(_file_change(build, path, before, after, len(lines), len(lines)))
    return changes


def _redact_drops(build: Build, ledger: Ledger) -> list[dict[str, Any]]:
    """Blank the URLs that ``drops/`` (``c4 build --record_drops``) holds of forgotten pages: a
    dropped copy of one, or one named as the copy kept. The rows stay (the drops still count)."""
    from pipeline import drops

    request, gone = ledger.request, ledger.doc_ids
    changes = []
    for path in drops.drops_files(build.root):
        before = lineage.read_bytes(path)
        rows = pq.read_table(io.BytesIO(before), use_threads=False).to_pylist()
        hits = 0
        for row in rows:
            for id_column, url_column in (("doc_id", "url"), ("winner_doc_id", "winner_url")):
                doc_id, url = row.get(id_column) or "", row.get(url_column) or ""
                if url and (doc_id in gone or request.reason(doc_id, url)):
                    row[url_column] = ""
                    hits += 1
        if hits:
            after = drops.drops_bytes(rows)
            write_atomic(path, after)
            changes.append(_file_change(build, path, before, after, len(rows), len(rows)))
    return changes


def mentions(excerpt: str, request: Request) -> bool:
    """Whether an excerpt names a listed URL or a URL of a listed domain."""
    return any(request.reason("", url) for url in URL_IN_TEXT.findall(excerpt))


def split_totals(build: Build) -> dict[str, dict[str, Any]]:
    """Per split, from lineage: shard lengths (file order), example bytes, text bytes."""
    totals: dict[str, dict[str, Any]] = {}
    for path in lineage.lineage_files(build.root):
        split = path.rstrip("/").split("/")[-2]
        rows = lineage.read_rows(path, ["example_bytes", "text_bytes"])
        t = totals.setdefault(split, {"shard_lengths": [], "num_bytes": 0, "text_bytes": 0})
        t["shard_lengths"].append(len(rows))
        t["num_bytes"] += sum(r["example_bytes"] for r in rows)
        t["text_bytes"] += sum(r["text_bytes"] for r in rows)
    return totals


def update_metadata(build: Build, day: str | None = None) -> dict[str, int]:
    """Recompute stats.json, dataset_info.json and DATA_CARD.md from lineage; kept before/after.

    The build's drop counters stay as built; the documents removed are counted under
    ``forget/removed`` (input = kept + dropped + removed + dead-lettered), and the data card
    says "removed by request" with the count and ``day`` (the forget's date, UTC).
    """
    stats_path = build.path("stats.json")
    stats = json.loads(read_text(stats_path))
    totals = split_totals(build)
    kept_before = int(stats["reconciliation"]["kept"])
    kept_after = sum(sum(t["shard_lengths"]) for t in totals.values())
    counters = dict(stats["counters"])
    removed = counters.pop(FORGOTTEN, 0) + counters.get(summary.REMOVED, 0)
    removed += kept_before - kept_after
    if removed:
        counters[summary.REMOVED] = removed
    splits = []
    for name in sorted(set(stats["splits"]) | set(totals)):
        t = totals.get(name, {"shard_lengths": [], "num_bytes": 0, "text_bytes": 0})
        splits.append(
            summary.SplitWritten(name, tuple(t["shard_lengths"]), t["num_bytes"], t["text_bytes"])
        )
    new_stats = summary.build_stats(
        build.config, build.version, counters, splits, stats.get("dead_letters", {})
    )
    summary.check_balanced(new_stats)
    _write_if_changed(stats_path, summary.json_text(new_stats).encode("utf-8"))
    _update_dataset_info(build, splits)
    inputs = input_names(i.get("source_file", i.get("path", "")) for i in build.resolved["inputs"])
    card_text = read_text(build.path("DATA_CARD.md")) if exists(build.path("DATA_CARD.md")) else ""
    if kept_before == kept_after:  # the date of the last removal stays what the card says
        found = re.search(r"c4 forget, last on (\d{4}-\d{2}-\d{2})", card_text)
        day = found.group(1) if found else None
    card = summary.data_card(new_stats, inputs, removed_on=day).encode("utf-8")
    _write_if_changed(build.path("DATA_CARD.md"), card)
    return {"kept_before": kept_before, "kept_after": kept_after}


def _update_dataset_info(build: Build, splits: Sequence[summary.SplitWritten]) -> None:
    """Shard lengths and numBytes of each split, every split the config defines declared (0
    examples where none is left); shard files keep their names (no renumbering)."""
    path = join(build.tfds_dir, "dataset_info.json")
    info = json.loads(read_text(path))
    written = [
        tfds_layout.SplitInfo(s.name, list(s.shard_lengths), s.num_bytes)
        for s in splits
        if s.shard_lengths
    ]
    rules = resolve_rules(build.config, build.version)
    declared = tfds_layout.declared_splits(rules.config, rules.has_validation, written)
    info["splits"] = tfds_layout.dataset_info_json(rules.config, rules.version, declared)["splits"]
    _write_if_changed(path, tfds_layout.dataset_info_text(info).encode("utf-8"))


def _write_if_changed(path: str, data: bytes) -> None:
    if not exists(path) or lineage.read_bytes(path) != data:
        write_atomic(path, data)


def apply(
    build: Build,
    request: Request,
    ledger: Ledger,
    day: str | None = None,
    remask: forget_masked.Remask | None = None,
) -> dict[str, Any]:
    """Steps 2-5 of the module docstring; returns what the report needs (no text in it).

    ``day``: the forget's date for the data card; ``remask``: ``--remask_collateral``.
    """
    matched = matching_rows(build, request)
    before = ledger.to_json()
    ledger.add(request, matched)
    if ledger.to_json() != before:
        forget_store.save_ledger(build, ledger)
    changes = remove_documents(build, {r["doc_id"] for r in matched})
    masked = forget_masked.remove_examples(build, ledger.doc_ids, remask)
    changes.extend(masked.pop("changes"))
    changes.extend(_redact_dead_letters(build, ledger))
    changes.extend(_redact_drops(build, ledger))
    counts = update_metadata(build, day) if changes else {}
    return {"matched": matched, "changes": changes, "masked": masked, "counts": counts}


def matched_summary(matched: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The report's ``matched`` section: ids, digests, where they were; never a text."""
    reasons: dict[str, int] = {}
    splits: dict[str, int] = {}
    for row in matched:
        reasons[row["reason"]] = reasons.get(row["reason"], 0) + 1
        splits[row["split"]] = splits.get(row["split"], 0) + 1
    documents = [
        {
            "doc_id": row["doc_id"],
            "sha256": row["sha256"],
            "reason": row["reason"],
            "url_key_sha256": _sha(url_key(row["url"])),
            "source": f"{row['source_file']}:{row['record_offset']}",
            "was_in": [
                f"{row['tfrecord_file']}#{row['tfrecord_index']}",
                f"{row['parquet_file']}#{row['parquet_row']}",
            ],
        }
        for row in sorted(matched, key=lambda r: r["doc_id"])
    ]
    return {
        "documents": len(matched),
        "by_reason": dict(sorted(reasons.items())),
        "by_split": dict(sorted(splits.items())),
        "list": documents,
    }


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
