"""``c4 forget`` on ``DIR/masked/``: remove every masked example holding a forgotten document.

Removal, not re-masking: a pack concatenates 128 documents and cuts the stream into segments,
so re-masking a pack without one document shifts every later segment of that pack, and a new
document order would regroup every later pack: the whole masked output would change. Removing
the examples that hold any forgotten token keeps every other example byte-identical, in order;
it also drops the other documents' tokens that shared those examples, which the report counts.

Each masked Parquet file has a TFRecord twin with the same examples in the same order
(``pipeline.lineage.masked_twin``): both lose the same rows. The vocabulary the examples were
The masked lineage (``DIR/lineage/masked/``, ``pipeline/masking/lineage.py``) is rebuilt per
shard from the shard's Parquet ``doc_ids`` after the removal: forgotten documents lose their row,
co-packed ones lose the removed examples, and row indices are renumbered to the surviving rows.
Rebuilt from every shard, not only the changed ones, so a rerun repairs a run stopped between
a shard and its table. The vocabulary the examples were
encoded with is derived data too: unless it is the shipped or T5's public model, the report
marks it tainted (``c4 vocab train DIR`` again after the forget gives a clean one).
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline import lineage
from pipeline.forget.store import Build, exists, read_text
from pipeline.formats import tfrecord
from pipeline.masking import lineage as masked_lineage
from pipeline.write import write_atomic

# Vocabularies not derived from any DIR: the model shipped with this package and T5's.
UNTAINTED_VOCAB_SOURCES = ("c4-pipeline:pipeline/data/vocab/", "gs://t5-data/vocabs/")


def holding(table: pa.Table, doc_ids: set[str]) -> list[bool]:
    """Per row of a masked table: does it hold a token of one of ``doc_ids``?"""
    if not doc_ids or table.num_rows == 0:
        return [False] * table.num_rows
    flat = pc.is_in(pc.list_flatten(table["doc_ids"]), value_set=pa.array(sorted(doc_ids)))
    parents = pc.list_parent_indices(table["doc_ids"]).to_pylist()
    hit = [False] * table.num_rows
    for parent, match in zip(parents, flat.to_pylist(), strict=True):
        if match:
            hit[parent] = True
    return hit


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _rewrite(build: Build, path: str, doc_ids: set[str]) -> tuple[list[dict[str, Any]], dict]:
    """Remove the examples of one masked Parquet file and its TFRecord twin."""
    before = lineage.read_bytes(path)
    table = pq.read_table(io.BytesIO(before), use_threads=False)
    hit = holding(table, doc_ids)
    split = path.rstrip("/").split("/")[-2]
    tally = {"split": split, "examples": sum(hit), "inputs_tokens": 0, "targets_tokens": 0}
    if not any(hit):
        return [], tally
    for column in ("inputs", "targets"):
        if column in table.column_names:
            lengths = pc.list_value_length(table[column]).to_pylist()
            tally[f"{column}_tokens"] = sum(n for n, h in zip(lengths, hit, strict=True) if h)
    keep = pa.array([not h for h in hit])
    buffer = io.BytesIO()
    pq.write_table(table.filter(keep), buffer, compression="zstd")
    after = buffer.getvalue()
    changes = []
    twin = lineage.masked_twin(build.root, path)
    if twin:
        tf_before = lineage.read_bytes(twin)
        records = list(tfrecord.read_tfrecord(io.BytesIO(tf_before)))
        if len(records) != table.num_rows:
            raise RuntimeError(
                f"{twin}: {len(records)} examples, its Parquet twin {table.num_rows}"
            )
        kept = [r for r, h in zip(records, hit, strict=True) if not h]
        tf_after = b"".join(tfrecord.frame_record(r) for r in kept)
        write_atomic(twin, tf_after)
        changes.append(_change(build, twin, tf_before, tf_after, len(records), len(kept)))
    # Parquet last: it is how a rerun finds the examples again if this run stops here.
    write_atomic(path, after)
    changes.insert(
        0, _change(build, path, before, after, table.num_rows, table.num_rows - sum(hit))
    )
    return changes, tally


def _change(build: Build, path: str, before: bytes, after: bytes, n0: int, n1: int) -> dict:
    return {
        "path": lineage.relative(build.root, path),
        "records_before": n0,
        "records_after": n1,
        "sha256_before": _digest(before),
        "sha256_after": _digest(after),
    }


def remove_examples(build: Build, doc_ids: set[str]) -> dict[str, Any]:
    """Every masked example holding one of ``doc_ids`` removed; counts, changes, vocabulary."""
    files = lineage.masked_parquet_files(build.root)
    out: dict[str, Any] = {"present": bool(files), "changes": [], "removed_examples": 0}
    if not files:
        return out
    tallies = []
    for path in files:
        changes, tally = _rewrite(build, path, doc_ids)
        out["changes"].extend(changes)
        tallies.append(tally)
    out["changes"].extend(_rebuild_tables(build, files))
    out["removed_examples"] = sum(t["examples"] for t in tallies)
    out["vocab"] = vocab_status(build)
    if out["removed_examples"]:
        _update_masked_config(build, tallies)
    return out


def _rebuild_tables(build: Build, files: list[str]) -> list[dict[str, Any]]:
    """Each masked shard's lineage file as a fresh scan of the shard gives it, where it differs.

    Only a DIR whose masking wrote the table has one; an older output keeps ``c4 trace``'s scan.
    """
    table_dir, root = masked_lineage.layout(build.path("masked"), build.root)
    if not masked_lineage.table_files(table_dir):
        return []
    changes = []
    for path in files:
        held = [row["doc_ids"] or [] for row in lineage.read_rows(path, ["doc_ids"])]
        after = masked_lineage.shard_table_bytes(
            held, root, path, lineage.masked_twin(build.root, path)
        )
        target = masked_lineage.table_path(table_dir, path)
        before = lineage.read_bytes(target) if exists(target) else b""
        if before == after:
            continue
        n0 = len(lineage.read_rows(target, ["doc_id"])) if before else 0
        write_atomic(target, after)
        n1 = len({d for ids in held for d in ids})
        changes.append(_change(build, target, before, after, n0, n1))
    return changes


def vocab_status(build: Build) -> dict[str, Any]:
    """The masked output's vocabulary and whether it is derived data (tainted)."""
    path = build.path("masked/config.json")
    if not exists(path):
        return {"tainted": False, "note": "no masked/config.json"}
    vocab = json.loads(read_text(path)).get("vocab", {})
    source = str(vocab.get("source", ""))
    tainted = not source.startswith(UNTAINTED_VOCAB_SOURCES)
    note = (
        "trained on data that may hold forgotten documents: retrain (c4 vocab train DIR) "
        "and re-mask, or stop using it"
        if tainted
        else "not derived from this DIR"
    )
    return {"source": source, "sha256": vocab.get("sha256", ""), "tainted": tainted, "note": note}


