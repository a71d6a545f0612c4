"""Run by tests/seqio/test_seqio.py inside ``.venv-seqio`` (``make seqio``), not by pytest.

    python read_with_seqio.py DIR VOCAB OUT.json

Registers ``c4_examples.seqio_tasks``'s two Tasks over a built DIR (``c4/en/3.1.0`` through
TFDS, and ``DIR/masked/``), reads every example of every split with seqio and writes what it
read, and what seqio says of the splits and the vocabulary, as JSON for the test to compare
with what pyarrow reads in the pipeline's own environment.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # c4_examples, from the repo

import google.protobuf
import sentencepiece
import seqio
import tensorflow as tf
import tensorflow_datasets as tfds

from c4_examples import seqio_tasks


def _examples(task: seqio.Task, split: str) -> list[dict[str, Any]]:
    dataset = task.get_dataset(sequence_length=None, split=split, shuffle=False, num_epochs=1)
    out = []
    for example in dataset.as_numpy_iterator():
        row: dict[str, Any] = {}
        for key, value in example.items():
            row[key] = value.decode("utf-8") if isinstance(value, bytes) else value.tolist()
        out.append(row)
    return out


def _try_read(task: seqio.Task, split: str) -> dict[str, Any]:
    try:
        return {"examples": _examples(task, split)}
    except Exception as exc:  # what a trainer sees reading a split with no examples
        return {"error": f"{type(exc).__name__}: {exc}".splitlines()[0]}


def main(data_dir: str, vocab_path: str, out_path: str) -> None:
    tf.config.set_visible_devices([], "GPU")
    vocab = seqio_tasks.vocabulary(vocab_path)
    built = seqio_tasks.register_built_task("c4_built_en", data_dir, vocab)
    masked_dir = os.path.join(data_dir, "masked")
    premasked = seqio_tasks.register_premasked_task("c4_premasked", masked_dir, vocab)
    builder_dir = os.path.join(data_dir, "c4", "en", "3.1.0")
    result: dict[str, Any] = {
        "versions": {
            "seqio": seqio.__version__,
            "tensorflow": tf.__version__,
            "tensorflow_datasets": tfds.__version__,
            "protobuf": google.protobuf.__version__,
            "sentencepiece": sentencepiece.__version__,
        },
        "vocab": {
            "vocab_size": vocab.vocab_size,
            "first_sentinel_piece": vocab.decode_tf(tf.constant([vocab.vocab_size - 1]))
            .numpy()
            .decode("utf-8"),
        },
        "built": {
            "splits": {
                name: built.source.num_input_examples(name) for name in sorted(built.source.splits)
            },
            "readable": seqio_tasks.readable_splits(builder_dir),
            "read": {name: _try_read(built, name) for name in sorted(built.source.splits)},
        },
        "masked": {
            "splits": sorted(premasked.source.splits),
            "read": {name: _try_read(premasked, name) for name in sorted(premasked.source.splits)},
        },
    }
    Path(out_path).write_text(json.dumps(result), encoding="utf-8")


if __name__ == "__main__":
    main(*sys.argv[1:4])
