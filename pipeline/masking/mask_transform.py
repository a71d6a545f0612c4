"""``SpanCorruptSplits`` / ``SpanCorrupt``: the Beam stage that turns documents into T5 examples.

Each split is packed on its own (``SpanCorruptSplits`` takes ``(split, doc_id, text)``;
``SpanCorrupt`` is the one-split form over ``(doc_id, text)``).

The packing must not depend on bundles, workers or the runner, so a document's pack is a pure
function of the set of documents: its rank by ``pack_sort_key`` (md5 of seed, epoch, doc_id).
A global sort on one worker would not scale to 365M documents, so the rank is computed in two
steps: documents go to one of ``2**bucket_bits`` buckets by the top bits of their sort key (ranges
of the key, so bucket order is key order); a count per bucket gives each bucket its offset; each
bucket sorts its own documents and adds its offset (joined to it by key, not a side input).
Pack = rank // 128. Buckets hold about N / 65536 documents (5.6k for full C4), so no worker
holds more than a bucket or a pack.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from pipeline.masking.packing import (
    MaskConfig,
    MaskedExample,
    Tokens,
    mask_pack,
    pack_sort_key,
    prepare_document,
)
from pipeline.masking.vocab import Vocabulary

NAMESPACE = "span-corruption"
DEFAULT_BUCKET_BITS = 16

# (sort_key, doc_id, tokens): a document ready to be ranked.
_Ranked = tuple[str, str, Tokens]
# (split, bucket): documents of different splits are ranked and packed apart.
_BucketKey = tuple[str, int]
# (split, number of packs of the split, example): what ``SpanCorruptSplits`` emits.
SplitExample = tuple[str, int, MaskedExample]


def read_vocab_bytes(path: str) -> bytes:
    """A model file's bytes from any Beam filesystem (local, ``gs://``, ...)."""
    with FileSystems.open(path) as handle:
        return bytes(handle.read())


def _bucket(sort_key: str, bucket_bits: int) -> int:
    return int(sort_key, 16) >> (128 - bucket_bits)


class _TokenizeFn(beam.DoFn):
    """Encode a document, strip PAD, take a random chunk if too long, key it by bucket."""

    def __init__(self, model_proto: bytes, extra_ids: int, config: MaskConfig, bits: int) -> None:
        self._model_proto = model_proto
        self._extra_ids = extra_ids
        self._config = config
        self._bits = bits
        self._vocab: Vocabulary | None = None
        self._passed = beam.metrics.Metrics.counter(NAMESPACE, "passed")
        self._empty = beam.metrics.Metrics.counter(NAMESPACE, "filtered:empty")
        self._tokens = beam.metrics.Metrics.counter(NAMESPACE, "tokens")

    def setup(self) -> None:
        self._vocab = Vocabulary(self._model_proto, self._extra_ids)

    def process(self, element: tuple[str, str, str]) -> Iterator[tuple[_BucketKey, _Ranked]]:
        split, doc_id, text = element
        assert self._vocab is not None
        tokens = prepare_document(doc_id, self._vocab.encode(text), self._config)
        if not len(tokens):
            # T5 filters empty documents before batching them.
            self._empty.inc()
            return
        self._passed.inc()
        self._tokens.inc(len(tokens))
        key = pack_sort_key(self._config.seed, self._config.epoch, doc_id)
        yield (split, _bucket(key, self._bits)), (key, doc_id, tokens)


def _offsets(counts: dict[int, int]) -> dict[int, int]:
    """Rank of each bucket's first document: the documents in all lower buckets."""
    out: dict[int, int] = {}
    total = 0
    for bucket in sorted(counts):
        out[bucket] = total
        total += counts[bucket]
    return out


