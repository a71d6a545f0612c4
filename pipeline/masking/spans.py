"""T5's span-corruption math in numpy: lengths, the noise mask, sentinels and EOS (C4_SPEC §3).

Pure: no Beam, no TensorFlow. Function names follow t5 0.9.4's ``preprocessors.py`` so a reader
can put the two side by side. What we reproduce exactly is every count and length; the random
draws come from a numpy ``Generator`` (TF's Philox bits cannot be matched, C4_SPEC §3.4), and
they follow the same distribution: a uniformly random composition of each span count.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

EOS_ID = 1

Tokens = npt.NDArray[np.int32]
Mask = npt.NDArray[np.bool_]


class SpanCounts(NamedTuple):
    """How many tokens of a segment are noise, in how many spans (C4_SPEC §3.4)."""

    length: int
    num_noise: int
    num_spans: int
    num_nonnoise: int


class CorruptedPair(NamedTuple):
    """One T5 example: ``inputs`` and ``targets``, each trimmed and ending with EOS."""

    inputs: Tokens
    targets: Tokens


def random_spans_helper(
    inputs_length: int,
    noise_density: float,
    mean_noise_span_length: float,
    extra_tokens_per_span_inputs: int = 1,
    extra_tokens_per_span_targets: int = 1,
) -> tuple[int, int]:
    """The raw segment length that masks to ``inputs_length``, and the targets length it needs.

    T5's own arithmetic: Python float64 ``round`` (half to even), no clamps, EOS counted once on
    each side (C4_SPEC §3.3). ``512 -> (568, 114)`` with the defaults.

    Args:
        inputs_length: the configured encoder length, EOS included.
        noise_density: fraction of tokens to mask.
        mean_noise_span_length: mean length of a masked span.
        extra_tokens_per_span_inputs: sentinels per span in the inputs (1 in T5).
        extra_tokens_per_span_targets: sentinels per span in the targets (1 in T5).

    Returns:
        ``(tokens_length, targets_length)``.
    """

    def lengths_for(tokens_length: int) -> tuple[int, int]:
        num_noise = round(tokens_length * float(noise_density))
        num_nonnoise = tokens_length - num_noise
        num_spans = round(num_noise / float(mean_noise_span_length))
        return (
            num_nonnoise + num_spans * extra_tokens_per_span_inputs + 1,
            num_noise + num_spans * extra_tokens_per_span_targets + 1,
        )

    tokens_length = inputs_length - 1
    while lengths_for(tokens_length + 1)[0] <= inputs_length:
        tokens_length += 1
    _, targets_length = lengths_for(tokens_length)
    # T5's own tweak: at density 0.5 it keeps targets no longer than the (round) inputs length.
    if noise_density == 0.5 and targets_length > inputs_length:
        tokens_length -= 1
        targets_length -= 1
    return tokens_length, targets_length


@lru_cache(maxsize=4096)
def noise_counts(length: int, noise_density: float, mean_noise_span_length: float) -> SpanCounts:
    """The noise-token and span counts ``random_spans_noise_mask`` draws for ``length`` tokens.

    float32 products rounded half to even, as ``tf.round`` on float32 does (C4_SPEC §3.4: float64
    disagrees at 39 lengths in 2..5000, e.g. 190). Lengths below 2 are counted as 2.
    """
    length = max(length, 2)
    if noise_density == 0:
        return SpanCounts(length, 0, 0, length)
    num_noise = int(np.round(np.float32(length) * np.float32(noise_density)))
    num_noise = min(max(num_noise, 1), length - 1)
    num_spans = int(np.round(np.float32(num_noise) / np.float32(mean_noise_span_length)))
    num_spans = max(num_spans, 1)
    return SpanCounts(length, num_noise, num_spans, length - num_noise)


def check_counts(counts: SpanCounts) -> None:
    """Refuse counts that cannot be cut into alternating spans (each span needs a token).

    T5 itself fails inside TF on these (e.g. density 0.5 with span length 1 at length 3).
    """
    if counts.num_spans > min(counts.num_noise, counts.num_nonnoise) and counts.num_noise:
        raise ValueError(
            f"{counts.num_spans} noise spans do not fit {counts.num_noise} noise and "
            f"{counts.num_nonnoise} non-noise tokens at length {counts.length}: lower "
            "noise_density or raise mean_noise_span_length"
        )


def random_segmentation(
    num_items: int, num_segments: int, rng: np.random.Generator
) -> npt.NDArray[np.int64]:
    """A uniformly random composition of ``num_items`` into ``num_segments`` positive parts.

    T5 shuffles a 0/1 vector with ``num_segments - 1`` ones over the ``num_items - 1`` gaps;
    choosing the cut gaps without replacement draws from the same distribution, faster.
    """
    cuts = np.sort(rng.choice(num_items - 1, size=num_segments - 1, replace=False)) + 1
    bounds = np.concatenate(([0], cuts, [num_items]))
    return np.diff(bounds)


def random_spans_noise_mask(
    length: int,
    noise_density: float,
    rng: np.random.Generator,
    mean_noise_span_length: float = 3.0,
) -> Mask:
    """T5's noise mask: ``k`` non-noise spans alternating with ``k`` noise spans, noise last.

    The noise spans are drawn first, then the non-noise ones, from the same generator.

    Args:
        length: number of tokens.
        noise_density: fraction of tokens to mask.
        rng: the example's generator.
        mean_noise_span_length: mean length of a noise span.

    Returns:
        a bool array of ``length`` (True = noise); for ``length == 1`` the cut of a length-2 mask.
    """
    if noise_density == 0:
        return np.zeros(length, dtype=np.bool_)
    counts = noise_counts(length, noise_density, mean_noise_span_length)
    check_counts(counts)
    noise_lengths = random_segmentation(counts.num_noise, counts.num_spans, rng)
    nonnoise_lengths = random_segmentation(counts.num_nonnoise, counts.num_spans, rng)
    interleaved = np.stack([nonnoise_lengths, noise_lengths], axis=1).reshape(-1)
    is_noise = np.tile(np.array([False, True]), counts.num_spans)
    return np.repeat(is_noise, interleaved)[:length]


def noise_span_to_unique_sentinel(tokens: Tokens, noise_mask: Mask, sentinel_start: int) -> Tokens:
    """Replace each noise run by one sentinel, ``sentinel_start`` for the first, then downwards.

    Args:
        tokens: the segment.
        noise_mask: True where a token is noise.
        sentinel_start: the first sentinel id (``vocab_size - 1``: 32099 in T5).

    Returns:
        the non-noise tokens with a sentinel where each noise run was.
    """
    prev = np.concatenate(([False], noise_mask[:-1]))
    first = noise_mask & ~prev
    subsequent = noise_mask & prev
    sentinels = sentinel_start + 1 - np.cumsum(first, dtype=np.int64)
    out = np.where(first, sentinels, tokens).astype(np.int32)
    return out[~subsequent]


def nonnoise_span_to_unique_sentinel(
    tokens: Tokens, noise_mask: Mask, sentinel_start: int
) -> Tokens:
    """The targets side: keep the noise, a sentinel for each non-noise run."""
    return noise_span_to_unique_sentinel(tokens, ~noise_mask, sentinel_start)


def append_eos_after_trim(tokens: Tokens, max_length: int, eos_id: int = EOS_ID) -> Tokens:
    """seqio's ``append_eos_after_trim``: at most ``max_length - 1`` tokens, then EOS."""
    return np.concatenate((tokens[: max_length - 1], [eos_id])).astype(np.int32)


