"""Span-corruption throughput: ours (numpy) against T5's TensorFlow code; and tokenization.

Input: the 1,000 real C4 documents of ``tests/data/c4/c4-en.olmo-sample-1000.json.gz``,
tokenized with the shipped vocabulary (timed: tokenization throughput), packed 128 at a time and
cut into 568-token segments (``pipeline.masking.packing``). Both sides then mask the *same*
segments to 512/114 examples:

* ours: ``packing.mask_segment`` (noise mask, sentinels, EOS), in a loop;
* T5: ``t5.data.preprocessors``' ``random_spans_noise_mask`` (with seqio's ``stateless_shuffle``),
  ``noise_span_to_unique_sentinel``, ``nonnoise_span_to_unique_sentinel`` and
  ``append_eos_after_trim``, transcribed below from t5 0.9.4 (Apache-2.0), run as T5 runs them: a
  ``tf.data`` map over the segments, one thread (intra/inter-op and tf.data private pool = 1).

Before timing, every example's ``inputs`` and ``targets`` lengths and sentinel runs must agree
between the two (the random draws differ: PCG64 against Philox, C4_SPEC §3.4). CPU seconds of the
process (``time.process_time``: user + sys of every thread), medians over ``--reps``; each timed
region runs whole passes over the segments until it has used ``--min_cpu_seconds`` (1 CPU-s), so
that no side is timed on a sliver; start-up (imports, graph tracing, vocabulary load) excluded, and
reported separately for T5 (first pass).

Tokenization is timed on its own and is not in the masking figures: both sides mask the same
token ids. A T5 pipeline tokenizes too (seqio's SentencePiece vocabulary); ``speedup_with_tokens``
counts the same tokenization cost on both sides (ours measured; T5's assumed equal).

    RAYON_NUM_THREADS=1 python benchmarks/mask_throughput.py [--reps 3] [--min_cpu_seconds 1]

Writes benchmarks/results/mask_throughput.json.
"""

from __future__ import annotations

import argparse
import gzip
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from pipeline.masking.packing import MaskConfig, mask_segment, prepare_document, split_pack
from pipeline.masking.vocab import DEFAULT_VOCAB_PATH, Vocabulary

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "tests" / "data" / "c4" / "c4-en.olmo-sample-1000.json.gz"
RESULTS = REPO / "benchmarks" / "results" / "mask_throughput.json"


def cpu() -> float:
    return time.process_time()


def timed_passes(run_pass: Callable[[], object], min_cpu: float) -> tuple[float, int]:
    """CPU seconds per pass of ``run_pass``, run until ``min_cpu`` CPU-s are used; and passes."""
    passes, start = 0, cpu()
    while True:
        run_pass()
        passes += 1
        used = cpu() - start
        if used >= min_cpu:
            return used / passes, passes


def t5_denoise_fn(inputs_length: int, targets_length: int, first_sentinel: int):
    """T5 0.9.4's span corruption of one segment, as TF ops (see the module docstring)."""
    import tensorflow as tf

    noise_density, mean_noise_span_length = 0.15, 3.0

    def stateless_shuffle(value, seed):
        flat_value = tf.reshape(value, [-1])
        indices = tf.argsort(tf.random.stateless_uniform(tf.shape(flat_value), seed=seed))
        flat_shuffle = tf.gather(flat_value, indices)
        return tf.reshape(flat_shuffle, tf.shape(value))

    def random_spans_noise_mask(length, seeds):
        orig_length = length
        length = tf.maximum(length, 2)

        def to_int(x):
            return tf.cast(x, tf.int32)

        def to_float(x):
            return tf.cast(x, tf.float32)

        num_noise_tokens = to_int(tf.round(to_float(length) * noise_density))
        num_noise_tokens = tf.minimum(tf.maximum(num_noise_tokens, 1), length - 1)
        num_noise_spans = to_int(tf.round(to_float(num_noise_tokens) / mean_noise_span_length))
        num_noise_spans = tf.maximum(num_noise_spans, 1)
        num_nonnoise_tokens = length - num_noise_tokens

        def _random_segmentation(num_items, num_segments, seed):
            first_in_segment = tf.pad(
                stateless_shuffle(to_int(tf.range(num_items - 1) < num_segments - 1), seed),
                [[1, 0]],
            )
            segment_id = tf.cumsum(first_in_segment)
            return tf.math.segment_sum(tf.ones_like(segment_id), segment_id)

        noise_span_lengths = _random_segmentation(num_noise_tokens, num_noise_spans, seeds[0])
        nonnoise_span_lengths = _random_segmentation(num_nonnoise_tokens, num_noise_spans, seeds[1])
        interleaved_span_lengths = tf.reshape(
            tf.stack([nonnoise_span_lengths, noise_span_lengths], axis=1), [num_noise_spans * 2]
        )
        span_starts = tf.cumsum(interleaved_span_lengths)[:-1]
        span_start_indicator = tf.math.unsorted_segment_sum(
            tf.ones_like(span_starts), span_starts, length
        )
        span_num = tf.cumsum(span_start_indicator)
        is_noise = tf.equal(span_num % 2, 1)
        return is_noise[:orig_length]

    def noise_span_to_unique_sentinel(tokens, noise_mask):
        prev_token_is_noise = tf.pad(noise_mask[:-1], [[1, 0]])
        first_noise_tokens = tf.logical_and(noise_mask, tf.logical_not(prev_token_is_noise))
        subsequent_noise_tokens = tf.logical_and(noise_mask, prev_token_is_noise)
        sentinel = first_sentinel + 1 - tf.cumsum(tf.cast(first_noise_tokens, tokens.dtype))
        tokens = tf.where(first_noise_tokens, sentinel, tokens)
        return tf.boolean_mask(tokens, tf.logical_not(subsequent_noise_tokens))

    def append_eos_after_trim(tokens, max_length):
        return tf.concat([tokens[: max_length - 1], [1]], axis=0)

    def denoise(tokens, seed):
        seeds = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        noise_mask = random_spans_noise_mask(tf.size(tokens), seeds)
        inputs = noise_span_to_unique_sentinel(tokens, noise_mask)
        targets = noise_span_to_unique_sentinel(tokens, tf.logical_not(noise_mask))
        return {
            "inputs": append_eos_after_trim(inputs, inputs_length),
            "targets": append_eos_after_trim(targets, targets_length),
        }

    return denoise


