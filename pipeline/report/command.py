"""``c4 report`` and ``c4 inspect``: their parsers and runs.

``c4 report DIR [--compare DIR2] [--output FILE.html]`` renders the page of a build (the bytes
``c4 build`` wrote to ``DIR/report.html``), or of two builds laid over each other; the default
output is ``DIR/report.html`` (``DIR/compare.html`` with ``--compare``). A build made before
the report has no ``report/aggregates.json``: a Beam job recomputes it from the build's outputs
(``pipeline.report.recompute``), and when the page goes to ``DIR/report.html`` the aggregates
are kept in ``DIR/report/`` for next time.

``c4 inspect DIR [--sample N] [--domain D] [--chars N]`` prints a deterministic sample of the
documents with their provenance. ``c4 trace`` stays the command that finds given documents.

Usage errors print one line naming the flag and exit 2 before any work; a failed run exits 1.
"""

from __future__ import annotations

import argparse
import logging
import os
import posixpath
import sys
from collections.abc import Sequence
from typing import Any

from filters.spec import UsageError
from pipeline.command import OneLineParser, configure_logging

_LOG = logging.getLogger(__name__)
COMPARE_HTML = "compare.html"


def report_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="c4 report",
        allow_abbrev=False,
        description="Write a build's report: one static HTML file (charts as inline SVG).",
    )
    parser.add_argument("dir", metavar="DIR", help="a c4 build output directory (or gs://)")
    parser.add_argument("--compare", metavar="DIR2", help="lay another build over this one")
    parser.add_argument(
        "--output",
        metavar="FILE.html",
        help=f"where to write (default DIR/report.html, DIR/{COMPARE_HTML} with --compare)",
    )
    return parser


def inspect_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="c4 inspect",
        allow_abbrev=False,
        description="Print a deterministic sample of a build's documents with their provenance.",
    )
    parser.add_argument("dir", metavar="DIR", help="a c4 build output directory (or gs://)")
    parser.add_argument("--sample", type=_positive, default=5, metavar="N", help="documents (5)")
    parser.add_argument("--domain", metavar="D", help="only this domain and its subdomains")
    parser.add_argument(
        "--chars", type=_non_negative, default=2000, metavar="N",
        help="characters of text per document (2000; 0: all)",
    )  # fmt: skip
    return parser


