"""``c4 forget`` on a masked set: remove every masked example holding a forgotten document.

A masked set is ``DIR/masked/`` or a ``c4 mask --output MDIR`` (``pipeline/forget/masked_set.py``).

Removal, not re-masking: a pack concatenates 128 documents and cuts the stream into segments,
so re-masking a pack without one document shifts every later segment of that pack, and a new
document order would regroup every later pack: the whole masked output would change. Removing
the examples that hold any forgotten token keeps every other example byte-identical, in order;
it also drops the other documents' tokens that shared those examples: the *collateral*, which
the report names document by document, and which ``--remask_collateral`` gives back by
re-masking only the packs that lost examples (``pipeline/forget/collateral.py``).

Each masked Parquet file has a TFRecord twin with the same examples in the same order: both
lose the same rows. The masked lineage (``DIR/lineage/masked/`` or ``MDIR/lineage/``,
``pipeline/masking/lineage.py``) is rebuilt per shard from the shard's Parquet ``doc_ids`` after
the removal: forgotten documents lose their row, co-packed ones lose the removed examples, and
row indices are renumbered to the surviving rows. Rebuilt from every shard, not only the changed
ones, so a rerun repairs a run stopped between a shard and its table. ``config.json``'s counts
are what a scan of the shards gives. The vocabulary the examples were encoded with is derived
data too: unless it is the shipped or T5's public model, the report marks it tainted (``c4
vocab train DIR`` again after the forget gives a clean one).
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline import lineage
from pipeline.forget import collateral
from pipeline.forget.masked_set import MaskedSet, split_of
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


def as_set(target: Build | MaskedSet) -> MaskedSet:
    """A build's own masked set (``DIR/masked``), or the set given."""
    return target if isinstance(target, MaskedSet) else MaskedSet.of_build(target.root)


@dataclass
class Collateral:
    """What removing examples cost the documents nobody asked to forget, and what a remask
    gave back, over one set."""

    lost: dict[str, int] = field(default_factory=dict)  # doc_id -> examples lost
    left: dict[str, int] = field(default_factory=dict)  # doc_id -> examples still holding it
    remasked_packs: list[int] = field(default_factory=list)
    remask_documents: set[str] = field(default_factory=set)
    given_back: set[str] = field(default_factory=set)  # had no example, has one again
    examples_replaced: int = 0
    examples_made: int = 0
    not_remasked: list[str] = field(default_factory=list)

    def removal(self, held: Sequence[Sequence[str]], hit: Sequence[bool], gone: set[str]) -> None:
        for ids, h in zip(held, hit, strict=True):
            if h:
                for doc_id in set(ids) - gone:
                    self.lost[doc_id] = self.lost.get(doc_id, 0) + 1

    def summary(self) -> dict[str, Any]:
        whole = sorted(d for d in self.lost if not self.left.get(d))
        listed = [
            {"doc_id": d, "examples_lost": self.lost[d], "examples_left": self.left.get(d, 0)}
            for d in sorted(self.lost)
        ]
        out: dict[str, Any] = {
            "documents": len(self.lost),
            "lost_all_examples": len(whole),
            "lost_some_examples": len(self.lost) - len(whole),
            "list": listed,
        }
        if self.remasked_packs or self.not_remasked:
            out["remasked"] = {
                "packs": sorted(self.remasked_packs),
                "documents": len(self.remask_documents),
                "documents_given_back": len(self.given_back),
                "examples_replaced": self.examples_replaced,
                "examples_made": self.examples_made,
                "not_remasked": self.not_remasked,
            }
        return out


@dataclass(frozen=True)
class Remask:
    """``--remask_collateral``: the set's masking and where its documents' texts are."""

    job: collateral.RemaskJob
    texts: collateral.Texts


def _tally(split: str, table: pa.Table) -> dict[str, Any]:
    """The counts ``config.json`` gives a shard's examples."""
    held = table["doc_ids"].to_pylist() if "doc_ids" in table.column_names else []
    tally: dict[str, Any] = {
        "split": split,
        "examples": table.num_rows,
        "documents": len({d for ids in held for d in ids or ()}),
        "removed": 0,
        "packs_emptied": 0,
        "remasked_packs": 0,
    }
    for column in ("inputs", "targets"):
        if column in table.column_names:
            lengths = pc.list_value_length(table[column])
            tally[f"{column}_tokens"] = int(pc.sum(lengths).as_py() or 0)
    return tally


