"""The sinks of masking: ``DIR/masked/`` as INTERFACE.md lays it out.

``WriteMasked`` takes ``(split, num_packs, MaskedExample)`` and writes, per split, shards of
``PACKS_PER_SHARD`` consecutive packs:

- ``tfrecord/<split>/part-NNNNN-of-MMMMM.tfrecord``: ``tf.train.Example`` with int64 ``inputs``
  and ``targets``;
- ``parquet/<split>/part-NNNNN-of-MMMMM.parquet``: ``inputs``, ``targets`` (list<int32>),
  ``doc_ids`` (list<string>), ``seed`` (int64);

- ``lineage/masked/<split>/`` of DIR (or ``MDIR/lineage/<split>/``): per document, the examples
  holding it (``pipeline/masking/lineage.py``), one table file per shard, by the shard's writer;

then ``config.json`` (options, vocabulary, per-split counts) last, so a directory with it is
complete. Examples are in ``(pack, segment)`` order within and across shards, the shard count
comes from the split's pack count, so the bytes depend on neither bundles nor runner. Every file
goes through ``FileSystems`` under a temporary name and is renamed into place (``gs://`` too).
Like ``pipeline/write.py``: no side inputs, and everything flows into one final PCollection.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from pipeline.formats import tfrecord
from pipeline.masking import lineage as masked_lineage
from pipeline.masking.packing import MaskedExample, example_row
from pipeline.write import join, write_atomic

# 64 packs of 128 documents: ~8k C4 documents, ~7k examples, ~25 MB of TFRecord per shard.
PACKS_PER_SHARD = 64
MASKED_SCHEMA: pa.Schema = pa.schema(
    [
        pa.field("inputs", pa.list_(pa.int32()), nullable=False),
        pa.field("targets", pa.list_(pa.int32()), nullable=False),
        pa.field("doc_ids", pa.list_(pa.string()), nullable=False),
        pa.field("seed", pa.int64(), nullable=False),
    ]
)
ROW_GROUP_ROWS = 4096

ShardKey = tuple[str, int, int]  # split, shard, shard count


def shard_name(index: int, count: int, extension: str) -> str:
    """``part-00000-of-00004.<extension>``."""
    return f"part-{index:05d}-of-{count:05d}.{extension}"


def shard_paths(masked_dir: str, split: str, index: int, count: int) -> tuple[str, str]:
    """The TFRecord and the Parquet file of one shard."""
    return (
        join(masked_dir, "tfrecord", split, shard_name(index, count, "tfrecord")),
        join(masked_dir, "parquet", split, shard_name(index, count, "parquet")),
    )


def num_shards(num_packs: int, packs_per_shard: int = PACKS_PER_SHARD) -> int:
    """Shards of a split of ``num_packs`` packs (every shard holds at least one pack)."""
    return max(1, -(-num_packs // packs_per_shard))


def tf_example(example: MaskedExample) -> bytes:
    """The serialized ``tf.train.Example``: int64 ``inputs`` and ``targets`` only (seqio's)."""
    return tfrecord.encode_example(
        {"inputs": example.inputs.tolist(), "targets": example.targets.tolist()}
    )


def parquet_bytes(examples: Iterable[MaskedExample]) -> bytes:
    """A zstd Parquet file of ``examples``' rows, ``MASKED_SCHEMA``; same rows, same bytes."""
    buffer = io.BytesIO()
    with pq.ParquetWriter(buffer, MASKED_SCHEMA, compression="zstd") as writer:
        rows = [example_row(e) for e in examples]
        for begin in range(0, max(len(rows), 1), ROW_GROUP_ROWS):
            batch = rows[begin : begin + ROW_GROUP_ROWS]
            columns = {name: [row[name] for row in batch] for name in MASKED_SCHEMA.names}
            writer.write_table(pa.Table.from_pydict(columns, schema=MASKED_SCHEMA))
    return buffer.getvalue()


def _key_shard(
    item: tuple[str, int, MaskedExample], packs_per_shard: int
) -> tuple[ShardKey, MaskedExample]:
    split, num_packs, example = item
    shard = example.pack // packs_per_shard
    return (split, shard, num_shards(num_packs, packs_per_shard)), example


class _WriteShardFn(beam.DoFn):
    """One shard: its TFRecord and Parquet files, the same examples in ``(pack, segment)`` order.

    Then its masked-lineage file: every document of the shard is in it (a document lives in one
    pack), so the table needs no other shard and no global pass.
    """

    def __init__(self, masked_dir: str, table_dir: str, root: str) -> None:
        self._masked_dir = masked_dir
        self._table_dir = table_dir
        self._root = root

    def process(self, group: tuple[ShardKey, Iterable[MaskedExample]]) -> Iterator[dict[str, Any]]:
        (split, shard, count), examples = group
        ordered = sorted(examples, key=lambda e: (e.pack, e.segment))
        tfrecord_path, parquet_path = shard_paths(self._masked_dir, split, shard, count)
        write_atomic(tfrecord_path, (tfrecord.frame_record(tf_example(e)) for e in ordered))
        write_atomic(parquet_path, parquet_bytes(ordered))
        table = masked_lineage.shard_table_bytes(
            [e.doc_ids for e in ordered], self._root, parquet_path, tfrecord_path
        )
        write_atomic(masked_lineage.table_path(self._table_dir, parquet_path), table)
        yield {
            "kind": "shard",
            "split": split,
            "shard": shard,
            "num_shards": count,
            "examples": len(ordered),
            "packs": len({e.pack for e in ordered}),
            "documents": len({d for e in ordered for d in e.doc_ids}),
            "inputs_tokens": sum(len(e.inputs) for e in ordered),
            "targets_tokens": sum(len(e.targets) for e in ordered),
        }


def split_totals(records: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """Per split: shards, examples, packs and tokens summed over its shard records.

    ``documents`` is summed per shard: a document cut across two packs' shards never happens
    (a document lives in one pack), so the sum counts each document once.
    """
    out: dict[str, dict[str, int]] = {}
    for r in sorted(records, key=lambda r: (r["split"], r["shard"])):
        totals = out.setdefault(r["split"], {"shards": r["num_shards"]})
        for name in ("examples", "packs", "documents", "inputs_tokens", "targets_tokens"):
            totals[name] = totals.get(name, 0) + int(r[name])
    return out


def masked_files(masked_dir: str, table_dir: str | None = None) -> list[str]:
    """Data and table files (any run's, and temporaries of failed attempts)."""
    patterns = [
        join(masked_dir, "tfrecord", "*", "part-*.tfrecord*"),
        join(masked_dir, "parquet", "*", "part-*.parquet*"),
    ]
    if table_dir is not None:
        patterns.append(join(table_dir, "*", "part-*.parquet*"))
    found: list[str] = []
    for result in FileSystems.match(patterns):
        found.extend(m.path for m in result.metadata_list)
    return sorted(found)


class _FinalizeFn(beam.DoFn):
    """Deletes files this run did not write, then writes ``config.json`` (last)."""

    def __init__(self, masked_dir: str, config_json: Mapping[str, Any], table_dir: str) -> None:
        self._masked_dir = masked_dir
        self._config_json = dict(config_json)
        self._table_dir = table_dir

    def process(self, group: tuple[Any, Iterable[dict[str, Any]]]) -> Iterator[dict[str, Any]]:
        _, records = group
        shards = [r for r in records if r.get("kind") == "shard"]
        passthrough = [r["value"] for r in records if r.get("kind") == "after"]
        written = set()
        for r in shards:
            paths = shard_paths(self._masked_dir, r["split"], r["shard"], r["num_shards"])
            written.update([*paths, masked_lineage.table_path(self._table_dir, paths[1])])
        found = masked_files(self._masked_dir, self._table_dir)
        stale = [p for p in found if p not in written]
        if stale:
            FileSystems.delete(stale)
        content = {**self._config_json, "splits": split_totals(shards)}
        text = json.dumps(content, sort_keys=True, indent=2) + "\n"
        write_atomic(join(self._masked_dir, "config.json"), text.encode("utf-8"))
        # ``c4 build --mask``: hand the build's own result (its stats) on as the final output.
        yield from passthrough if passthrough else [content]


class WriteMasked(beam.PTransform):  # type: ignore[misc]
    """Writes ``(split, num_packs, MaskedExample)`` to ``masked_dir``; one final element.

    Args:
        masked_dir: ``DIR/masked`` or ``--output``.
        config_json: the options and vocabulary (``packing.masked_config``); the per-split
            counts are added.
        after: optional PCollection that must be complete first (``c4 build``'s stats); its
            elements become this transform's output, so the build's result stays the final one.
        packs_per_shard: consecutive packs per shard file.
        build_dir: the built DIR when ``masked_dir`` is its ``masked/``: the masked lineage then
            goes to ``DIR/lineage/masked/``, else to ``masked_dir/lineage/``.
    """

    def __init__(
        self,
        masked_dir: str,
        config_json: Mapping[str, Any],
        after: beam.PCollection | None = None,
        packs_per_shard: int = PACKS_PER_SHARD,
        build_dir: str | None = None,
    ) -> None:
        super().__init__()
        if packs_per_shard < 1:
            raise ValueError(f"packs_per_shard must be positive, got {packs_per_shard}")
        self._packs_per_shard = packs_per_shard
        self._masked_dir = masked_dir
        self._config_json = dict(config_json)
        self._after = after
        self._table_dir, self._root = masked_lineage.layout(masked_dir, build_dir)

    def expand(self, examples: beam.PCollection) -> beam.PCollection:
        written = (
            examples
            | "KeyShards" >> beam.Map(_key_shard, packs_per_shard=self._packs_per_shard)
            | "GroupShards" >> beam.GroupByKey()
            | "WriteShards"
            >> beam.ParDo(_WriteShardFn(self._masked_dir, self._table_dir, self._root))
        )
        branches: Sequence[beam.PCollection] = [written]
        if self._after is not None:
            branches = [
                written,
                self._after | "AfterRecord" >> beam.Map(lambda v: {"kind": "after", "value": v}),
            ]
        # Finalize runs even when no document was left to mask.
        seed = examples.pipeline | "Seed" >> beam.Create([{"kind": "seed"}])
        return (
            [seed, *branches]
            | "AllWritten" >> beam.Flatten()
            | "OneKey" >> beam.Map(lambda r: ("", r))
            | "GatherWritten" >> beam.GroupByKey()
            | "Finalize"
            >> beam.ParDo(_FinalizeFn(self._masked_dir, self._config_json, self._table_dir))
        )
