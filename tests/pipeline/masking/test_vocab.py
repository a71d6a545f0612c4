"""The shipped SentencePiece model, loaded the way seqio loads it (extra_ids=100)."""

from __future__ import annotations

import gzip
import json
import pickle
import re
from pathlib import Path

import pytest
import sentencepiece as spm

from pipeline.masking.vocab import (
    EOS_ID,
    PAD_ID,
    UNK_ID,
    Vocabulary,
    add_extra_ids,
    sha256_hex,
    train_vocab,
)
from tests.conftest import C4_SAMPLE

VOCAB_DIR = Path(__file__).resolve().parents[3] / "pipeline" / "data" / "vocab"
MODEL = VOCAB_DIR / "c4_sample_8k.model"


@pytest.fixture(scope="module")
def texts() -> list[str]:
    with gzip.open(C4_SAMPLE, "rt", encoding="utf-8") as handle:
        return [json.loads(line)["text"] for line in handle]


@pytest.fixture(scope="module")
def vocab() -> Vocabulary:
    return Vocabulary.from_file(MODEL)


def test_ids_and_sentinels(vocab: Vocabulary) -> None:
    assert vocab.base_size >= 8000
    assert vocab.vocab_size == vocab.base_size + 100
    assert [vocab.id_to_piece(i) for i in (PAD_ID, EOS_ID, UNK_ID)] == ["<pad>", "</s>", "<unk>"]
    b = vocab.base_size
    assert vocab.first_sentinel == b + 99 == vocab.sentinel(0)
    assert vocab.id_to_piece(b + 99) == "▁<extra_id_0>"
    assert vocab.id_to_piece(b) == "▁<extra_id_99>"
    assert [vocab.sentinel(j) for j in range(100)] == list(range(b + 99, b - 1, -1))
    with pytest.raises(ValueError):
        vocab.sentinel(100)


def test_matches_seqio_layout_on_raw_model(vocab: Vocabulary) -> None:
    # Without extra ids the file is the base vocabulary with no BOS.
    raw = spm.SentencePieceProcessor(model_file=str(MODEL))
    assert raw.get_piece_size() == vocab.base_size
    assert (raw.pad_id(), raw.eos_id(), raw.unk_id(), raw.bos_id()) == (0, 1, 2, -1)
    with_ids = spm.SentencePieceProcessor(model_proto=add_extra_ids(MODEL.read_bytes()))
    assert [with_ids.id_to_piece(i) for i in range(raw.get_piece_size())] == [
        raw.id_to_piece(i) for i in range(raw.get_piece_size())
    ]


def test_encodes_real_text(vocab: Vocabulary, texts: list[str]) -> None:
    ids = vocab.encode(texts[0])
    assert len(ids) > 10
    assert ids.dtype.name == "int32"
    assert not {PAD_ID, EOS_ID} & set(ids.tolist())  # no EOS: seqio tokenizes with_eos=False
    assert ids.max() < vocab.base_size
    assert vocab.decode(ids.tolist()) == re.sub(r"\s+", " ", vocab.decode(ids.tolist()))
    assert (
        vocab.decode(vocab.encode("The cat sat on the mat.").tolist()) == "The cat sat on the mat."
    )
    # Sentinels written as text map to their ids, as T5's vocabulary does.
    assert vocab.first_sentinel in vocab.encode("a <extra_id_0> b").tolist()
    # Out-of-range ids decode as UNK, like seqio.
    assert vocab.decode([vocab.vocab_size + 5]) == vocab.decode([UNK_ID])


def test_pickles_for_workers(vocab: Vocabulary) -> None:
    clone = pickle.loads(pickle.dumps(vocab))
    assert clone.sha256 == vocab.sha256 == sha256_hex(MODEL.read_bytes())
    assert clone.encode("hello world").tolist() == vocab.encode("hello world").tolist()


def test_readme_records_the_hash() -> None:
    readme = (VOCAB_DIR / "README.md").read_text(encoding="utf-8")
    assert sha256_hex(MODEL.read_bytes()) in readme


@pytest.mark.slow
def test_recipe_rebuilds_the_shipped_model(texts: list[str], tmp_path: Path) -> None:
    # Same bytes as the shipped file: training is deterministic and the README recipe is complete.
    digest = train_vocab(texts, 8000, tmp_path / "c4.model")
    assert digest == sha256_hex(MODEL.read_bytes())


def test_refuses_a_model_with_bos(texts: list[str], tmp_path: Path) -> None:
    path = tmp_path / "bos.model"
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts[:50]),
        model_prefix=str(tmp_path / "bos"),
        vocab_size=300,
        minloglevel=2,
    )
    with pytest.raises(ValueError, match="0/1/2 and no BOS"):
        Vocabulary.from_file(path)