def _rewrite(
    mset: MaskedSet,
    path: str,
    doc_ids: set[str],
    config: dict[str, Any],
    lost: Collateral,
    remask: Remask | None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Remove the examples of one masked Parquet file and its TFRecord twin (and, with
    ``remask``, re-mask the packs that lost examples); the files changed and the shard's counts."""
    before = lineage.read_bytes(path)
    table = pq.read_table(io.BytesIO(before), use_threads=False)
    split = split_of(path)
    hit = holding(table, doc_ids)
    known = collateral.load_record(mset, path, _digest(before))
    if not any(hit) and not (remask and known):
        return [], _tally(split, table)
    held = [list(ids or ()) for ids in table["doc_ids"].to_pylist()]
    packs = None
    if "seed" in table.column_names:
        packs = collateral.row_packs(
            held,
            table["seed"].to_pylist(),
            known,
            int(config.get("seed", 0)),
            int(config.get("epoch", 0)),
            collateral.first_guess(path),
        )
    lost.removal(held, hit, doc_ids)
    if packs is not None:  # the packs losing examples: their surviving documents recorded
        for pack in {p for p, h in zip(packs, hit, strict=True) if h} - set(known):
            known[pack] = collateral.pack_documents(held, packs, pack)
        known = {p: [d for d in docs if d not in doc_ids] for p, docs in known.items()}
        known = {p: docs for p, docs in known.items() if docs}
    keep = [not h for h in hit]
    rows = [i for i, k in enumerate(keep) if k]
    twin = mset.twin(path)
    records = _twin_records(twin, table.num_rows) if twin else []
    packs_after = {packs[i] for i in rows} if packs is not None else set()
    if remask and packs is not None and known:
        after_table, after_records, known, packs_after = _remasked(
            table, records, rows, packs, known, remask, lost
        )
    else:
        after_table = table.filter(pa.array(keep))
        after_records = [records[i] for i in rows] if twin else []
    buffer = io.BytesIO()
    pq.write_table(after_table, buffer, compression="zstd")
    after = buffer.getvalue()
    changes = []
    if twin:
        tf_before = lineage.read_bytes(twin)
        tf_after = b"".join(tfrecord.frame_record(r) for r in after_records)
        if tf_after != tf_before:
            write_atomic(twin, tf_after)
            changes.append(
                _change(mset, twin, tf_before, tf_after, table.num_rows, len(after_records))
            )
    # Parquet last: it is how a rerun finds the examples again if this run stops here.
    if after != before:
        write_atomic(path, after)
        changes.insert(0, _change(mset, path, before, after, table.num_rows, after_table.num_rows))
    if packs is not None:
        collateral.save_record(mset, path, after, known)
    _count_left(lost, after_table)
    tally = _tally(split, after_table)
    tally["removed"] = sum(hit)
    if packs is not None:
        tally["packs_emptied"] = len(set(packs)) - len(packs_after)
    for change in changes:
        change["set"] = mset.name
    return changes, tally


def _count_left(lost: Collateral, table: pa.Table) -> None:
    if not lost.lost and not lost.remask_documents:
        return
    watched = set(lost.lost) | lost.remask_documents
    for ids in table["doc_ids"].to_pylist():
        for doc_id in set(ids or ()) & watched:
            lost.left[doc_id] = lost.left.get(doc_id, 0) + 1


def _twin_records(twin: str, rows: int) -> list[bytes]:
    records = list(tfrecord.read_tfrecord(io.BytesIO(lineage.read_bytes(twin))))
    if len(records) != rows:
        raise RuntimeError(f"{twin}: {len(records)} examples, its Parquet twin {rows}")
    return records


def _remasked(
    table: pa.Table,
    records: list[bytes],
    rows: list[int],
    packs: list[int],
    known: dict[int, list[str]],
    remask: Remask,
    lost: Collateral,
) -> tuple[pa.Table, list[bytes], dict[int, list[str]], set[int]]:
    """The shard with each recorded pack masked again from its surviving documents, in the
    place of its examples (packs stay in order): its rows and records, the packs it could not
    remask (they stay recorded), and the packs holding an example now."""
    from pipeline.masking.packing import example_row
    from pipeline.masking.write import tf_example

    texts = remask.texts.get(d for docs in known.values() for d in docs)
    made: dict[int, list[Any]] = {}
    left: dict[int, list[str]] = {}
    for pack, docs in sorted(known.items()):
        missing = [d for d in docs if d not in texts]
        if missing:  # DIR no longer holds them (rebuilt since?): not this pack
            left[pack] = docs
            lost.not_remasked.append(f"pack {pack}: {len(missing)} document(s) not in the DIR")
            continue
        made[pack] = remask.job.examples(pack, [(d, texts[d]) for d in docs])
        lost.remasked_packs.append(pack)
        lost.remask_documents.update(docs)
    had = {d for i in rows if packs[i] in made for d in table["doc_ids"][i].as_py() or ()}
    lost.given_back.update(d for p in made for d in known[p] if d not in had)
    lost.examples_replaced += sum(1 for i in rows if packs[i] in made)
    lost.examples_made += sum(len(e) for e in made.values())
    order: list[tuple[int, int, int]] = [(packs[i], 0, i) for i in rows if packs[i] not in made]
    order += [(pack, 1, j) for pack, examples in made.items() for j in range(len(examples))]
    order.sort()
    old = table.to_pylist()
    out_rows, out_records = [], []
    for pack, new, index in order:
        if new:
            example = made[pack][index]
            out_rows.append(example_row(example))
            out_records.append(tf_example(example))
        else:
            out_rows.append(old[index])
            out_records.append(records[index] if records else b"")
    after = pa.Table.from_pylist(out_rows, schema=table.schema)
    return after, out_records if records else [], left, {pack for pack, _, _ in order}


def _change(mset: MaskedSet, path: str, before: bytes, after: bytes, n0: int, n1: int) -> dict:
    return {
        "path": mset.relative(path),
        "records_before": n0,
        "records_after": n1,
        "sha256_before": _digest(before),
        "sha256_after": _digest(after),
    }


def remove_examples(
    target: Build | MaskedSet, doc_ids: set[str], remask: Remask | None = None
) -> dict[str, Any]:
    """Every masked example holding one of ``doc_ids`` removed (and with ``remask`` the packs
    that lost examples masked again); counts, changes, collateral, vocabulary."""
    mset = as_set(target)
    files = mset.parquet_files()
    out: dict[str, Any] = {
        "name": mset.name,
        "present": bool(files),
        "changes": [],
        "removed_examples": 0,
    }
    if not files:
        return out
    config = mset.config() if exists(mset.config_path) else {}
    lost = Collateral()
    tallies = []
    for path in files:
        changes, tally = _rewrite(mset, path, doc_ids, config, lost, remask)
        out["changes"].extend(changes)
        tallies.append(tally)
    out["changes"].extend(_rebuild_tables(mset, files))
    collateral.drop_stale_records(mset)
    out["removed_examples"] = sum(t["removed"] for t in tallies)
    out["collateral"] = lost.summary()
    out["vocab"] = vocab_status(mset)
    config_change = _update_masked_config(mset, config, tallies, len(lost.remasked_packs))
    if config_change:
        out["changes"].append(config_change)
    return out


def _rebuild_tables(mset: MaskedSet, files: list[str]) -> list[dict[str, Any]]:
    """Each masked shard's lineage file as a fresh scan of the shard gives it, where it differs.

    Only a set whose masking wrote the table has one; an older output keeps ``c4 trace``'s scan.
    """
    table_dir = mset.table_dir
    if not masked_lineage.table_files(table_dir):
        return []
    changes = []
    for path in files:
        held = [row["doc_ids"] or [] for row in lineage.read_rows(path, ["doc_ids"])]
        after = masked_lineage.shard_table_bytes(held, mset.root, path, mset.twin(path))
        target = masked_lineage.table_path(table_dir, path)
        before = lineage.read_bytes(target) if exists(target) else b""
        if before == after:
            continue
        n0 = len(lineage.read_rows(target, ["doc_id"])) if before else 0
        write_atomic(target, after)
        n1 = len({d for ids in held for d in ids})
        changes.append({**_change(mset, target, before, after, n0, n1), "set": mset.name})
    return changes


def vocab_status(target: Build | MaskedSet) -> dict[str, Any]:
    """The masked output's vocabulary and whether it is derived data (tainted)."""
    path = as_set(target).config_path
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


def _update_masked_config(
    mset: MaskedSet, config: dict[str, Any], tallies: Iterable[dict[str, Any]], remasked: int
) -> dict[str, Any] | None:
    """``config.json``'s per-split counts as a scan of the shards gives them (``packs``: the
    packs still holding an example); the change, or None when it already says so."""
    if not config:
        return None
    tallies = list(tallies)
    splits = config.get("splits", {})
    for split, totals in splits.items():
        if not isinstance(totals, dict):
            continue
        mine = [t for t in tallies if t["split"] == split]
        for name in ("examples", "documents", "inputs_tokens", "targets_tokens"):
            if name in totals:
                totals[name] = sum(int(t.get(name, 0)) for t in mine)
        if "packs" in totals:
            totals["packs"] = int(totals["packs"]) - sum(t["packs_emptied"] for t in mine)
    removed = sum(t["removed"] for t in tallies)
    if removed or remasked or "forgotten" in config:
        forgotten = config.setdefault("forgotten", {"examples": 0})
        forgotten["examples"] = int(forgotten.get("examples", 0)) + removed
        if remasked:
            forgotten["remasked_packs"] = int(forgotten.get("remasked_packs", 0)) + remasked
    text = (json.dumps(config, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
    before = lineage.read_bytes(mset.config_path)
    if text == before:
        return None
    write_atomic(mset.config_path, text)
    return {**_change(mset, mset.config_path, before, text, 1, 1), "set": mset.name}
