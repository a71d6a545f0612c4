"""Examples for trainers, installed with the package (docs/training.md).

- ``masked_data``: readers of ``DIR/masked/`` (tf.data, a PyTorch ``IterableDataset``, HF
  ``datasets``);
- ``moe_switch``: a small Switch Transformer trained on it (``python -m c4_examples.moe_switch``);
- ``seqio_tasks``: seqio Tasks over a build and its masked set, for a training environment with
  seqio (it cannot share the pipeline's, see docs/training.md).

Importing this package imports none of them, so each needs only its own libraries.
"""
