"""Packing, seeds and configuration of T5 span corruption (C4_SPEC §3.2), on real C4 text."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.masking.packing import (
    MaskConfig,
    Segment,
    example_row,
    example_seed,
    mask_documents,
    mask_rng,
    masked_config,
    order_documents,
    prepare_document,
    select_random_chunk,
    split_pack,
)
from pipeline.masking.spans import noise_counts, random_spans_noise_mask
from pipeline.masking.vocab import Vocabulary
from tests.conftest import C4_SAMPLE

MODEL = Path(__file__).resolve().parents[3] / "pipeline" / "data" / "vocab" / "c4_sample_8k.model"


@pytest.fixture(scope="module")
def vocab() -> Vocabulary:
    return Vocabulary.from_file(MODEL)


@pytest.fixture(scope="module")
def real_docs(vocab: Vocabulary) -> list[tuple[str, np.ndarray]]:
    """300 real C4 documents, tokenized; doc_id = sha1 of the URL (these have no WARC id)."""
    with gzip.open(C4_SAMPLE, "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for _, line in zip(range(300), handle, strict=False)]
    return [(hashlib.sha1(r["url"].encode()).hexdigest(), vocab.encode(r["text"])) for r in rows]


def test_defaults_are_t5s() -> None:
    config = MaskConfig()
    assert (config.segment_length, config.derived_targets_length) == (568, 114)
    assert config.max_noise_spans == 28
    assert json.loads(config.to_json())["segment_length"] == 568


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"targets_length": 113}, r"targets length for span corruption \(114\)"),
        ({"inputs_length": 1024}, r"\(229\) is greater than configured targets length \(114\)"),
        ({"noise_density": 1.0}, "noise_density must be in"),
        ({"noise_density": -0.1}, "noise_density must be in"),
        ({"mean_noise_span_length": 0}, "mean_noise_span_length must be positive"),
        ({"noise_density": 0.5, "mean_noise_span_length": 1.0, "targets_length": 600}, "fit"),
        ({"seed": -1}, "non-negative"),
    ],
)
def test_inconsistent_options_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MaskConfig(**kwargs)  # type: ignore[arg-type]


def test_too_many_spans_for_sentinels_refused() -> None:
    config = MaskConfig(inputs_length=2048, targets_length=456)
    assert config.max_noise_spans > 100
    with pytest.raises(ValueError, match="100 sentinels"):
        config.check_extra_ids(100)
    MaskConfig().check_extra_ids(100)


def test_split_pack_tracks_documents() -> None:
    docs = [
        (f"d{i}", np.arange(i * 100, i * 100 + n, dtype=np.int32))
        for i, n in enumerate([3, 0, 5, 2, 7])
    ]
    segments = list(split_pack(4, docs, 4))
    assert [s.number for s in segments] == [0, 1, 2, 3, 4]
    assert [len(s.tokens) for s in segments] == [4, 4, 4, 4, 1]
    assert (
        np.concatenate([s.tokens for s in segments]).tolist()
        == np.concatenate([t for _, t in docs]).tolist()
    )
    # d0 = 3 tokens, d2 = 5, d3 = 2, d4 = 7: token owners 0 0 0 2 | 2 2 2 2 | 3 3 4 4 | 4 4 4 4 | 4
    assert [s.doc_ids for s in segments] == [
        ("d0", "d2"),
        ("d2",),
        ("d3", "d4"),
        ("d4",),
        ("d4",),
    ]
    assert all(s.pack == 4 for s in segments)
    assert list(split_pack(0, [("e", np.zeros(0, np.int32))], 4)) == []


def test_select_random_chunk_is_aligned() -> None:
    tokens = np.arange(10, dtype=np.int32)
    chunks = {
        tuple(select_random_chunk(tokens, 4, np.random.default_rng(s)).tolist()) for s in range(50)
    }
    assert chunks == {(0, 1, 2, 3), (4, 5, 6, 7), (8, 9)}
    config = MaskConfig(max_chunk_length=4)
    once = prepare_document("x", np.array([0, 5, 0, 6, 7, 8, 9, 10], np.int32), config)
    assert once.tolist() in ([5, 6, 7, 8], [9, 10])  # PAD stripped first, as T5's concat does
    assert (
        prepare_document("x", np.array([0, 5, 0, 6, 7, 8, 9, 10], np.int32), config).tolist()
        == once.tolist()
    )


def test_real_documents_pack_and_interleave(real_docs: list, vocab: Vocabulary) -> None:
    config = MaskConfig(seed=7, epoch=0)
    examples = list(mask_documents(real_docs, config, vocab.first_sentinel))
    order = order_documents([d for d, t in real_docs if len(t)], 7, 0)
    assert len(order) == 300
    by_id = dict(real_docs)
    for pack in range(3):
        members = order[pack * 128 : (pack + 1) * 128]
        pack_examples = [e for e in examples if e.pack == pack]
        assert [e.segment for e in pack_examples] == list(range(len(pack_examples)))
        # Every example but each pack's last is a full 568-token segment: 512 / 114 exactly.
        for e in pack_examples[:-1]:
            assert (len(e.inputs), len(e.targets)) == (512, 114)
        assert all(len(e.inputs) <= 512 and len(e.targets) <= 114 for e in pack_examples)
        assert all(e.inputs[-1] == 1 and e.targets[-1] == 1 for e in pack_examples)
        # The pack's documents, concatenated without separators, are what its examples hold.
        rebuilt: list[int] = []
        for e in pack_examples:
            rebuilt.extend(_interleave(e.inputs[:-1], e.targets[:-1], vocab))
        assert rebuilt == np.concatenate([by_id[d] for d in members]).tolist()
        seen = [d for e in pack_examples for d in e.doc_ids]
        assert list(dict.fromkeys(seen)) == members


def _interleave(inputs: np.ndarray, targets: np.ndarray, vocab: Vocabulary) -> list[int]:
    spans: dict[int, list[int]] = {}
    for tok in targets.tolist():
        if tok >= vocab.base_size:
            current = tok
            spans[current] = []
        else:
            spans[current].append(tok)
    out: list[int] = []
    for tok in inputs.tolist():
        out.extend(spans[tok] if tok >= vocab.base_size else [tok])
    return out


def test_seed_is_recorded_and_reproduces_the_mask(real_docs: list, vocab: Vocabulary) -> None:
    config = MaskConfig(seed=3, epoch=1)
    example = next(iter(mask_documents(real_docs, config, vocab.first_sentinel)))
    assert example.seed == example_seed(3, 1, example.pack, example.segment)
    assert 0 <= example.seed < 2**63
    mask = random_spans_noise_mask(568, 0.15, mask_rng(example.seed))
    counts = noise_counts(568, 0.15, 3.0)
    # The recorded seed regenerates the mask: its non-noise tokens are the inputs' non-sentinels.
    assert int(mask.sum()) == counts.num_noise
    non_sentinels = [t for t in example.inputs[:-1].tolist() if t < vocab.base_size]
    assert len(non_sentinels) == counts.num_nonnoise
    tokens = np.array(_interleave(example.inputs[:-1], example.targets[:-1], vocab))
    assert tokens[~mask].tolist() == non_sentinels  # the very positions, not only the counts
    row = example_row(example)
    assert row["seed"] == example.seed and row["doc_ids"] == list(example.doc_ids)


def _digest(examples: list) -> str:
    h = hashlib.sha256()
    for e in examples:
        h.update(json.dumps(example_row(e), sort_keys=True).encode())
    return h.hexdigest()


def test_determinism_and_epochs(real_docs: list, vocab: Vocabulary) -> None:
    first = list(mask_documents(real_docs, MaskConfig(seed=1), vocab.first_sentinel))
    again = list(
        mask_documents(list(reversed(real_docs)), MaskConfig(seed=1), vocab.first_sentinel)
    )
    assert _digest(first) == _digest(again)  # input order does not matter
    epoch1 = list(mask_documents(real_docs, MaskConfig(seed=1, epoch=1), vocab.first_sentinel))
    seed2 = list(mask_documents(real_docs, MaskConfig(seed=2), vocab.first_sentinel))
    assert _digest(epoch1) != _digest(first) and _digest(seed2) != _digest(first)
    # Same data, same token count, different masks.
    total = sum(len(t) for _, t in real_docs)
    for run in (first, epoch1, seed2):
        assert (
            sum(
                len(e.inputs) + len(e.targets) - 2 - 2 * sum(e.inputs >= vocab.base_size)
                for e in run
            )
            == total
        )


def test_duplicate_doc_ids_refused(vocab: Vocabulary) -> None:
    docs = [("a", np.array([5, 6], np.int32)), ("a", np.array([7], np.int32))]
    with pytest.raises(ValueError, match="unique"):
        list(mask_documents(docs, MaskConfig(), vocab.first_sentinel))


def test_segment_is_named_tuple() -> None:
    assert Segment(0, 1, np.zeros(1, np.int32), ("a",)).number == 1


def test_masked_config_json(vocab: Vocabulary) -> None:
    out = masked_config(MaskConfig(seed=4), vocab.sha256, "builtin", vocab.vocab_size, 100)
    text = json.dumps(out, sort_keys=True)
    assert json.loads(text)["vocab"]["first_sentinel"] == vocab.first_sentinel
    assert out["seed"] == 4 and out["segment_length"] == 568 and out["targets_length"] == 114
