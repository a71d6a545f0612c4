"""T5 packing: documents concatenated 128 at a time, cut into segments, each masked (C4_SPEC §3.2).

Pure. Everything random derives from md5 of the global seed, the epoch and a stable key (a doc_id,
or a pack and segment number) fed to numpy's PCG64, so a rerun anywhere gives the same bytes.

Order of documents (our choice; T5 reads TFDS order after a shuffle): ascending
``pack_sort_key(seed, epoch, doc_id)``, doc_id as tie-break. Pack ``g`` holds the documents of
ranks ``128 g .. 128 g + 127``. A new seed or epoch regroups the documents as well as
remasking them.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from pipeline.masking.spans import (
    EOS_ID,
    check_counts,
    corrupt_segment,
    noise_counts,
    random_spans_helper,
)

PAD_ID = 0
# t5 span_corruption: select_random_chunk(max_length=65536), reduce_concat_tokens(batch_size=128).
MAX_CHUNK_LENGTH = 65536
DOCS_PER_PACK = 128

Tokens = npt.NDArray[np.int32]


class Segment(NamedTuple):
    """Consecutive tokens of one pack, and the documents they came from (in order)."""

    pack: int
    number: int
    tokens: Tokens
    doc_ids: tuple[str, ...]


class MaskedExample(NamedTuple):
    """One span-corrupted example, as ``DIR/masked/`` stores it.

    ``seed`` is what seeded its mask (``mask_rng(seed)``), ``doc_ids`` the documents whose
    tokens it holds, ``pack``/``segment`` where it sits in the packing.
    """

    inputs: Tokens
    targets: Tokens
    doc_ids: tuple[str, ...]
    seed: int
    pack: int
    segment: int


@dataclass(frozen=True)
class MaskConfig:
    """The options of ``c4 mask``; refused at construction if T5 would refuse them.

    Attributes:
        inputs_length: encoder length, EOS included (512).
        targets_length: decoder length, EOS included (114); must be at least what
            ``random_spans_helper`` derives.
        noise_density: fraction of tokens masked (0.15).
        mean_noise_span_length: mean masked span length (3.0).
        seed: the global seed every draw derives from.
        epoch: another pass over the same data; a new epoch gives new packs and masks.
        docs_per_pack: documents concatenated per pack (128).
        max_chunk_length: longer documents contribute one random chunk of this many tokens.
    """

    inputs_length: int = 512
    targets_length: int = 114
    noise_density: float = 0.15
    mean_noise_span_length: float = 3.0
    seed: int = 0
    epoch: int = 0
    docs_per_pack: int = DOCS_PER_PACK
    max_chunk_length: int = MAX_CHUNK_LENGTH

    def __post_init__(self) -> None:
        if self.inputs_length < 2:
            raise ValueError(f"inputs_length must be at least 2, got {self.inputs_length}")
        if not 0.0 <= self.noise_density < 1.0:
            raise ValueError(f"noise_density must be in [0, 1), got {self.noise_density}")
        if self.mean_noise_span_length <= 0:
            raise ValueError(
                f"mean_noise_span_length must be positive, got {self.mean_noise_span_length}"
            )
        if self.seed < 0 or self.epoch < 0:
            raise ValueError(f"seed and epoch must be non-negative, got {self.seed}, {self.epoch}")
        if self.docs_per_pack < 1 or self.max_chunk_length < 1:
            raise ValueError("docs_per_pack and max_chunk_length must be positive")
        needed = self.derived_targets_length
        if self.targets_length < needed:
            # t5's span_corruption raises the same way (C4_SPEC §3.2 step 1).
            raise ValueError(
                f"Expected targets length for span corruption ({needed}) is greater than "
                f"configured targets length ({self.targets_length}): with inputs_length "
                f"{self.inputs_length}, noise_density {self.noise_density} and "
                f"mean_noise_span_length {self.mean_noise_span_length}, use "
                f"--targets_length {needed} or more"
            )
        # Every segment length a pack can end with must be maskable (see spans.check_counts).
        if self.noise_density > 0:
            for length in range(2, self.segment_length + 1):
                check_counts(noise_counts(length, self.noise_density, self.mean_noise_span_length))

    @property
    def max_noise_spans(self) -> int:
        """The most noise spans (so sentinels) any segment of this configuration gets."""
        if self.noise_density == 0:
            return 0
        return max(
            noise_counts(n, self.noise_density, self.mean_noise_span_length).num_spans
            for n in range(2, self.segment_length + 1)
        )

    def check_extra_ids(self, extra_ids: int) -> None:
        """Refuse a vocabulary with too few sentinels: T5 would silently reuse real pieces.

        Raises:
            ValueError: more noise spans per segment than ``extra_ids``.
        """
        if self.max_noise_spans > extra_ids:
            raise ValueError(
                f"segments of {self.segment_length} tokens get up to {self.max_noise_spans} "
                f"noise spans but the vocabulary has {extra_ids} sentinels: lower "
                "inputs_length or noise_density, or raise mean_noise_span_length"
            )

    @property
    def segment_length(self) -> int:
        """Raw tokens per segment: ``random_spans_helper(inputs_length)[0]`` (568 for 512)."""
        return self._helper()[0]

    @property
    def derived_targets_length(self) -> int:
        """The targets length T5 derives (114 for 512)."""
        return self._helper()[1]

    def _helper(self) -> tuple[int, int]:
        return random_spans_helper(
            self.inputs_length, self.noise_density, self.mean_noise_span_length
        )

    def to_dict(self) -> dict[str, object]:
        """The options plus the derived segment length, for ``masked/config.json``."""
        out: dict[str, object] = asdict(self)
        out["segment_length"] = self.segment_length
        out["derived_targets_length"] = self.derived_targets_length
        return out

    def to_json(self) -> str:
        """``to_dict`` as sorted JSON."""
        return json.dumps(self.to_dict(), sort_keys=True)


def _md5(*parts: object) -> bytes:
    # ":" cannot be mistaken inside the integers; doc_ids are UUIDs or hex digests.
    key = ":".join(str(p) for p in parts)
    return hashlib.md5(key.encode("utf-8")).digest()


def derive_seed(*parts: object) -> int:
    """A non-negative int63 seed from md5 of ``parts`` (fits Parquet/TFRecord int64)."""
    return int.from_bytes(_md5(*parts)[:8], "big") >> 1


def pack_sort_key(seed: int, epoch: int, doc_id: str) -> str:
    """The key documents are ranked by before packing: md5 hex of (seed, epoch, doc_id)."""
    return _md5("pack", seed, epoch, doc_id).hex()


def chunk_seed(seed: int, epoch: int, doc_id: str) -> int:
    """Seed of the random chunk taken from a document longer than ``max_chunk_length``."""
    return derive_seed("chunk", seed, epoch, doc_id)


def example_seed(seed: int, epoch: int, pack: int, segment: int) -> int:
    """Seed of one example's noise mask."""
    return derive_seed("mask", seed, epoch, pack, segment)