def _update_masked_config(build: Build, tallies: Iterable[dict[str, Any]]) -> None:
    path = build.path("masked/config.json")
    if not exists(path):
        return
    config = json.loads(read_text(path))
    splits = config.get("splits", {})
    for tally in tallies:
        totals = splits.get(tally["split"])
        if not isinstance(totals, dict):
            continue
        for name in ("examples", "inputs_tokens", "targets_tokens"):
            if name in totals:
                totals[name] = int(totals[name]) - int(tally[name])
    # Documents left in the examples (co-packed ones can lose all theirs): c4 forget --verify.
    held: dict[str, set[str]] = {}
    for shard in lineage.masked_parquet_files(build.root):
        ids = held.setdefault(shard.rstrip("/").split("/")[-2], set())
        ids.update(d for row in lineage.read_rows(shard, ["doc_ids"]) for d in row["doc_ids"] or ())
    for split, ids in held.items():
        if isinstance(splits.get(split), dict) and "documents" in splits[split]:
            splits[split]["documents"] = len(ids)
    forgotten = config.setdefault("forgotten", {"examples": 0})
    forgotten["examples"] = int(forgotten.get("examples", 0)) + sum(t["examples"] for t in tallies)
    text = json.dumps(config, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    write_atomic(path, text.encode("utf-8"))
