"""``c4 build``: its parser, launch checks, the run, and the summary printed at the end."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from filters.spec import UsageError
from pipeline import build_ledger, derived
from pipeline.command import (
    OneLineParser,
    configure_logging,
    interrupt_exits,
    on_interrupt,
    parse_command_line,
    run_to_completion,
)

_LOG = logging.getLogger(__name__)
DATAFLOW_HINT = (
    "Dataflow jobs are started with c4 submit (the same flags, plus --project, --region, "
    "--temp_location and an image or --setup_file; see c4 submit --help)"
)


def build_parser() -> argparse.ArgumentParser:
    """The ``c4 build`` parser: our flags plus ``--runner``; the rest goes to Beam."""
    from pipeline.options import add_build_arguments

    parser = OneLineParser(prog="c4 build", allow_abbrev=False)
    add_build_arguments(parser)
    parser.add_argument("--runner", default="DirectRunner", help="any Beam runner; DaskRunner too")
    return parser


def run_build(argv: Sequence[str]) -> int:
    """``c4 build``: parse, validate, build the graph, run it, print the summary."""
    import gc

    # Importing Beam and building the graph allocate millions of long-lived objects, and the
    # cyclic GC re-scans them all on every full pass (~0.5 CPU-s of a local build, finding
    # nothing): off until the graph is built, then those objects are frozen out of its reach.
    from pipeline.runners.select import start_workers_early, stop_early_workers

    thresholds = gc.get_threshold()
    gc.disable()
    try:
        with interrupt_exits("c4 build"):
            start_workers_early(argv, ("pipeline.build",))  # a DaskRunner's, while we go on
            return _build(argv)
    finally:
        stop_early_workers()
        gc.unfreeze()  # callers in the same process (tests) get their GC back as it was
        gc.set_threshold(*thresholds)
        gc.enable()


def _build(argv: Sequence[str]) -> int:
    from pipeline.config import make_build_config
    from pipeline.io.expand import with_attempts
    from pipeline.io.gcs import connect_anonymously_if_emulated, impersonation_of
    from pipeline.io.output import check_remote_output_dir
    from pipeline.io.urls import is_remote
    from pipeline.io.writable import check_writable
    from pipeline.masking.options import MaskOptions
    from pipeline.masking.run import mask_job
    from pipeline.options import run_options
    from pipeline.runners.direct import C4DirectRunner
    from pipeline.runners.display import watching
    from pipeline.runners.select import make_runner, start_workers
    from pipeline.runners.startup import register_gcs_if_needed

    parsed = parse_command_line(build_parser(), argv)
    if isinstance(parsed, int):
        return parsed
    args, beam_args = parsed
    if "dataflow" in args.runner.lower():
        print(f"c4 build: --runner: {DATAFLOW_HINT}", file=sys.stderr)
        return 2
    connect_anonymously_if_emulated()
    try:
        config = make_build_config(
            inputs=args.input,
            output_dir=args.output,
            config=args.config,
            c4_version=args.c4_version,
            language_detector=args.language_detector,
            num_shards=args.num_shards,
            runner=args.runner,
            mask=args.mask,
            mask_options=MaskOptions.from_args(args),
            cc_base_url=args.cc_base_url,
            beam_args=beam_args,
            blocklist_urls=args.blocklist_urls,
            blocklist_domains=args.blocklist_domains,
            crawls=args.crawl,
            max_wet_files=args.max_wet_files,
            expand_remote=with_attempts(args.download_attempts, impersonation_of(beam_args)),
            max_concurrent_downloads=args.max_concurrent_downloads,
            download_attempts=args.download_attempts,
            record_drops=args.record_drops,
        )
        register_gcs_if_needed([*(f.path for f in config.inputs), config.output_dir])
        if config.mask:  # the vocabulary read and the lengths checked now, not after the build
            mask_job(config.mask_options)
        check_writable(config.output_dir)
        if is_remote(config.output_dir):
            check_remote_output_dir(config.output_dir, config.config, config.c4_version)
        config = dataclasses.replace(config, drop_forget=args.drop_forget_ledger)
        build_ledger.resolve(config.output_dir, args.forget_ledger, config.drop_forget)  # checked
        runner = make_runner(args.runner)
        options = run_options(beam_args)
        start_workers(runner, options, ("pipeline.build",))  # unless started early, above
    except UsageError as exc:
        print(f"c4 build: {exc}", file=sys.stderr)
        return 2
    configure_logging()
    _LOG.info(
        "c4 build: %s %s, %d input file(s) -> %s (%s)",
        config.config,
        config.c4_version,
        len(config.inputs),
        config.output_dir,
        args.runner,
    )
    started = time.monotonic()
    # Everything is staged; the output changes only at the commit, after the run.
    try:
        commit = begin_build(config)
    except UsageError as exc:  # another command holds DIR
        print(f"c4 build: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # the output refuses the lock or the staging area (a denied write)
        _LOG.exception("c4 build failed")
        print(f"c4 build: failed: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
        return 1
    on_interrupt(commit.abort)
    try:  # again under DIR's lock: a forget may have grown the ledger since the check
        forget = build_ledger.resolve(config.output_dir, args.forget_ledger, config.drop_forget)
        build_ledger.stage(dataclasses.replace(config, forget=forget), commit.write_dir)
    except UsageError as exc:
        commit.abort()
        print(f"c4 build: {exc}", file=sys.stderr)
        return 2
    config = dataclasses.replace(
        config, staging_dir=commit.write_dir, resumable=args.resumable, forget=forget
    )
    try:
        with watching(
            "c4 build",
            input_sizes(config.inputs),
            after_first_stage=isinstance(runner, C4DirectRunner),
            on_interrupt=on_interrupt,
        ):
            resumed = _run(config, runner, options)
    except Exception as exc:
        commit.abort()
        _LOG.exception("c4 build failed")
        print(f"c4 build: failed: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
        return 1
    if _every_input_failed(commit, len(config.inputs)):
        return 1
    from pipeline.report.run_facts import write_run_json  # run.json: what report.html leaves out

    elapsed = time.monotonic() - started
    extra = {"resumed": resumed.facts()} if resumed is not None else None
    write_run_json(commit.write_dir, args.runner, beam_args, elapsed, extra)
    derived.sync_masked(config.output_dir, commit.write_dir, commit.keeps)  # forget/derived.json
    commit.publish()
    from pipeline.transforms.resume import clear

    if resumed is not None:  # done: nothing left to resume
        clear(resumed.directory)
    _print_summary(config.output_dir, elapsed)  # after run.json: it lists what was written
    resumed_line = resumed.line() if resumed is not None else None
    if resumed_line:
        print(resumed_line)
    ledger_line = build_ledger.summary_line(config)
    if ledger_line:
        print(ledger_line)
    return 0


def _every_input_failed(commit: Any, inputs: int) -> bool:
    """When no input could be read (pipeline/failed_inputs.py): DIR left as it was, the reasons
    printed one input a line; whether it was so."""
    from pipeline.failed_inputs import every_input_failed, headline

    reasons = every_input_failed(commit.write_dir, inputs)
    if reasons is None:
        return False
    commit.abort()
    print(f"c4 build: failed: {headline(inputs, commit.output_dir)}:", file=sys.stderr)
    for line in reasons:
        print(f"c4 build:   {line}", file=sys.stderr)
    return True


def begin_build(config: Any) -> Any:
    """The commit of a build into ``config.output_dir`` (``pipeline/io/commit.py``): it
    replaces everything there but the forget ledger (``forget/``, unless dropped)."""
    from pipeline.io.commit import begin

    tfds_rel = f"c4/{config.config}/{config.c4_version}"
    keeps = build_ledger.keeps(config)
    return begin(config.output_dir, owns=("",), tfds_rel=tfds_rel, keeps=keeps, command="c4 build")


def input_sizes(inputs: Sequence[Any]) -> list[int | None]:
    """Each input's compressed size: a local file's, a ``gs://`` one's where the match at launch
    listed it; None where not known (``https://``: no request is made just to ask)."""
    from pipeline.io.expand import listed_size
    from pipeline.io.urls import is_remote

    sizes: list[int | None] = []
    for item in inputs:
        if is_remote(item.path):
            sizes.append(listed_size(item.path))
        else:
            try:
                sizes.append(os.path.getsize(item.path))
            except OSError:
                sizes.append(None)
    return sizes


def _run(config: Any, runner: Any, options: Any) -> Any:
    """Build and run ``config``'s pipeline; what it reused of earlier attempts (``--resumable``:
    ``pipeline.transforms.resume.Resumed``), else None."""
    import apache_beam as beam

    from pipeline.build import build_pipeline, resumed_of

    pipeline = beam.Pipeline(runner=runner, options=options)
    resumed = resumed_of(config)
    build_pipeline(pipeline, config, resumed=resumed)
    _fewer_gc_passes()
    run_to_completion(pipeline)
    return resumed


def _fewer_gc_passes() -> None:
    """Freeze what lives for the whole run (modules, the graph) out of the cyclic GC's reach,
    turn it back on, and run it less often: pages are strings, which it never tracks."""
    import gc

    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    gc.enable()


def _print_summary(output_dir: str, elapsed: float) -> None:
    import json

    from pipeline import summary
    from pipeline.io.output import read_text
    from pipeline.io.urls import is_remote

    if is_remote(output_dir):
        text = read_text(output_dir.rstrip("/") + "/stats.json")
    else:
        path = Path(output_dir) / "stats.json"
        text = path.read_text(encoding="utf-8") if path.is_file() else None
    if text is None:
        return
    stats = json.loads(text)
    base = output_dir.rstrip("/")
    written = [p for p in summary.build_outputs(stats) if _exists(f"{base}/{p}")]
    masked_text = read_text(f"{base}/masked/config.json") if "masked/" in written else None
    masked = json.loads(masked_text) if masked_text else None
    print(
        summary.format_summary(
            stats, output_dir, elapsed_seconds=elapsed, outputs=written, masked=masked
        ),
        end="",
    )


def _exists(path: str) -> bool:
    """Whether a file, or a directory holding something (``dir/``), is there, on any
    filesystem (a ``gs://`` "directory" is a prefix with objects under it)."""
    from apache_beam.io.filesystems import FileSystems

    from pipeline.io.urls import is_remote

    if not is_remote(path):
        return Path(path).exists()
    if not path.endswith("/"):
        return bool(FileSystems.exists(path))
    return any(r.metadata_list for r in FileSystems.match([path + "**"], limits=[1]))
