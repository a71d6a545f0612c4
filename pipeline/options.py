"""The ``c4 build`` flags, as Beam ``PipelineOptions`` and as a plain argparse parser.

One function declares them (``add_build_arguments``), so ``c4 build`` and a Beam launcher (a Flex
Template reading ``PipelineOptions``) accept the very same flags; everything else on the command
line is a Beam option and passes through untouched.
"""

from __future__ import annotations

import argparse
import weakref
from collections.abc import Sequence
from typing import Any, TypeVar

from apache_beam.options.pipeline_options import PipelineOptions

from filters.spec import CONFIGS, DEFAULT_CONFIG, DEFAULT_VERSION, VERSIONS
from pipeline.masking.options import add_mask_arguments

DETECTOR_CHOICES = ("langdetect-rs", "langdetect", "cld3")
# Beam checks every transform's type hints while the graph is built (0.2 CPU-s of a build's
# ~2.4 s start, docs/benchmarks.md). The graph is built with that check on by the test suite;
# a run skips repeating it unless asked with --pipeline_type_check.
TYPE_CHECK_FLAGS = ("--pipeline_type_check", "--no_pipeline_type_check")


def run_options(beam_args: Sequence[str]) -> PipelineOptions:
    """The Beam options of a ``c4 build`` or ``c4 mask`` run: ``beam_args``, with Beam's
    construction-time type check off unless they name it."""
    args = list(beam_args)
    if not any(arg in TYPE_CHECK_FLAGS for arg in args):
        args.insert(0, "--no_pipeline_type_check")
    # Ours, not Beam's (Beam has only the "no" form, on by default): Beam would drop it noisily.
    return RunOptions([arg for arg in args if arg != TYPE_CHECK_FLAGS[0]])


_View = TypeVar("_View", bound=PipelineOptions)
# RunOptions -> its views by options class; outside the object: Beam deep-copies and pickles it.
_VIEWS: weakref.WeakKeyDictionary[PipelineOptions, dict[type, PipelineOptions]] = (
    weakref.WeakKeyDictionary()
)


class RunOptions(PipelineOptions):
    """``PipelineOptions`` that make each view once.

    Beam asks a pipeline's options for a view ~280 times while it builds and runs a graph (per
    transform applied: the type-check and the runner's options), and ``view_as`` builds an
    argparse parser of the view's every option and parses the flags again each time (~0.1 CPU-s
    of a build's start). A view holds no values of its own: they live in the options' shared
    store (``_all_options``), so a view kept is the one ``view_as`` would make again.
    """

    def view_as(self, cls: type[_View]) -> _View:
        views = _VIEWS.setdefault(self, {})
        view = views.get(cls)
        if not isinstance(view, cls):
            view = views[cls] = super().view_as(cls)
        return view


def add_build_arguments(parser: Any) -> None:
    """Declare the ``c4 build`` flags on an argparse-compatible parser."""
    parser.add_argument(
        "--input",
        nargs="+",
        default=None,
        help="WET files, globs, directories or listing files (wet.paths.gz); in this order. "
        "Default: the bundled sample.",
    )
    parser.add_argument("--output", default=None, help="output directory (default ./c4-output)")
    parser.add_argument("--config", default=DEFAULT_CONFIG, help=f"one of {', '.join(CONFIGS)}")
    parser.add_argument(
        "--c4_version", default=DEFAULT_VERSION, help=f"one of {', '.join(VERSIONS)}"
    )
    parser.add_argument(
        "--language_detector",
        default=None,
        help="langdetect-rs (default, bit-identical to langdetect, faster) or langdetect; "
        "mC4 always uses cld3",
    )
    parser.add_argument(
        "--num_shards", type=int, default=None, help="TFRecord/Parquet shards per split"
    )
    parser.add_argument(
        "--cc_base_url",
        default="",
        help="where relative paths in a listing file and --crawl resolve (a URL or a local "
        "mirror; --crawl default https://data.commoncrawl.org)",
    )
    parser.add_argument(
        "--crawl",
        action="append",
        default=None,
        help="Common Crawl crawl id(s), e.g. CC-MAIN-2019-18 (repeat or comma-separate): "
        "reads <cc_base_url>/crawl-data/<id>/wet.paths.gz",
    )
    parser.add_argument(
        "--max_wet_files",
        type=int,
        default=None,
        help="read only the first N WET files of each --input argument and each --crawl",
    )
    parser.add_argument(
        "--max_concurrent_downloads",
        type=int,
        default=4,
        help="https:// and gs:// requests open at once per worker process (Common Crawl throttles)",
    )
    parser.add_argument(
        "--download_attempts",
        type=int,
        default=8,
        help="tries of a failing https:// or gs:// request, listings included (backoff with "
        "jitter), before a dead letter",
    )
    # Read once, where the job is built (this machine for ``c4 build``/``c4 submit``, the launcher
    # VM for a Flex Template); workers get the parsed keys inside the job, never the file.
    parser.add_argument(
        "--blocklist_urls",
        default=None,
        help="file of URLs (one a line, # comments) whose pages are dropped while reading",
    )
    parser.add_argument(
        "--blocklist_domains",
        default=None,
        help="file of domains (one a line) whose pages, subdomains included, are dropped too",
    )
    # DIR's own forget/ledger.json is applied without a flag (pipeline/build_ledger.py).
    parser.add_argument(
        "--forget_ledger",
        default=None,
        help="a c4 forget ledger (forget/ledger.json of another DIR, local or gs://): its "
        "documents are dropped while reading, and it becomes this output's ledger",
    )
    parser.add_argument(
        "--drop_forget_ledger",
        action="store_true",
        help="do not carry DIR's forget/ (ledger, deletion reports) into the new output: its "
        "forgotten documents come back unless --forget_ledger lists them",
    )
    parser.add_argument(
        "--resumable",
        action="store_true",
        help="keep what a rerun of the same command needs to resume after a kill (per-file "
        "results, line dedup's join, language decisions, in DIR/.c4/resume/; deleted at the end)",
    )
    parser.add_argument(
        "--record_drops",
        action="store_true",
        help="also write DIR/drops/: every page a rule dropped, its source record, stage and "
        "reason (and for a duplicate, the page kept), for c4 trace; off by default",
    )
    parser.add_argument(
        "--mask",
        action="store_true",
        help="also write span-corrupted examples to DIR/masked, as c4 mask would with the "
        "masking flags below",
    )
    add_mask_arguments(parser)


class C4Options(PipelineOptions):
    """``c4 build``'s flags as Beam pipeline options (``options.view_as(C4Options)``)."""

    @classmethod
    def _add_argparse_args(cls, parser: argparse.ArgumentParser) -> None:
        add_build_arguments(parser)
