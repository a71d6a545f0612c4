"""``c4 mask``, ``c4 build --mask`` and ``c4 vocab train``: graphs and commands.

``c4 mask DIR`` reads the documents of a built DIR (``DIR/parquet/<split>/*.parquet``: ``doc_id``,
``text``), ``SpanCorruptSplits`` them and ``WriteMasked`` writes ``DIR/masked/``. ``c4 build
--mask`` applies the same two transforms to the build's documents in the build's own graph, after
its sinks. Usage errors are found before any work: one line naming the flag, exit 2.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import re
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from filters.spec import UsageError
from pipeline import derived
from pipeline.io.lock import acquire
from pipeline.masking.mask_transform import SpanCorruptSplits, read_vocab_bytes
from pipeline.masking.options import MaskOptions, add_mask_arguments, english_vocab_refusal
from pipeline.masking.packing import MaskConfig, masked_config
from pipeline.masking.vocab import DEFAULT_VOCAB_PATH, Vocabulary, train_vocab
from pipeline.masking.write import PACKS_PER_SHARD, WriteMasked
from pipeline.write import join

_LOG = logging.getLogger("pipeline.masking")
# Which flag a MaskConfig/Vocabulary refusal is about, by a phrase of its message.
_FLAG_OF_MESSAGE = (
    ("targets length", "--targets_length"),
    ("inputs_length", "--inputs_length"),
    ("mean_noise_span_length must", "--mean_noise_span_length"),
    ("noise_density must", "--noise_density"),
    ("noise spans do not fit", "--noise_density"),
    ("seed and epoch", "--seed"),
    ("sentinels", "--vocab"),
    ("pad/eos/unk", "--vocab"),
)
# T5's vocabulary size; a small sample needs less (the shipped model has 8000).
DEFAULT_VOCAB_SIZE = 32000
SHIPPED_VOCAB_NAME = "c4-pipeline:pipeline/data/vocab/c4_sample_8k.model"


@dataclass(frozen=True)
class MaskJob:
    """A validated masking: options, vocabulary and where it came from."""

    config: MaskConfig
    vocab: Vocabulary
    vocab_source: str

    def config_json(self) -> dict[str, object]:
        """``masked/config.json`` without the per-split counts."""
        return masked_config(
            self.config,
            self.vocab.sha256,
            self.vocab_source,
            self.vocab.vocab_size,
            self.vocab.extra_ids,
        )


def _flag_for(message: str) -> str:
    for phrase, flag in _FLAG_OF_MESSAGE:
        if phrase in message:
            return flag
    return "--inputs_length"


def make_mask_job(vocab_source: str | None = None, **options: Any) -> MaskJob:
    """Read the vocabulary and check the options together, as T5 would.

    Args:
        vocab_source: a model path or URL (``gs://``); the shipped model if None.
        **options: ``MaskConfig`` fields (lengths, density, span length, seed, epoch).

    Raises:
        UsageError: one line naming the flag at fault.
    """
    path = str(vocab_source or DEFAULT_VOCAB_PATH)
    # The shipped model is named the same on every machine, so config.json is too.
    source = vocab_source or SHIPPED_VOCAB_NAME
    try:
        model = read_vocab_bytes(path)
    except Exception as exc:  # any filesystem's "not found" / "no scheme"
        raise UsageError(f"--vocab: cannot read {source}: {type(exc).__name__}") from None
    try:
        vocab = Vocabulary(model)
    except RuntimeError:
        raise UsageError(f"--vocab: {source} is not a SentencePiece model") from None
    except ValueError as exc:
        raise UsageError(f"--vocab: {exc}") from None
    try:
        config = MaskConfig(**options)
        config.check_extra_ids(vocab.extra_ids)
    except ValueError as exc:
        message = str(exc)
        raise UsageError(f"{_flag_for(message)}: {message}") from None
    return MaskJob(config, vocab, source)


def mask_job(options: MaskOptions) -> MaskJob:
    """``make_mask_job`` of the masking flags (``c4 mask``'s and ``c4 build --mask``'s).

    Raises:
        UsageError: one line naming the flag at fault.
    """
    return make_mask_job(options.vocab, **options.mask_config())


# --- reading a built DIR ----------------------------------------------------------------------


def built_shards(input_dir: str) -> list[tuple[str, str]]:
    """``(split, path)`` of every ``DIR/parquet/<split>/part-*.parquet``, sorted."""
    pattern = join(input_dir, "parquet", "*", "part-*.parquet")
    found = FileSystems.match([pattern])[0].metadata_list
    out = []
    for meta in found:
        split = meta.path.rstrip("/").split("/")[-2]
        out.append((split, meta.path))
    return sorted(out)


def built_config(input_dir: str, shards: Sequence[tuple[str, str]]) -> str:
    """The config a DIR was built with: ``stats.json``'s, else ``multilingual`` if its splits
    are languages (en, ru-validation, ...) rather than train and validation."""
    import json

    try:
        with FileSystems.open(join(input_dir, "stats.json")) as handle:
            return str(json.loads(handle.read())["config"])
    except Exception:  # no stats.json (a DIR from elsewhere): judge by the split names
        splits = {split for split, _ in shards}
        return "en" if splits <= {"train", "validation"} else "multilingual"


def read_shard(split_path: tuple[str, str]) -> Iterator[tuple[str, str, str]]:
    """``(split, doc_id, text)`` of one Parquet shard of a built DIR, in file order."""
    split, path = split_path
    with FileSystems.open(path) as handle:
        table = pq.read_table(io.BytesIO(handle.read()), columns=["doc_id", "text"])
    for doc_id, text in zip(
        table.column("doc_id").to_pylist(), table.column("text").to_pylist(), strict=True
    ):
        yield split, doc_id, text


def iter_texts(input_dir: str, split: str = "train") -> Iterator[str]:
    """Every document's text of one split of a built DIR, shards and rows in order."""
    for shard in built_shards(input_dir):
        if shard[0] == split:
            for _, _, text in read_shard(shard):
                yield text


class ReadBuiltDocs(beam.PTransform):  # type: ignore[misc]
    """PBegin -> PCollection[(split, doc_id, text)] of a built DIR's Parquet shards."""

    def __init__(self, shards: Sequence[tuple[str, str]]) -> None:
        super().__init__()
        self._shards = list(shards)

    def expand(self, root: beam.pvalue.PBegin) -> beam.PCollection:
        return (
            root
            | "Shards" >> beam.Create(self._shards)
            # One shard per element: shards spread over workers instead of fusing with Create.
            | "Spread" >> beam.Reshuffle()
            | "Read" >> beam.FlatMap(read_shard)
        )


def _page_doc(split_page: tuple[str, Any]) -> tuple[str, str, str]:
    split, page = split_page
    return split, page.doc_id, page.text


class MaskBuilt(beam.PTransform):  # type: ignore[misc]
    """``c4 build --mask``: PCollection[(split, Page)] -> masked/, after the build's result.

    Returns the ``after`` PCollection's elements (the build's stats), once masked/ is written,
    so the graph still ends in one final transform.
    """

    def __init__(
        self, output_dir: str, after: beam.PCollection, job: MaskJob | None = None
    ) -> None:
        super().__init__()
        self._output_dir = output_dir
        self._masked_dir = join(output_dir, "masked")
        self._after = after
        self._job = job or make_mask_job()

    def expand(self, docs: beam.PCollection) -> beam.PCollection:
        job = self._job
        return (
            docs
            | "Docs" >> beam.Map(_page_doc)
            | "SpanCorrupt" >> SpanCorruptSplits(job.config, job.vocab)
            | "WriteMasked"
            >> WriteMasked(
                self._masked_dir, job.config_json(), after=self._after, build_dir=self._output_dir
            )
        )


def mask_pipeline(
    root: beam.Pipeline,
    shards: Sequence[tuple[str, str]],
    masked_dir: str,
    job: MaskJob,
    packs_per_shard: int = PACKS_PER_SHARD,
    build_dir: str | None = None,
    source: str | None = None,
) -> beam.PCollection:
    """The ``c4 mask`` graph; returns its single final PCollection (masked/config.json).

    ``build_dir``: the DIR read, so ``DIR/masked`` gets its lineage in ``DIR/lineage/masked``.
    ``source``: the DIR read, recorded in a set masked elsewhere (``config.json``'s ``source``:
    ``c4 forget MDIR`` forgets through it).
    """
    config_json = job.config_json()
    if source:
        config_json["source"] = source
    final: beam.PCollection = (
        root
        | "ReadBuilt" >> ReadBuiltDocs(shards)
        | "SpanCorrupt" >> SpanCorruptSplits(job.config, job.vocab)
        | "WriteMasked" >> WriteMasked(masked_dir, config_json, None, packs_per_shard, build_dir)
    )
    return final


# --- commands ---------------------------------------------------------------------------------


def mask_parser() -> argparse.ArgumentParser:
    """``c4 mask DIR ...``: INTERFACE.md's flags plus ``--runner``; the rest goes to Beam."""
    from pipeline.command import OneLineParser

    parser = OneLineParser(prog="c4 mask", allow_abbrev=False)
    parser.add_argument("dir", metavar="DIR", help="a built DIR (c4 build --output)")
    parser.add_argument("--output", default=None, help="MDIR (default: DIR/masked)")
    add_mask_arguments(parser)  # the same flags as c4 build --mask
    parser.add_argument("--runner", default="DirectRunner", help="any Beam runner; DaskRunner too")
    return parser


def _run_graph(build: Any, runner: Any, options: Any) -> None:
    from pipeline.command import run_to_completion

    pipeline = beam.Pipeline(runner=runner, options=options)
    build(pipeline)
    run_to_completion(pipeline)


def run_mask(argv: Sequence[str]) -> int:
    """``c4 mask``: parse, validate, run; prints what was written."""
    from pipeline.command import interrupt_exits

    with interrupt_exits("c4 mask"):
        return _mask(argv)


def _mask(argv: Sequence[str]) -> int:
    from pipeline.command import on_interrupt, parse_command_line
    from pipeline.io.writable import check_writable
    from pipeline.options import run_options
    from pipeline.runners.direct import C4DirectRunner
    from pipeline.runners.display import watching
    from pipeline.runners.select import make_runner

    parsed = parse_command_line(mask_parser(), argv)
    if isinstance(parsed, int):
        return parsed
    args, beam_args = parsed
    try:
        shards = built_shards(args.dir)
        if not shards:
            raise UsageError(f"DIR: no built documents in {join(args.dir, 'parquet')}/")
        mask_options = MaskOptions.from_args(args)
        refusal = english_vocab_refusal(built_config(args.dir, shards), mask_options)
        if refusal:
            raise UsageError(refusal)
        job = mask_job(mask_options)
        runner = make_runner(args.runner)
        options = run_options(beam_args)
        masked_dir = args.output or join(args.dir, "masked")
        check_writable(masked_dir)
    except UsageError as exc:
        print(f"c4 mask: {exc}", file=sys.stderr)
        return 2
    started = time.monotonic()
    source = None if staged_inside(args.dir, masked_dir) else derived.normalize(args.dir)
    held = None
    try:
        # A set masked elsewhere is registered in DIR after its commit; DIR's lock, held from
        # now on, keeps a forget of DIR from running between the read and the registration.
        held = acquire(source, "c4 mask --output") if source else None
        commit, staged_masked, staged_build = begin_mask(args.dir, masked_dir)
    except UsageError as exc:  # another command holds the directory
        if held is not None:
            held.release()
        print(f"c4 mask: {exc}", file=sys.stderr)
        return 2
    on_interrupt(commit.abort)
    if held is not None:
        on_interrupt(held.release)
    try:
        with watching(
            "c4 mask",
            after_first_stage=isinstance(runner, C4DirectRunner),
            on_interrupt=on_interrupt,
        ):
            _run_graph(
                lambda p: mask_pipeline(
                    p, shards, staged_masked, job, build_dir=staged_build, source=source
                ),
                runner,
                options,
            )
    except Exception as exc:
        commit.abort()
        if held is not None:
            held.release()
        _LOG.exception("c4 mask failed")
        print(f"c4 mask: failed: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
        return 1
    if source is None:  # DIR/masked: registered in the same commit
        derived.note(args.dir, commit.write_dir, _with_masked)
    commit.publish()
    print(summary_line(masked_dir, time.monotonic() - started))
    if source is not None and held is not None:
        try:
            entry = derived.Entry(derived.MASKED, derived.normalize(masked_dir))
            derived.register_output(source, entry, "c4 mask", lock=False)
        except Exception as exc:
            line = f"{type(exc).__name__}: {exc}".splitlines()[0]
            print(
                f"c4 mask: {masked_dir} is written but not registered in {source}: {line}; "
                "run the same command again",
                file=sys.stderr,
            )
            return 1
        finally:
            held.release()
        print(f"registered in {join(source, derived.REGISTRY)}: c4 forget {args.dir} forgets it")
    return 0


def _with_masked(entries: list[Any]) -> list[Any]:
    return derived.with_entry(entries, derived.Entry(derived.MASKED, derived.MASKED))


def staged_inside(build_dir: str, masked_dir: str) -> bool:
    """Whether ``masked_dir`` is ``build_dir``'s own ``masked/``."""
    return derived.normalize(masked_dir) == derived.normalize(join(build_dir, "masked"))


def begin_mask(build_dir: str, masked_dir: str) -> tuple[Any, str, str | None]:
    """The commit of a masked set (``pipeline/io/commit.py``), where to write it, and the
    build dir its lineage goes beside.

    ``DIR/masked`` is a change of DIR that replaces ``masked/`` and its lineage, so DIR's
    readers see the old masked set or the new one, whole. Any other MDIR is its own output,
    replaced whole; its lineage stays inside it.
    """
    from pipeline.io.commit import begin

    def norm(path: str) -> str:
        return (path if "://" in path else os.path.abspath(path)).rstrip("/")

    if norm(masked_dir) == norm(join(build_dir, "masked")):
        # A new masked set: the collateral records of the old one (c4 forget) go with it.
        owns = ("masked/", "lineage/masked/", "forget/collateral/masked/")
        commit = begin(build_dir, owns=owns, command="c4 mask")
        return commit, join(commit.write_dir, "masked"), commit.write_dir
    commit = begin(masked_dir, owns=("",), command="c4 mask")
    return commit, commit.write_dir, None


def summary_line(masked_dir: str, elapsed: float) -> str:
    """One line per split from ``masked/config.json``."""
    import json

    with FileSystems.open(join(masked_dir, "config.json")) as handle:
        content = json.loads(handle.read())
    parts = [
        f"{split}: {t['examples']:,} examples from {t['documents']:,} documents "
        f"in {t['shards']} shard(s)"
        for split, t in sorted(content["splits"].items())
    ]
    return f"masked -> {masked_dir} in {elapsed:.1f}s; " + ("; ".join(parts) or "no examples")


def vocab_parser() -> argparse.ArgumentParser:
    """``c4 vocab train DIR --output MODEL [--vocab_size N]``."""
    from pipeline.command import OneLineParser

    parser = OneLineParser(prog="c4 vocab", allow_abbrev=False)
    sub = parser.add_subparsers(
        dest="action", metavar="train", required=True, parser_class=OneLineParser
    )
    train = sub.add_parser(
        "train",
        prog="c4 vocab train",
        allow_abbrev=False,
        description="Train a unigram SentencePiece model on a built DIR, deterministically, "
        "as the shipped one was (pad 0, eos 1, unk 2, no BOS, nmt_nfkc, full character "
        "coverage); masking appends T5's 100 extra ids to it.",
    )
    train.add_argument("dir", metavar="DIR", help="a built DIR (c4 build --output)")
    train.add_argument("--output", required=True, help="the .model file to write")
    train.add_argument(
        "--vocab_size",
        type=int,
        default=DEFAULT_VOCAB_SIZE,
        help="pieces, before the 100 extra ids (default %(default)s, T5's; a small build "
        "supports fewer: the command says how many)",
    )
    train.add_argument("--split", default="train", help="the split read (default %(default)s)")
    train.add_argument(
        "--max_documents", type=int, default=None, help="read the first N documents (default: all)"
    )
    return parser


def _limited(texts: Iterable[str], limit: int | None, seen: list[int]) -> Iterator[str]:
    """The first ``limit`` texts (all if None), counting them in ``seen[0]``."""
    for i, text in enumerate(texts):
        if limit is not None and i >= limit:
            return
        seen[0] = i + 1
        yield text


# SentencePiece's refusal of a vocabulary the corpus cannot fill (trainer_interface.cc).
_TOO_HIGH = re.compile(r"Vocabulary size too high \((\d+)\)\. Please set it to a value <= (\d+)")


def too_small_advice(message: str, vocab_size: int, documents: int, split: str) -> str | None:
    """One line of advice when SentencePiece found the corpus too small for ``vocab_size``."""
    found = _TOO_HIGH.search(message)
    if not found:
        return None
    most = int(found.group(2))
    return (
        f"--vocab_size: {documents:,} {split} document(s) support at most {most:,} pieces, not "
        f"{vocab_size:,}: pass --vocab_size {most} or less, or train on a bigger build"
    )


def run_vocab(argv: Sequence[str]) -> int:
    """``c4 vocab train``: a deterministic unigram model (``vocab.TRAIN_OPTIONS``)."""
    try:
        args = vocab_parser().parse_args(list(argv))
    except SystemExit as exc:
        return int(exc.code or 0)
    if args.vocab_size < 8:
        print(
            f"c4 vocab train: --vocab_size: must be at least 8, got {args.vocab_size}",
            file=sys.stderr,
        )
        return 2
    if args.max_documents is not None and args.max_documents < 1:
        print("c4 vocab train: --max_documents: must be positive", file=sys.stderr)
        return 2
    if not any(split == args.split for split, _ in built_shards(args.dir)):
        print(
            f"c4 vocab train: DIR: no {args.split} documents in {join(args.dir, 'parquet')}/",
            file=sys.stderr,
        )
        return 2
    documents = (
        "all documents" if args.max_documents is None else f"the first {args.max_documents:,}"
    )
    print(
        f"c4 vocab train: a unigram model of {args.vocab_size:,} pieces (--vocab_size), "
        f"trained on {documents} (--max_documents) of the {args.split} split (--split) of "
        f"{args.dir} -> {args.output}"
    )
    seen = [0]
    try:  # DIR's lock: no forget of DIR between the read and the registration
        held = acquire(derived.normalize(args.dir), "c4 vocab train")
    except UsageError as exc:
        print(f"c4 vocab train: {exc}", file=sys.stderr)
        return 2
    try:
        try:
            texts = _limited(iter_texts(args.dir, args.split), args.max_documents, seen)
            digest = train_vocab(texts, args.vocab_size, args.output)
        except Exception as exc:
            advice = too_small_advice(str(exc), args.vocab_size, seen[0], args.split)
            if advice:
                print(f"c4 vocab train: {advice}", file=sys.stderr)
                return 2
            print(f"c4 vocab train: failed: {exc}".splitlines()[0], file=sys.stderr)
            return 1
        # Trained on DIR: derived data c4 forget names (tainted) in its deletion reports.
        entry = derived.Entry(derived.VOCABULARY, derived.normalize(args.output), digest)
        derived.register_output(derived.normalize(args.dir), entry, "c4 vocab train", lock=False)
    finally:
        held.release()
    print(f"{args.output}: {args.vocab_size} pieces (+100 extra ids), sha256 {digest}")
    print(f"registered in {join(args.dir, derived.REGISTRY)}: c4 forget {args.dir} names it")
    return 0
