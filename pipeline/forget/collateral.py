"""The collateral of forgetting masked examples, and giving it back (``--remask_collateral``).

A pack concatenates up to 128 documents and cuts the stream into segments; ``c4 forget`` removes
every example holding a forgotten token, so the other documents of those examples lose tokens,
or all their examples (``pipeline/forget/masked.py``). Which pack an example belongs to is not
stored, but its ``seed`` column is ``example_seed(seed, epoch, pack, segment)``
(``pipeline/masking/packing.py``) and a shard holds consecutive packs in order, so the packs of
a shard's rows are decoded from their seeds (``row_packs``).

When a forget removes examples of a pack it records the pack's surviving documents, in pack
order, in a *collateral record*: one JSON file per masked shard (``MaskedSet.record_dir``),
bound to the shard by the sha256 of its Parquet file (a record whose shard changed otherwise, a
remask by ``c4 mask`` for one, is stale and ignored). The record is what a later forget needs to
know the documents of a pack that lost all its examples, and what ``--remask_collateral``
re-masks: each recorded pack again, without the forgotten documents, with the same seed, epoch
and pack number (``mask_pack``), in place of its surviving examples. Only those packs change;
every other example stays byte-identical and in order.
"""

from __future__ import annotations

import hashlib
import io
import json
import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow.parquet as pq

from filters.spec import UsageError
from pipeline import lineage
from pipeline.forget.masked_set import MaskedSet, split_of
from pipeline.forget.store import exists
from pipeline.masking.packing import MaskConfig, MaskedExample, example_seed, mask_pack
from pipeline.masking.write import PACKS_PER_SHARD
from pipeline.write import join, write_atomic

# Packs tried when looking for the pack a shard's first example starts (beyond the usual one).
_SEARCH_PACKS = 1 << 20
RECORD_FORMAT = 1

Packs = dict[int, list[str]]  # pack -> its surviving documents, in pack order


# --- records ----------------------------------------------------------------------------------


def record_path(mset: MaskedSet, parquet_path: str) -> str:
    stem = posixpath.basename(parquet_path)[: -len(".parquet")]
    return join(mset.record_dir, split_of(parquet_path), stem + ".json")


def load_record(mset: MaskedSet, parquet_path: str, parquet_sha256: str) -> Packs:
    """The recorded packs of a shard; {} when none, or when the record is of other bytes."""
    path = record_path(mset, parquet_path)
    if not exists(path):
        return {}
    content = json.loads(lineage.read_bytes(path))
    if content.get("parquet_sha256") != parquet_sha256:
        return {}
    return {int(p["pack"]): list(p["documents"]) for p in content.get("packs", [])}


def record_bytes(parquet_sha256: str, packs: Mapping[int, Sequence[str]]) -> bytes:
    content = {
        "format": RECORD_FORMAT,
        "parquet_sha256": parquet_sha256,
        "packs": [{"pack": p, "documents": list(packs[p])} for p in sorted(packs)],
    }
    return (json.dumps(content, indent=1, sort_keys=True) + "\n").encode("utf-8")


def save_record(mset: MaskedSet, parquet_path: str, parquet_bytes: bytes, packs: Packs) -> None:
    """The shard's record after a change: written, or deleted when no pack is left in it."""
    from apache_beam.io.filesystems import FileSystems

    path = record_path(mset, parquet_path)
    if packs:
        digest = hashlib.sha256(parquet_bytes).hexdigest()
        write_atomic(path, record_bytes(digest, packs))
    elif exists(path):
        FileSystems.delete([path])


def drop_stale_records(mset: MaskedSet) -> None:
    """Delete records whose shard is gone or changed since (a remask, a rebuild)."""
    from apache_beam.io.filesystems import FileSystems

    shards = {record_path(mset, p): p for p in mset.parquet_files()}
    stale = []
    for path in lineage.match_paths(join(mset.record_dir, "*", "*.json")):
        shard = shards.get(path)
        if shard is None:
            stale.append(path)
            continue
        digest = hashlib.sha256(lineage.read_bytes(shard)).hexdigest()
        if json.loads(lineage.read_bytes(path)).get("parquet_sha256") != digest:
            stale.append(path)
    if stale:
        FileSystems.delete(stale)


# --- which pack each example is of -------------------------------------------------------------


def shard_index(parquet_path: str) -> int:
    suffix = lineage.shard_suffix(parquet_path)
    return int(suffix.split("-of-")[0]) if suffix else 0