def plan_buckets(
    counts: Iterable[tuple[_BucketKey, int]], docs_per_pack: int
) -> Iterator[tuple[_BucketKey, tuple[int, int]]]:
    """Each (split, bucket): the rank of its first document and its split's number of packs."""
    per_split: dict[str, dict[int, int]] = {}
    for (split, bucket), count in counts:
        per_split.setdefault(split, {})[bucket] = count
    for split, buckets in sorted(per_split.items()):
        num_packs = -(-sum(buckets.values()) // docs_per_pack)
        for bucket, offset in _offsets(buckets).items():
            yield (split, bucket), (offset, num_packs)


def _plan_buckets(
    group: tuple[str, Iterable[tuple[_BucketKey, int]]], docs_per_pack: int
) -> Iterator[tuple[_BucketKey, tuple[int, int]]]:
    return plan_buckets(group[1], docs_per_pack)


def _order(item: _Ranked) -> tuple[str, str, bytes]:
    # The tokens only break ties between duplicate doc_ids, so even those order the same way.
    return item[0], item[1], item[2].tobytes()


_PackMember = tuple[int, int, str, Tokens]  # num_packs, rank, doc_id, tokens


def _rank_bucket(
    joined: tuple[_BucketKey, dict[str, Iterable[Any]]], docs_per_pack: int
) -> Iterator[tuple[tuple[str, int], _PackMember]]:
    (split, bucket), tagged = joined
    plans = list(tagged["plan"])
    if len(plans) != 1:
        raise RuntimeError(f"split {split!r} bucket {bucket}: {len(plans)} offsets")
    offset, num_packs = plans[0]
    for i, (_, doc_id, tokens) in enumerate(sorted(tagged["docs"], key=_order)):
        rank = offset + i
        yield (split, rank // docs_per_pack), (num_packs, rank, doc_id, tokens)


class _MaskPackFn(beam.DoFn):
    """All examples of one pack, its documents in rank order."""

    def __init__(self, config: MaskConfig, sentinel_start: int) -> None:
        self._config = config
        self._sentinel_start = sentinel_start
        self._examples = beam.metrics.Metrics.counter(NAMESPACE, "examples")
        self._packs = beam.metrics.Metrics.counter(NAMESPACE, "packs")

    def process(
        self, element: tuple[tuple[str, int], Iterable[_PackMember]]
    ) -> Iterator[SplitExample]:
        (split, pack), members = element
        ordered = sorted(members, key=lambda m: m[1])
        num_packs = ordered[0][0]
        docs = [(doc_id, tokens) for _, _, doc_id, tokens in ordered]
        self._packs.inc()
        for example in mask_pack(pack, docs, self._config, self._sentinel_start):
            self._examples.inc()
            yield split, num_packs, example


class SpanCorruptSplits(beam.PTransform):  # type: ignore[misc]
    """PCollection[(split, doc_id, text)] -> PCollection[(split, num_packs, MaskedExample)].

    Each split is ranked, packed and masked on its own, identically on every runner. No side
    inputs: the Dask runners compute a side input's bag again in every task that reads it,
    re-running everything upstream, so the bucket offsets reach the documents by a join.
    Examples come out unordered (a PCollection has no order); ``(pack, segment)`` orders them
    the way T5 would emit them, and the writer sorts by it.
    """

    def __init__(
        self,
        mask_config: MaskConfig,
        vocab: Vocabulary,
        bucket_bits: int = DEFAULT_BUCKET_BITS,
        label: str | None = None,
    ) -> None:
        """Args:
        mask_config: lengths, density, span length, seed and epoch.
        vocab: the vocabulary (its bytes travel to the workers, not a path).
        bucket_bits: log2 of the rank buckets (see the module docstring).
        label: the transform's label.
        """
        super().__init__(label)
        if not 1 <= bucket_bits <= 32:
            raise ValueError(f"bucket_bits must be in 1..32, got {bucket_bits}")
        mask_config.check_extra_ids(vocab.extra_ids)
        self._config = mask_config
        self._model_proto = vocab.model_proto
        self._extra_ids = vocab.extra_ids
        self._sentinel_start = vocab.first_sentinel
        self._bits = bucket_bits

    def expand(self, docs: Any) -> Any:
        config = self._config
        per_pack = config.docs_per_pack
        keyed = docs | "Tokenize" >> beam.ParDo(
            _TokenizeFn(self._model_proto, self._extra_ids, config, self._bits)
        )
        plans = (
            keyed
            | "One" >> beam.MapTuple(lambda bucket, _: (bucket, 1))
            | "CountPerBucket" >> beam.CombinePerKey(sum)
            | "KeyAllCounts" >> beam.Map(lambda kv: ("", kv))
            | "GatherCounts" >> beam.GroupByKey()
            | "PlanBuckets" >> beam.FlatMap(_plan_buckets, docs_per_pack=per_pack)
        )
        return (
            {"plan": plans, "docs": keyed}
            | "JoinPlans" >> beam.CoGroupByKey()
            | "Rank" >> beam.FlatMap(_rank_bucket, docs_per_pack=per_pack)
            | "GroupPack" >> beam.GroupByKey()
            | "Mask" >> beam.ParDo(_MaskPackFn(config, self._sentinel_start))
        )


def _one_split(element: tuple[str, str]) -> tuple[str, str, str]:
    return "", element[0], element[1]


class SpanCorrupt(beam.PTransform):  # type: ignore[misc]
    """PCollection[(doc_id, text)] -> PCollection[MaskedExample]: one split of documents."""

    def __init__(
        self,
        mask_config: MaskConfig,
        vocab: Vocabulary,
        bucket_bits: int = DEFAULT_BUCKET_BITS,
        label: str | None = None,
    ) -> None:
        """Args: as ``SpanCorruptSplits``."""
        super().__init__(label)
        self._inner = SpanCorruptSplits(mask_config, vocab, bucket_bits)

    def expand(self, docs: Any) -> Any:
        return (
            docs
            | "OneSplit" >> beam.Map(_one_split)
            | "Corrupt" >> self._inner
            | "Examples" >> beam.Map(lambda item: item[2])
        )


def example_key(example: MaskedExample) -> tuple[int, int]:
    """The order T5 would emit examples in: pack, then segment."""
    return example.pack, example.segment