def span_corrupt(
    tokens: Tokens,
    noise_mask: Mask,
    sentinel_start: int,
    inputs_length: int,
    targets_length: int,
    eos_id: int = EOS_ID,
) -> CorruptedPair:
    """T5's ``denoise`` output for one segment and its mask, after ``append_eos_after_trim``."""
    inputs = noise_span_to_unique_sentinel(tokens, noise_mask, sentinel_start)
    targets = nonnoise_span_to_unique_sentinel(tokens, noise_mask, sentinel_start)
    return CorruptedPair(
        append_eos_after_trim(inputs, inputs_length, eos_id),
        append_eos_after_trim(targets, targets_length, eos_id),
    )


def _segment_lengths(num_items: int, num_segments: int, rng: np.random.Generator) -> list[int]:
    """``random_segmentation`` as a list: the same draw, the rest in plain Python (small sizes)."""
    cuts = sorted(rng.choice(num_items - 1, size=num_segments - 1, replace=False).tolist())
    lengths = []
    previous = 0
    for cut in cuts:
        lengths.append(cut + 1 - previous)
        previous = cut + 1
    lengths.append(num_items - previous)
    return lengths


def corrupt_segment(
    tokens: Tokens,
    noise_density: float,
    rng: np.random.Generator,
    sentinel_start: int,
    inputs_length: int,
    targets_length: int,
    mean_noise_span_length: float = 3.0,
    eos_id: int = EOS_ID,
) -> CorruptedPair:
    """``span_corrupt(tokens, random_spans_noise_mask(...))`` without building the mask.

    The same draws from ``rng`` in the same order, so the result is identical (tested); the inputs
    and targets are cut straight from the span lengths, which on 568-token segments is most of
    the cost the mask arrays had.
    """
    length = len(tokens)
    if length < 2 or noise_density == 0:
        mask = random_spans_noise_mask(length, noise_density, rng, mean_noise_span_length)
        return span_corrupt(tokens, mask, sentinel_start, inputs_length, targets_length, eos_id)
    counts = noise_counts(length, noise_density, mean_noise_span_length)
    check_counts(counts)
    noise = _segment_lengths(counts.num_noise, counts.num_spans, rng)
    nonnoise = _segment_lengths(counts.num_nonnoise, counts.num_spans, rng)
    values = tokens.tolist()
    inputs: list[int] = []
    targets: list[int] = []
    start = 0
    for span, sentinel in enumerate(range(sentinel_start, sentinel_start - counts.num_spans, -1)):
        noise_start = start + nonnoise[span]
        end = noise_start + noise[span]
        inputs += values[start:noise_start]
        inputs.append(sentinel)
        targets.append(sentinel)
        targets += values[noise_start:end]
        start = end
    del inputs[inputs_length - 1 :], targets[targets_length - 1 :]
    inputs.append(eos_id)
    targets.append(eos_id)
    return CorruptedPair(np.array(inputs, dtype=np.int32), np.array(targets, dtype=np.int32))