def t5_dataset(segments: list[np.ndarray], denoise):
    import tensorflow as tf

    ragged = tf.ragged.constant([s.tolist() for s in segments], dtype=tf.int32)
    seeds = tf.constant([[i, 0] for i in range(len(segments))], dtype=tf.int64)
    options = tf.data.Options()
    options.threading.private_threadpool_size = 1
    options.threading.max_intra_op_parallelism = 1
    ds = tf.data.Dataset.from_tensor_slices((ragged, seeds)).with_options(options)
    return ds.map(lambda r, s: denoise(r, s))


def sentinel_runs(ids: list[int], first: int) -> int:
    return sum(1 for t in ids if t > first - 100)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument(
        "--min_cpu_seconds", type=float, default=1.0, help="CPU-s each timed region runs at least"
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    min_cpu = args.min_cpu_seconds

    with gzip.open(SAMPLE, "rt", encoding="utf-8") as handle:
        docs = [json.loads(line) for line in handle]
    texts = [d["text"] for d in docs]
    text_bytes = sum(len(t.encode("utf-8")) for t in texts)
    vocab = Vocabulary.from_file(DEFAULT_VOCAB_PATH)
    config = MaskConfig()

    tokenized = [vocab.encode(t) for t in texts]
    tok_cpu, tok_passes = [], []
    for _ in range(args.reps):
        per_pass, passes = timed_passes(lambda: [vocab.encode(t) for t in texts], min_cpu)
        tok_cpu.append(per_pass)
        tok_passes.append(passes)
    num_tokens = sum(len(t) for t in tokenized)

    prepared = [prepare_document(str(i), t, config) for i, t in enumerate(tokenized)]
    members = [(str(i), t) for i, t in enumerate(prepared) if len(t)]
    segments = []
    for pack, begin in enumerate(range(0, len(members), config.docs_per_pack)):
        segments.extend(split_pack(pack, members[begin : begin + 128], config.segment_length))
    seg_tokens = sum(len(s.tokens) for s in segments)
    first = vocab.first_sentinel

    ours = [mask_segment(s, config, first) for s in segments]
    ours_cpu, ours_passes = [], []
    for _ in range(args.reps):
        per_pass, passes = timed_passes(
            lambda: [mask_segment(s, config, first) for s in segments], min_cpu
        )
        ours_cpu.append(per_pass)
        ours_passes.append(passes)

    import tensorflow as tf

    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.threading.set_intra_op_parallelism_threads(1)
    denoise = t5_denoise_fn(config.inputs_length, config.targets_length, first)
    start = cpu()
    theirs = list(t5_dataset([s.tokens for s in segments], denoise).as_numpy_iterator())
    t5_first = cpu() - start
    # Same tokens, same counts: every example's lengths and sentinel count agree.
    for a, b in zip(ours, theirs, strict=True):
        assert len(a.inputs) == len(b["inputs"]) and len(a.targets) == len(b["targets"])
        n = sentinel_runs(a.inputs.tolist(), first)
        assert n == sentinel_runs(b["inputs"].tolist(), first)
        assert n == sentinel_runs(b["targets"].tolist(), first)
    t5_cpu, t5_passes = [], []
    ds = t5_dataset([s.tokens for s in segments], denoise)
    for _ in ds:  # the pipeline built and warm, as the timed passes see it
        pass
    for _ in range(args.reps):
        per_pass, passes = timed_passes(lambda: [None for _ in ds], min_cpu)
        t5_cpu.append(per_pass)
        t5_passes.append(passes)

    ours_s, t5_s, tok_s = (statistics.median(x) for x in (ours_cpu, t5_cpu, tok_cpu))
    result = {
        "input": str(SAMPLE.name),
        "documents": len(texts),
        "text_bytes": text_bytes,
        "tokens": num_tokens,
        "segments": len(segments),
        "segment_tokens": seg_tokens,
        "tokenize": {
            "cpu_seconds": tok_s,
            "tokens_per_cpu_second": num_tokens / tok_s,
            "mb_per_cpu_second": text_bytes / 1e6 / tok_s,
        },
        "mask_ours": {"cpu_seconds": ours_s, "tokens_per_cpu_second": seg_tokens / ours_s},
        "mask_t5_tf": {
            "cpu_seconds": t5_s,
            "tokens_per_cpu_second": seg_tokens / t5_s,
            "first_pass_cpu_seconds_with_tracing": t5_first,
            "tensorflow": tf.__version__,
        },
        "speedup": t5_s / ours_s,
        "speedup_with_tokens": (tok_s + t5_s) / (tok_s + ours_s),
        "reps": args.reps,
        "min_cpu_seconds": min_cpu,
        "passes": {"tokenize": tok_passes, "mask_ours": ours_passes, "mask_t5_tf": t5_passes},
        "clock": "time.process_time (user + sys, all threads)",
        "checked": "inputs/targets lengths and sentinel counts equal for every example",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
