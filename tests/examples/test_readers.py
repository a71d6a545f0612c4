"""docs/training.md's three readers of DIR/masked/, run on ``make run``'s output."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import tensorflow as tf
import torch
from torch.utils.data import DataLoader

from c4_examples.masked_data import MaskedParquet, hf_dataset, pad_batch, tf_dataset
from pipeline.masking.vocab import Vocabulary


def _parquet_rows(masked: Path) -> list[dict]:
    files = sorted((masked / "parquet" / "train").glob("part-*.parquet"))
    return [row for f in files for row in pq.read_table(f).to_pylist()]


def test_tf_data_reads_what_parquet_holds(make_run_output: Path) -> None:
    masked = make_run_output / "masked"
    rows = _parquet_rows(masked)
    got = [
        {k: v.numpy().tolist() for k, v in ex.items()}
        for ex in tf_dataset(str(masked)).as_numpy_iterator()
        for ex in [{k: tf.constant(v) for k, v in ex.items()}]
    ]
    assert got == [{"inputs": r["inputs"], "targets": r["targets"]} for r in rows]
    config = json.loads((masked / "config.json").read_text())
    eos = config["vocab"]["eos_id"]
    for ex in got:
        assert len(ex["inputs"]) <= config["inputs_length"] and ex["inputs"][-1] == eos
        assert len(ex["targets"]) <= config["targets_length"] and ex["targets"][-1] == eos


def test_tf_data_batches_as_seqio_would(make_run_output: Path) -> None:
    """The Task in docs/training.md: int32 features, padded batches of 512/114."""
    ds = tf_dataset(str(make_run_output / "masked")).padded_batch(
        4, padded_shapes={"inputs": [512], "targets": [114]}
    )
    batch = next(iter(ds))
    assert batch["inputs"].dtype == tf.int32
    assert batch["inputs"].shape == (4, 512) and batch["targets"].shape == (4, 114)


def test_sentinels_decode_like_seqio(make_run_output: Path) -> None:
    """Loaded seqio's way (extra_ids=100): targets start with <extra_id_0>, then count down."""
    vocab = Vocabulary.from_file(
        Path(__file__).resolve().parents[2] / "pipeline/data/vocab/c4_sample_8k.model"
    )
    row = _parquet_rows(make_run_output / "masked")[0]
    assert vocab.id_to_piece(row["targets"][0]) == "▁<extra_id_0>"
    sentinels = [t for t in row["inputs"] if t >= vocab.base_size]
    assert sentinels == list(range(8099, 8099 - len(sentinels), -1))


def test_torch_iterable_dataset(make_run_output: Path) -> None:
    masked = str(make_run_output / "masked")
    rows = _parquet_rows(make_run_output / "masked")
    dataset = MaskedParquet(masked, with_doc_ids=True)
    streamed = list(dataset)
    assert [s["inputs"].tolist() for s in streamed] == [r["inputs"] for r in rows]
    assert [s["doc_ids"] for s in streamed] == [r["doc_ids"] for r in rows]
    shuffled = MaskedParquet(masked, shuffle_buffer=16, seed=1)
    order = [s["inputs"].tolist() for s in shuffled]
    assert order != [r["inputs"] for r in rows] and sorted(order) == sorted(
        r["inputs"] for r in rows
    )
    assert order == [s["inputs"].tolist() for s in shuffled]  # same seed and epoch: same order
    batch = next(iter(DataLoader(MaskedParquet(masked), batch_size=8, collate_fn=pad_batch)))
    assert batch["inputs"].dtype == torch.long and batch["inputs"].shape[0] == 8
    assert batch["targets"].shape[1] <= 114
    with pytest.raises(FileNotFoundError):
        MaskedParquet(masked, split="nosuchsplit")


def test_hf_datasets_offline(make_run_output: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    masked = make_run_output / "masked"
    ds = hf_dataset(str(masked), cache_dir=str(tmp_path / "hf"))
    rows = _parquet_rows(masked)
    assert ds.num_rows == len(rows)
    assert ds.column_names == ["inputs", "targets", "doc_ids", "seed"]
    assert ds[0]["inputs"] == rows[0]["inputs"] and ds[0]["doc_ids"] == rows[0]["doc_ids"]
    torch_ds = ds.with_format("torch", columns=["inputs", "targets"])
    assert torch_ds[0]["inputs"].tolist() == rows[0]["inputs"]  # datasets casts to int64
