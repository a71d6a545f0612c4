"""SpanCorrupt on the DirectRunner: the in-memory reference's examples, on any bundling."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamPipeline
from apache_beam.testing.util import assert_that, equal_to
from hypothesis import given
from hypothesis import strategies as st

from pipeline.masking.mask_transform import SpanCorrupt, plan_buckets, read_vocab_bytes
from pipeline.masking.packing import MaskConfig, example_row, mask_documents
from pipeline.masking.vocab import Vocabulary
from tests.conftest import C4_SAMPLE

MODEL = Path(__file__).resolve().parents[3] / "pipeline" / "data" / "vocab" / "c4_sample_8k.model"


@pytest.fixture(scope="module")
def vocab() -> Vocabulary:
    return Vocabulary(read_vocab_bytes(str(MODEL)))


@pytest.fixture(scope="module")
def docs() -> list[tuple[str, str]]:
    """300 real C4 documents and one empty one; doc_id = sha1 of the URL."""
    with gzip.open(C4_SAMPLE, "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for _, line in zip(range(300), handle, strict=False)]
    out = [(hashlib.sha1(r["url"].encode()).hexdigest(), r["text"]) for r in rows]
    return [*out, ("empty-doc", "")]


def _rows(examples: list) -> list[str]:
    return sorted(
        json.dumps({**example_row(e), "pack": e.pack, "segment": e.segment}, sort_keys=True)
        for e in examples
    )


def _expected(docs: list[tuple[str, str]], config: MaskConfig, vocab: Vocabulary) -> list[str]:
    tokenized = [(d, vocab.encode(t)) for d, t in docs]
    return _rows(list(mask_documents(tokenized, config, vocab.first_sentinel)))


def _run(docs: list, config: MaskConfig, vocab: Vocabulary, bits: int, expected: list) -> None:
    with BeamPipeline() as p:
        examples = (
            p | beam.Create(docs, reshuffle=True) | SpanCorrupt(config, vocab, bucket_bits=bits)
        )
        rows = examples | beam.Map(
            lambda e: json.dumps(
                {**example_row(e), "pack": e.pack, "segment": e.segment}, sort_keys=True
            )
        )
        assert_that(rows, equal_to(expected))


def test_direct_runner_matches_reference(docs: list, vocab: Vocabulary) -> None:
    config = MaskConfig(seed=11)
    expected = _expected(docs, config, vocab)
    assert len({json.loads(r)["pack"] for r in expected}) == 3  # 300 non-empty docs / 128
    _run(docs, config, vocab, 16, expected)


def test_small_packs_span_many_buckets(docs: list, vocab: Vocabulary) -> None:
    # 7 documents per pack and 4 buckets: packs straddle buckets, ranks need every offset.
    config = MaskConfig(seed=5, epoch=2, docs_per_pack=7)
    expected = _expected(docs[:120], config, vocab)
    _run(docs[:120], config, vocab, 2, expected)


def test_refuses_vocab_with_too_few_sentinels(vocab: Vocabulary) -> None:
    small = Vocabulary(vocab.model_proto, extra_ids=10)
    with pytest.raises(ValueError, match="10 sentinels"):
        SpanCorrupt(MaskConfig(), small)


def test_examples_hold_their_documents(docs: list, vocab: Vocabulary) -> None:
    config = MaskConfig(seed=11)
    rows = [json.loads(r) for r in _expected(docs, config, vocab)]
    covered = {d for r in rows for d in r["doc_ids"]}
    assert covered == {d for d, t in docs if t}
    assert all(np.asarray(r["inputs"]).max() < vocab.vocab_size for r in rows)


@given(
    st.dictionaries(
        st.tuples(st.sampled_from(["train", "validation"]), st.integers(0, 2**16 - 1)),
        st.integers(1, 300),
        max_size=40,
    ),
    st.integers(1, 200),
)
def test_plan_buckets_ranks_each_split_from_zero(counts: dict, per_pack: int) -> None:
    plans = dict(plan_buckets(sorted(counts.items()), per_pack))
    assert set(plans) == set(counts)
    for split in {s for s, _ in counts}:
        buckets = sorted(b for s, b in counts if s == split)
        total = sum(counts[(split, b)] for b in buckets)
        offset = 0
        for b in buckets:
            assert plans[(split, b)] == (offset, -(-total // per_pack))
            offset += counts[(split, b)]