def select_random_chunk(tokens: Tokens, max_length: int, rng: np.random.Generator) -> Tokens:
    """t5 ``select_random_chunk``: one of the ``ceil(n / max_length)`` aligned chunks, uniformly."""
    num_segments = -(-len(tokens) // max_length)
    if num_segments <= 1:
        return tokens
    start = max_length * int(rng.integers(0, num_segments))
    return tokens[start : start + max_length]


def prepare_document(doc_id: str, tokens: Tokens, config: MaskConfig) -> Tokens:
    """A document's contribution to its pack: PAD stripped, one chunk if it is too long.

    T5 strips every 0 after ``padded_batch``; encoders never emit PAD, but a given id list might.
    """
    tokens = tokens[tokens != PAD_ID]
    if len(tokens) > config.max_chunk_length:
        rng = np.random.Generator(np.random.PCG64(chunk_seed(config.seed, config.epoch, doc_id)))
        tokens = select_random_chunk(tokens, config.max_chunk_length, rng)
    return tokens


def split_pack(
    pack: int, docs: Sequence[tuple[str, Tokens]], segment_length: int
) -> Iterator[Segment]:
    """Concatenate a pack's documents without separators and cut ``segment_length`` segments.

    The last segment is shorter; empty documents contribute nothing (T5 filters them out).
    """
    kept = [(doc_id, toks) for doc_id, toks in docs if len(toks)]
    if not kept:
        return
    flat = np.concatenate([toks for _, toks in kept]).astype(np.int32)
    ends = np.cumsum([len(toks) for _, toks in kept])
    starts = ends - np.array([len(toks) for _, toks in kept])
    for index, begin in enumerate(range(0, len(flat), segment_length)):
        end = min(begin + segment_length, len(flat))
        # Documents overlapping [begin, end): start before end, finish after begin.
        first = int(np.searchsorted(ends, begin, side="right"))
        last = int(np.searchsorted(starts, end, side="left"))
        doc_ids = tuple(kept[i][0] for i in range(first, last))
        yield Segment(pack, index, flat[begin:end], doc_ids)


# PCG64's increment (its stream); the state comes from the example seed. Any odd constant works:
# this is the one numpy's own PCG64 documentation uses as an example stream.
_PCG64_INC = 0xDA3E39CB94B95BDB << 1 | 1
_THREAD = threading.local()


def mask_rng(seed: int) -> np.random.Generator:
    """The generator one example's mask is drawn from: PCG64 with its state set to ``seed``.

    Setting the 128-bit state directly costs ~3 µs; ``Generator(PCG64(seed))`` hashes the seed
    through a SeedSequence for ~20 µs, a fifth of masking a 568-token segment. The generator is
    reused per thread, so draw from it before asking for the next one.
    """
    generator = getattr(_THREAD, "generator", None)
    if generator is None:
        generator = _THREAD.generator = np.random.Generator(np.random.PCG64(0))
    generator.bit_generator.state = {
        "bit_generator": "PCG64",
        "state": {"state": seed, "inc": _PCG64_INC},
        "has_uint32": 0,
        "uinteger": 0,
    }
    return generator


def mask_segment(segment: Segment, config: MaskConfig, sentinel_start: int) -> MaskedExample:
    """T5's ``denoise`` + ``append_eos_after_trim`` on one segment, seeded from its position."""
    seed = example_seed(config.seed, config.epoch, segment.pack, segment.number)
    rng = mask_rng(seed)
    pair = corrupt_segment(
        segment.tokens,
        config.noise_density,
        rng,
        sentinel_start,
        config.inputs_length,
        config.targets_length,
        config.mean_noise_span_length,
        EOS_ID,
    )
    return MaskedExample(
        pair.inputs, pair.targets, segment.doc_ids, seed, segment.pack, segment.number
    )


def mask_pack(
    pack: int,
    docs: Sequence[tuple[str, Tokens]],
    config: MaskConfig,
    sentinel_start: int,
) -> Iterator[MaskedExample]:
    """Every example of one pack; ``docs`` must already be in pack order and prepared."""
    for segment in split_pack(pack, docs, config.segment_length):
        yield mask_segment(segment, config, sentinel_start)


def order_documents(doc_ids: Sequence[str], seed: int, epoch: int) -> list[str]:
    """The doc_ids in packing order (ascending ``pack_sort_key``, doc_id to break ties)."""
    return sorted(doc_ids, key=lambda d: (pack_sort_key(seed, epoch, d), d))


def mask_documents(
    docs: Sequence[tuple[str, Tokens]], config: MaskConfig, sentinel_start: int
) -> Iterator[MaskedExample]:
    """In-memory reference of the whole stage: order, pack, split and mask tokenized documents.

    ``SpanCorrupt`` computes the same examples distributed; tests compare the two.
    """
    by_id = {doc_id: prepare_document(doc_id, toks, config) for doc_id, toks in docs}
    if len(by_id) != len(docs):
        raise ValueError("doc_ids must be unique")
    # T5 drops empty documents before batching, so every pack has 128 non-empty ones.
    kept = [doc_id for doc_id, toks in by_id.items() if len(toks)]
    order = order_documents(kept, config.seed, config.epoch)
    size = config.docs_per_pack
    for pack, begin in enumerate(range(0, len(order), size)):
        members = [(d, by_id[d]) for d in order[begin : begin + size]]
        yield from mask_pack(pack, members, config, sentinel_start)


def example_row(example: MaskedExample) -> dict[str, object]:
    """The Parquet row of ``masked/parquet``: ``inputs``, ``targets``, ``doc_ids``, ``seed``."""
    return {
        "inputs": example.inputs.astype(np.int32).tolist(),
        "targets": example.targets.astype(np.int32).tolist(),
        "doc_ids": list(example.doc_ids),
        "seed": int(example.seed),
    }


def masked_config(
    config: MaskConfig, vocab_sha256: str, vocab_source: str, vocab_size: int, extra_ids: int
) -> dict[str, object]:
    """The content of ``DIR/masked/config.json`` (INTERFACE.md): vocabulary, lengths, seed, epoch.

    Args:
        config: the masking options.
        vocab_sha256: sha256 of the model file (``Vocabulary.sha256``).
        vocab_source: the ``--vocab`` path or URL as given.
        vocab_size: pieces including the extra ids (``Vocabulary.vocab_size``).
        extra_ids: the sentinels appended (100).
    """
    return {
        **config.to_dict(),
        "vocab": {
            "source": vocab_source,
            "sha256": vocab_sha256,
            "vocab_size": vocab_size,
            "extra_ids": extra_ids,
            "first_sentinel": vocab_size - 1,
            "pad_id": PAD_ID,
            "eos_id": EOS_ID,
        },
        "packing": (
            "documents ordered by md5('pack:<seed>:<epoch>:<doc_id>'), concatenated "
            f"{config.docs_per_pack} at a time without separators, cut into "
            f"{config.segment_length}-token segments; mask seed = "
            "int63(md5('mask:<seed>:<epoch>:<pack>:<segment>')) = numpy PCG64 state (mask_rng)"
        ),
    }
