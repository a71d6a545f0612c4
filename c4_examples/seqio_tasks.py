"""seqio Tasks over a c4-pipeline build: the code docs/training.md shows ("seqio / T5X").

It runs where seqio runs, which is not the pipeline's environment (docs/training.md, "Two
environments"): it imports only seqio, TensorFlow and the standard library, so a training
environment can import it from this package installed with ``pip install --no-deps
c4-pipeline``, or copy it. ``tests/seqio/`` runs it in ``.venv-seqio`` (``make seqio``).

- ``register_built_task``: the documents of ``DIR/c4/<config>/<version>``, read by TFDS
  (``TfdsDataSource`` with ``tfds_data_dir``), tokenized as T5's C4 Tasks do;
- ``register_premasked_task``: ``DIR/masked/``'s TFRecords as they are, already tokenized,
  packed, masked and ending with EOS.

A split a build declares with 0 examples (``builder.info.splits[name].num_examples == 0``)
cannot be read: TFDS raises ``Instruction [] corresponds to no data!``. ``readable_splits``
lists the others.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping
from typing import Any

import seqio
import tensorflow as tf

# T5's (and seqio's) sentinels: 100 extra ids appended to the SentencePiece model.
EXTRA_IDS = 100


def vocabulary(model_path: str) -> seqio.SentencePieceVocabulary:
    """The vocabulary a set was masked with, loaded as seqio loads T5's (``extra_ids=100``)."""
    return seqio.SentencePieceVocabulary(model_path, extra_ids=EXTRA_IDS)


def masked_config(masked_dir: str) -> dict[str, Any]:
    """``masked/config.json``: lengths, vocabulary and the splits that have examples."""
    with tf.io.gfile.GFile(os.path.join(masked_dir, "config.json")) as handle:
        return dict(json.load(handle))


def readable_splits(builder_dir: str) -> list[str]:
    """The splits of a built ``DIR/c4/<config>/<version>`` that hold examples."""
    import tensorflow_datasets as tfds

    splits = tfds.builder_from_directory(builder_dir).info.splits
    return sorted(name for name, info in splits.items() if info.num_examples > 0)


def register_built_task(
    name: str,
    data_dir: str,
    vocab: seqio.Vocabulary,
    tfds_name: str = "c4/en:3.1.0",
) -> seqio.Task:
    """A Task over the documents of a build, as T5's C4 Tasks read TFDS's ``c4``.

    ``data_dir`` is the build's DIR (it holds ``c4/<config>/<version>/``). Examples keep the
    text as ``targets_pretokenized`` and its token ids, EOS appended, as ``targets``; add
    T5's ``span_corruption`` preprocessor here to mask on the fly instead.
    """
    return seqio.TaskRegistry.add(
        name,
        source=seqio.TfdsDataSource(tfds_name=tfds_name, tfds_data_dir=data_dir),
        preprocessors=[
            functools.partial(
                seqio.preprocessors.rekey, key_map={"inputs": None, "targets": "text"}
            ),
            seqio.preprocessors.tokenize,
            seqio.preprocessors.append_eos_after_trim,
        ],
        output_features={"targets": seqio.Feature(vocab, add_eos=True)},
        metric_fns=[],
    )


@seqio.map_over_dataset
def _to_int32(example: Mapping[str, Any]) -> dict[str, Any]:
    return {key: tf.cast(value, tf.int32) for key, value in example.items()}


def register_premasked_task(
    name: str, masked_dir: str, vocab: seqio.Vocabulary | None = None
) -> seqio.Task:
    """A Task reading ``DIR/masked/`` as it is: no tokenization, no masking, no EOS to add.

    Its splits are those ``masked/config.json`` lists (a split with no example has no file);
    ``vocab`` defaults to the model named there when that is a path or URL (the shipped model
    is named ``c4-pipeline:pipeline/data/vocab/c4_sample_8k.model``: pass it). Train with
    ``EncDecFeatureConverter`` and ``task_feature_lengths={"inputs": inputs_length, "targets":
    targets_length}`` from the same file.
    """
    config = masked_config(masked_dir)
    if vocab is None:
        vocab = vocabulary(config["vocab"]["source"])
    feature = tf.io.FixedLenSequenceFeature([], tf.int64, allow_missing=True)
    return seqio.TaskRegistry.add(
        name,
        source=seqio.TFExampleDataSource(
            split_to_filepattern={
                split: os.path.join(masked_dir, "tfrecord", split, "part-*.tfrecord")
                for split in sorted(config["splits"])
            },
            feature_description={"inputs": feature, "targets": feature},
        ),
        preprocessors=[_to_int32],
        output_features={
            "inputs": seqio.Feature(vocab, add_eos=False),
            "targets": seqio.Feature(vocab, add_eos=False),
        },
        metric_fns=[],
    )
