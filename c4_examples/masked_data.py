"""Readers of ``DIR/masked/`` for trainers, the code docs/training.md shows (and tests run).

- ``tf_dataset``: ``tf.data`` over the TFRecord shards (what a seqio ``TFExampleDataSource`` does);
- ``MaskedParquet``: a PyTorch ``IterableDataset`` streaming the Parquet shards;
- ``hf_dataset``: Hugging Face ``datasets`` over the same Parquet files, offline.

Examples are not padded: ``inputs`` and ``targets`` end with EOS (1) and are at most 512/114 ids
long; batch them with ``pad_batch`` (PAD = 0, which T5 also uses as the decoder start id).
"""

from __future__ import annotations

import glob
import os
import random
from collections.abc import Iterator, Sequence
from typing import Any

PAD_ID = 0


def shard_files(masked_dir: str, split: str, fmt: str) -> list[str]:
    """The shards of one split, in order: ``fmt`` is ``tfrecord`` or ``parquet``."""
    return sorted(glob.glob(os.path.join(masked_dir, fmt, split, f"part-*.{fmt}")))


# --- tf.data --------------------------------------------------------------------------------


def feature_description() -> dict[str, Any]:
    """The TFRecord feature spec: variable-length int64 ``inputs`` and ``targets``."""
    import tensorflow as tf

    return {
        "inputs": tf.io.FixedLenSequenceFeature([], tf.int64, allow_missing=True),
        "targets": tf.io.FixedLenSequenceFeature([], tf.int64, allow_missing=True),
    }


def tf_dataset(masked_dir: str, split: str = "train") -> Any:
    """``tf.data.Dataset`` of ``{"inputs", "targets"}`` int32 vectors, in file order."""
    import tensorflow as tf

    spec = feature_description()

    def parse(record: Any) -> dict[str, Any]:
        example = tf.io.parse_single_example(record, spec)
        return {name: tf.cast(value, tf.int32) for name, value in example.items()}

    files = shard_files(masked_dir, split, "tfrecord")
    return tf.data.TFRecordDataset(files).map(parse)


# --- PyTorch --------------------------------------------------------------------------------

try:
    import torch
    from torch.utils.data import IterableDataset, get_worker_info
except ImportError:  # the tf.data and datasets readers do not need torch
    torch = None  # type: ignore[assignment]
    IterableDataset = object  # type: ignore[assignment,misc]


class MaskedParquet(IterableDataset):  # type: ignore[misc,type-arg]
    """Streams ``{"inputs", "targets"}`` int64 tensors from ``masked/parquet/<split>/``.

    One row group at a time is in memory. With ``DataLoader(num_workers=N)`` each worker reads
    every N-th file. ``shuffle_buffer > 0`` shuffles within a buffer, seeded by ``seed`` and
    the epoch set with ``set_epoch`` (the data itself is already in a random order: packs are
    ordered by md5 of doc_id).
    """

    def __init__(
        self,
        masked_dir: str,
        split: str = "train",
        shuffle_buffer: int = 0,
        seed: int = 0,
        with_doc_ids: bool = False,
    ) -> None:
        super().__init__()
        self.files = shard_files(masked_dir, split, "parquet")
        if not self.files:
            raise FileNotFoundError(f"no Parquet shards in {masked_dir}/parquet/{split}/")
        self.shuffle_buffer = shuffle_buffer
        self.seed = seed
        self.epoch = 0
        self.with_doc_ids = with_doc_ids

    def set_epoch(self, epoch: int) -> None:
        """Another shuffle order for another pass."""
        self.epoch = epoch

    def _rows(self) -> Iterator[dict[str, Any]]:
        import pyarrow.parquet as pq

        info = get_worker_info()
        files = self.files if info is None else self.files[info.id :: info.num_workers]
        columns = ["inputs", "targets", *(["doc_ids"] if self.with_doc_ids else [])]
        for path in files:
            parquet = pq.ParquetFile(path)
            for group in range(parquet.num_row_groups):
                table = parquet.read_row_group(group, columns=columns)
                yield from table.to_pylist()

    def __iter__(self) -> Iterator[dict[str, Any]]:
        rows = self._rows()
        if self.shuffle_buffer > 0:
            rows = _shuffled(
                rows, self.shuffle_buffer, random.Random(self.seed * 1000 + self.epoch)
            )
        for row in rows:
            out: dict[str, Any] = {
                "inputs": torch.tensor(row["inputs"], dtype=torch.long),
                "targets": torch.tensor(row["targets"], dtype=torch.long),
            }
            if self.with_doc_ids:
                out["doc_ids"] = row["doc_ids"]
            yield out


def _shuffled(
    rows: Iterator[dict[str, Any]], size: int, rng: random.Random
) -> Iterator[dict[str, Any]]:
    buffer: list[dict[str, Any]] = []
    for row in rows:
        buffer.append(row)
        if len(buffer) >= size:
            yield buffer.pop(rng.randrange(len(buffer)))
    rng.shuffle(buffer)
    yield from buffer


def pad_batch(examples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """``DataLoader`` collate: pad ``inputs`` and ``targets`` with PAD to the batch's longest."""
    from torch.nn.utils.rnn import pad_sequence

    return {
        name: pad_sequence([e[name] for e in examples], batch_first=True, padding_value=PAD_ID)
        for name in ("inputs", "targets")
    }


# --- Hugging Face datasets ------------------------------------------------------------------


def hf_dataset(masked_dir: str, split: str = "train", cache_dir: str | None = None) -> Any:
    """``datasets.Dataset`` over the Parquet shards (local files: no network)."""
    import datasets

    files = shard_files(masked_dir, split, "parquet")
    return datasets.load_dataset(
        "parquet", data_files={split: files}, split=split, cache_dir=cache_dir
    )