def row_packs(
    doc_ids: Sequence[Sequence[str]],
    seeds: Sequence[int],
    known: Mapping[int, Sequence[str]],
    seed: int,
    epoch: int,
    first_guess: int,
) -> list[int] | None:
    """The pack of each row of a shard, or None if the rows cannot be placed.

    A row holding a document of a recorded pack is of that pack. Any other pack never lost an
    example (or was remasked whole), so its rows are its segments 0, 1, ... in order: a row
    continues the pack before it when its seed is that pack's next segment's, else it is
    segment 0 of a later pack (the first one that matches). ``first_guess`` is where the
    shard's first pack usually is (shard index x packs per shard).
    """
    owner = {d: p for p, docs in known.items() for d in docs}
    out: list[int] = []
    current: tuple[int, int] | None = None  # (pack, segment) of the last row of an unrecorded pack
    last = -1
    for held, row_seed in zip(doc_ids, seeds, strict=True):
        recorded = next((owner[d] for d in held if d in owner), None)
        if recorded is not None:
            pack, current = recorded, None
        elif current and row_seed == example_seed(seed, epoch, current[0], current[1] + 1):
            pack, current = current[0], (current[0], current[1] + 1)
        else:
            found = _segment_zero(row_seed, seed, epoch, last + 1, first_guess if last < 0 else -1)
            if found is None:
                return None
            pack, current = found, (found, 0)
        if pack < last:
            return None
        out.append(pack)
        last = pack
    return out


def _segment_zero(row_seed: int, seed: int, epoch: int, start: int, guess: int) -> int | None:
    """The pack ``>= start`` whose segment 0 has ``row_seed`` (``guess`` tried first)."""
    if guess >= start and example_seed(seed, epoch, guess, 0) == row_seed:
        return guess
    for pack in range(start, start + _SEARCH_PACKS):
        if example_seed(seed, epoch, pack, 0) == row_seed:
            return pack
    return None


def pack_documents(doc_ids: Sequence[Sequence[str]], packs: Sequence[int], pack: int) -> list[str]:
    """A whole pack's documents in pack order: the order they first appear in its examples."""
    ordered: dict[str, None] = {}
    for held, of in zip(doc_ids, packs, strict=True):
        if of == pack:
            ordered.update(dict.fromkeys(held))
    return list(ordered)


def first_guess(parquet_path: str) -> int:
    return shard_index(parquet_path) * PACKS_PER_SHARD


# --- giving it back -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RemaskJob:
    """What re-masking a pack of a set needs: its options and its vocabulary."""

    config: MaskConfig
    vocab: Any  # pipeline.masking.vocab.Vocabulary

    def examples(self, pack: int, documents: Sequence[tuple[str, str]]) -> list[MaskedExample]:
        """The examples of ``pack`` made of ``documents`` ((doc_id, text) in pack order)."""
        from pipeline.masking.packing import prepare_document

        docs = [(d, prepare_document(d, self.vocab.encode(t), self.config)) for d, t in documents]
        docs = [(d, tokens) for d, tokens in docs if len(tokens)]
        return list(mask_pack(pack, docs, self.config, self.vocab.first_sentinel))


def remask_job(config: Mapping[str, Any], name: str) -> RemaskJob:
    """The set's masking, from its ``config.json``: the same options and vocabulary.

    Raises:
        UsageError: the vocabulary cannot be read, or is not the one the set was masked with.
    """
    from dataclasses import fields

    from pipeline.masking.run import SHIPPED_VOCAB_NAME, make_mask_job

    vocab = config.get("vocab", {})
    source = str(vocab.get("source", ""))
    options = {f.name: config[f.name] for f in fields(MaskConfig) if f.name in config}
    try:
        job = make_mask_job(None if source == SHIPPED_VOCAB_NAME else source, **options)
    except UsageError as exc:
        raise UsageError(f"--remask_collateral: {name}: {exc}") from None
    if job.vocab.sha256 != vocab.get("sha256") or job.vocab.extra_ids != vocab.get("extra_ids"):
        raise UsageError(
            f"--remask_collateral: {name}: the vocabulary {source} is not the one it was masked "
            f"with (sha256 {str(vocab.get('sha256'))[:12]}, now {job.vocab.sha256[:12]})"
        )
    return RemaskJob(job.config, job.vocab)


class Texts:
    """Documents' texts from a built DIR, found through its lineage (read once, when asked)."""

    def __init__(self, root: str) -> None:
        self._root = root
        self._where: dict[str, tuple[str, int]] | None = None
        self._files: dict[str, list[str]] = {}

    def get(self, doc_ids: Iterable[str]) -> dict[str, str]:
        """doc_id -> text, for the ones DIR holds."""
        if self._where is None:
            self._where = {
                row["doc_id"]: (row["parquet_file"], int(row["parquet_row"]))
                for row in lineage.iter_lineage(self._root)
            }
        out = {}
        for doc_id in doc_ids:
            place = self._where.get(doc_id)
            if place is None:
                continue
            rel, row = place
            if rel not in self._files:
                data = lineage.read_bytes(join(self._root, rel))
                table = pq.read_table(io.BytesIO(data), columns=["text"], use_threads=False)
                self._files[rel] = table.column("text").to_pylist()
            out[doc_id] = self._files[rel][row]
        return out
