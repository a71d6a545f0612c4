"""T5 span corruption of a built C4: vocabulary, mask math, packing, writing, masked lineage.

``spans`` (T5's mask math), ``packing`` (documents -> 512/114 examples), ``vocab``
(SentencePiece), ``lineage`` (which examples hold which documents), ``mask_transform`` and
``write`` (the Beam stage and sink), ``run`` (``c4 mask`` and ``c4 vocab``).

May import: ``filters/``, ``formats/``, ``io/``, the build's ``write``/``lineage``/``options``,
``runners.select``, ``runners.direct``, ``runners.display`` (the live progress) and
``command``; never ``forget/``, ``cloud/`` or ``cli``. Pure modules only
are re-exported here; the Beam stage is ``pipeline.masking.mask_transform``.
"""

from pipeline.masking.packing import (
    MaskConfig,
    MaskedExample,
    example_row,
    mask_documents,
)
from pipeline.masking.spans import (
    noise_counts,
    noise_span_to_unique_sentinel,
    nonnoise_span_to_unique_sentinel,
    random_spans_helper,
    random_spans_noise_mask,
    span_corrupt,
)
from pipeline.masking.vocab import Vocabulary, train_vocab

__all__ = [
    "MaskConfig",
    "MaskedExample",
    "Vocabulary",
    "example_row",
    "mask_documents",
    "noise_counts",
    "noise_span_to_unique_sentinel",
    "nonnoise_span_to_unique_sentinel",
    "random_spans_helper",
    "random_spans_noise_mask",
    "span_corrupt",
    "train_vocab",
]
