"""SentencePiece vocabularies the way seqio loads them, and training our own.

INTERFACE.md "Masking": ``pad=0, eos=1, unk=2``, no BOS, and 100 extra ids appended in reverse, so
with B base pieces ``<extra_id_0>`` is ``B + 99`` and ``<extra_id_99>`` is ``B`` (T5: 32099..32000).
Pure: the caller reads the model bytes (local or ``gs://``) and hands them in.
"""

from __future__ import annotations

import hashlib
import io
import struct
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import sentencepiece as spm

PAD_ID = 0
EOS_ID = 1
UNK_ID = 2
EXTRA_IDS = 100
# The model the package ships (pipeline/data/vocab/README.md): the default of --vocab.
DEFAULT_VOCAB_PATH = Path(__file__).resolve().parents[1] / "data" / "vocab" / "c4_sample_8k.model"
# sentencepiece's ModelProto.SentencePiece.Type.USER_DEFINED, the type seqio gives extra ids.
_USER_DEFINED = 4

# The recipe of pipeline/data/vocab/c4_sample_8k.model (its README repeats it).
TRAIN_OPTIONS: dict[str, Any] = {
    "model_type": "unigram",
    "pad_id": PAD_ID,
    "eos_id": EOS_ID,
    "unk_id": UNK_ID,
    "bos_id": -1,
    "character_coverage": 1.0,
    "normalization_rule_name": "nmt_nfkc",
    # Determinism: every sentence, in the order given, on one thread.
    "input_sentence_size": 0,
    "shuffle_input_sentence": False,
    "num_threads": 1,
    "hard_vocab_limit": True,
}


def sha256_hex(data: bytes) -> str:
    """sha256 of a model file's bytes: the vocabulary's identity in ``masked/config.json``."""
    return hashlib.sha256(data).hexdigest()


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _piece_field(piece: str, score: float, piece_type: int) -> bytes:
    """One ``ModelProto.pieces`` entry in protobuf wire format.

    Written by hand because sentencepiece's generated ``_pb2`` refuses the protobuf runtime that
    TensorFlow pins; a repeated field appended at the end of a message is appended to the list.
    """
    name = piece.encode("utf-8")
    body = b"\x0a" + _varint(len(name)) + name  # field 1 piece: string
    body += b"\x15" + struct.pack("<f", score)  # field 2 score: float
    body += b"\x18" + _varint(piece_type)  # field 3 type: enum
    return b"\x0a" + _varint(len(body)) + body  # ModelProto field 1 pieces


def add_extra_ids(model_proto: bytes, extra_ids: int = EXTRA_IDS) -> bytes:
    """seqio's ``_load_model``: append ``▁<extra_id_{i}>`` for i = extra_ids-1 .. 0."""
    extra = b"".join(
        _piece_field(f"▁<extra_id_{i}>", 0.0, _USER_DEFINED) for i in reversed(range(extra_ids))
    )
    return model_proto + extra


class Vocabulary:
    """A SentencePiece model with seqio's extra ids.

    Attributes:
        model_proto: the model file's bytes, as given (before extra ids).
        extra_ids: how many sentinels were appended.
        base_size: B, the pieces of the model file.
        vocab_size: B + extra_ids.
        sha256: sha256 of ``model_proto``.
    """

    def __init__(self, model_proto: bytes, extra_ids: int = EXTRA_IDS) -> None:
        """Loads the model and checks the ids T5's objective relies on.

        Raises:
            ValueError: pad, eos or unk are not 0, 1, 2, or the model has a BOS.
        """
        self.model_proto = model_proto
        self.extra_ids = extra_ids
        self.sha256 = sha256_hex(model_proto)
        self._sp = spm.SentencePieceProcessor(model_proto=add_extra_ids(model_proto, extra_ids))
        ids = (self._sp.pad_id(), self._sp.eos_id(), self._sp.unk_id(), self._sp.bos_id())
        if ids != (PAD_ID, EOS_ID, UNK_ID, -1):
            raise ValueError(
                f"vocabulary has pad/eos/unk/bos = {ids}; span corruption needs 0/1/2 and no BOS"
            )
        self.vocab_size = int(self._sp.get_piece_size())
        self.base_size = self.vocab_size - extra_ids

    @classmethod
    def from_file(cls, path: str | Path, extra_ids: int = EXTRA_IDS) -> Vocabulary:
        """Loads a local model file (the Beam layer reads ``gs://`` and calls the constructor)."""
        return cls(Path(path).read_bytes(), extra_ids)

    def __reduce__(self) -> tuple[type[Vocabulary], tuple[bytes, int]]:
        # The SentencePiece processor does not pickle; the bytes rebuild it on a worker.
        return (Vocabulary, (self.model_proto, self.extra_ids))

    @property
    def first_sentinel(self) -> int:
        """``<extra_id_0>``: ``vocab_size - 1``, where T5's sentinels start (C4_SPEC §3.1)."""
        return self.vocab_size - 1

    def sentinel(self, j: int) -> int:
        """The id of ``<extra_id_j>``."""
        if not 0 <= j < self.extra_ids:
            raise ValueError(f"extra id {j} out of range 0..{self.extra_ids - 1}")
        return self.vocab_size - 1 - j

    def encode(self, text: str) -> npt.NDArray[np.int32]:
        """Token ids of ``text``, without EOS (seqio ``tokenize`` with ``with_eos=False``)."""
        return np.asarray(self._sp.encode(text), dtype=np.int32)

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ``ids``; like seqio, ids past the vocabulary decode as UNK."""
        clean = [i if 0 <= i < self.vocab_size else UNK_ID for i in ids]
        return str(self._sp.decode(clean))

    def id_to_piece(self, token_id: int) -> str:
        """The piece string of one id."""
        return str(self._sp.id_to_piece(token_id))


def _lines(texts: Iterable[str]) -> Iterator[str]:
    # SentencePiece trains on sentences; a C4 document is lines of sentences.
    for text in texts:
        for line in text.split("\n"):
            line = line.strip()
            if line:
                yield line


def train_vocab(
    texts: Iterable[str],
    vocab_size: int,
    output_path: str | Path,
    max_sentence_length: int = 16384,
) -> str:
    """Trains a unigram SentencePiece model on ``texts``, deterministically, and writes it.

    The same texts in the same order give the same bytes (one thread, no sampling or shuffling).

    Args:
        texts: documents; each non-empty line is one training sentence.
        vocab_size: base pieces B (the extra ids come on top when loaded).
        output_path: where the ``.model`` file goes.
        max_sentence_length: longer lines (in bytes) are skipped by SentencePiece.

    Returns:
        the sha256 of the written model.
    """
    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=_lines(texts),
        model_writer=buffer,
        vocab_size=vocab_size,
        max_sentence_length=max_sentence_length,
        minloglevel=2,
        **TRAIN_OPTIONS,
    )
    data = buffer.getvalue()
    out = Path(output_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    return sha256_hex(data)