def _positive(text: str) -> int:
    value = _non_negative(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {text!r}")
    return value


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace | int:
    try:
        return parser.parse_args(list(argv))
    except SystemExit as exc:  # a usage error (2, printed) or --help (0)
        return int(exc.code or 0)


def _usage(prog: str, message: str) -> int:
    print(f"{prog}: {message}", file=sys.stderr)
    return 2


def _load(prog: str, flag: str, directory: str) -> Any:
    """The build's files; raises ``_Usage`` if it is not a finished build."""
    from pipeline.report.store import NotABuild, load_build
    from pipeline.runners.startup import register_gcs_if_needed

    register_gcs_if_needed([directory])
    try:
        return load_build(directory)
    except NotABuild as exc:
        raise _Usage(f"{flag}: {exc}") from None
    except OSError as exc:
        raise _Usage(f"{flag}: cannot read {directory}: {type(exc).__name__}") from None


class _Usage(Exception):
    pass


def run_link(build_dir: str, page: str) -> str:
    """The href of a build's ``run.json`` from a page written to ``page``."""
    from pipeline.io.urls import is_remote
    from pipeline.report.store import RUN_JSON

    target = posixpath.join(build_dir.rstrip("/"), RUN_JSON)
    if posixpath.dirname(page.rstrip("/")) == build_dir.rstrip("/"):
        return RUN_JSON
    if is_remote(target) or is_remote(page):
        return target
    return os.path.relpath(os.path.abspath(target), os.path.dirname(os.path.abspath(page)))


def _with_aggregates(files: Any, directory: str, keep: str | None) -> Any:
    """``files`` with aggregates, recomputed from the outputs where the build has none."""
    if files.aggregates is not None:
        return files
    from pipeline.report.aggregates import AGGREGATES_PATH
    from pipeline.report.recompute import recompute
    from pipeline.report.store import write_json
    from pipeline.write import join

    _LOG.info("%s has no %s: recomputing it from the outputs", directory, AGGREGATES_PATH)
    aggregates = recompute(directory, files.stats, files.config)
    if keep:  # where DIR's files are staged (pipeline/io/commit.py)
        write_json(join(keep, AGGREGATES_PATH), aggregates)
    return files._replace(aggregates=aggregates)


def run_report(argv: Sequence[str]) -> int:
    """``c4 report``: parse, load (or recompute), render, write; print the page's path."""
    args = _parse(report_parser(), argv)
    if isinstance(args, int):
        return args
    from pipeline.report.html import render
    from pipeline.report.sink import THIS_BUILD
    from pipeline.report.store import REPORT_HTML, write_page
    from pipeline.write import join

    directory = args.dir.rstrip("/") or "/"
    default = COMPARE_HTML if args.compare else REPORT_HTML
    page_path = args.output or join(directory, default)
    try:
        builds = [_load("c4 report", "DIR", directory)]
        if args.compare:
            builds.append(_load("c4 report", "--compare", args.compare.rstrip("/")))
    except _Usage as exc:
        return _usage("c4 report", str(exc))
    configure_logging()
    dirs = [directory] + ([args.compare.rstrip("/")] if args.compare else [])
    commit = None
    try:
        inside = posixpath.dirname(page_path) == directory  # a change of DIR: one commit
        keep = page_path == join(directory, REPORT_HTML)
        if inside:
            from pipeline.io.commit import begin

            # report/ only when this command writes it anew (a build without aggregates).
            recompute = keep and builds[0].aggregates is None
            owned = (posixpath.basename(page_path),) + (("report/",) if recompute else ())
            commit = begin(directory, owns=owned, command="c4 report")
        staged = commit.write_dir if commit else directory
        builds = [
            _with_aggregates(files, d, staged if keep and i == 0 else None)
            for i, (files, d) in enumerate(zip(builds, dirs, strict=True))
        ]
        names = [THIS_BUILD] if len(builds) == 1 else dirs
        page = render(builds, names, [run_link(d, page_path) for d in dirs])
        write_page(join(staged, posixpath.basename(page_path)) if inside else page_path, page)
        if commit:
            commit.publish()
    except UsageError as exc:  # another command holds DIR
        return _usage("c4 report", str(exc))
    except Exception as exc:
        if commit:
            commit.abort()
        _LOG.exception("c4 report failed")
        print(f"c4 report: failed: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
        return 1
    print(page_path)
    return 0


def run_inspect(argv: Sequence[str]) -> int:
    """``c4 inspect``: parse, sample, print."""
    args = _parse(inspect_parser(), argv)
    if isinstance(args, int):
        return args
    from filters.lineage import RequestError, parse_domain_line
    from pipeline.report.inspect import format_document, sample

    domain = ""
    if args.domain is not None:
        try:
            domain = parse_domain_line(args.domain)
        except RequestError as exc:
            return _usage("c4 inspect", f"--domain: {exc}")
    directory = args.dir.rstrip("/") or "/"
    try:
        files = _load("c4 inspect", "DIR", directory)
    except _Usage as exc:
        return _usage("c4 inspect", str(exc))
    try:
        docs = sample(directory, args.sample, domain)
    except Exception as exc:
        print(f"c4 inspect: failed: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
        return 1
    kept = int(files.stats["reconciliation"]["kept"])
    scope = f" of domain {domain}" if domain else ""
    print(
        f"c4 inspect: {len(docs)} document(s){scope} of the {kept:,} kept, smallest sample key "
        "(BLAKE2b of the url) first\n"
    )
    for i, doc in enumerate(docs, start=1):
        print(format_document(doc, i, len(docs), args.chars))
    return 0
