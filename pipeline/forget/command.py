"""``c4 trace`` and ``c4 forget``: argument parsing, the deletion report, exit codes.

Exit codes (INTERFACE.md): 0 done (or, with ``--verify``, nothing listed remains and the
dataset is whole); 2 a usage error or a bad request, one line naming the flag, before anything
changes; 1 a failed run, or ``--verify`` finding something listed (remains); 3 ``--verify``
finding the dataset damaged or unreadable (a damaged, missing or stray file, a count that is not
what the data gives). Each failure ends with one line on stderr saying why, never a traceback.

Keys of a request that match nothing (no document, no dead letter) are named ("nothing matched:
<key>") and not recorded in the ledger, so ``c4 trace`` never calls them forgotten.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from filters.lineage import Request, parse_doc_id_line, parse_domain_line, parse_url_line
from filters.spec import UsageError
from pipeline.command import OneLineParser


def _trace_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="c4 trace", allow_abbrev=False)
    parser.add_argument("dir", metavar="DIR")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--url")
    which.add_argument("--doc_id")
    which.add_argument("--domain")
    parser.add_argument("--json", action="store_true", help="print JSON lines instead")
    return parser


def _forget_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="c4 forget", allow_abbrev=False)
    parser.add_argument("dir", metavar="DIR")
    parser.add_argument("--urls", help="file: one URL a line")
    parser.add_argument("--domains", help="file: one domain a line (subdomains match too)")
    parser.add_argument("--doc_ids", help="file: one doc_id a line")
    parser.add_argument(
        "--verify",
        action="store_true",
        help="only check: exit 1 if anything listed remains, 3 if the dataset is damaged",
    )
    parser.add_argument(
        "--remask_collateral",
        action="store_true",
        help="re-mask the packs that lost examples, without the forgotten documents",
    )
    parser.add_argument(
        "--unregister", metavar="PATH", help="drop a derived output deleted on purpose"
    )
    return parser


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace | int:
    try:
        return parser.parse_args(list(argv))
    except SystemExit as exc:
        return int(exc.code or 0)


def _one(flag: str, value: str, parse: Any) -> frozenset[str]:
    try:
        return frozenset([parse(value)])
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc}") from None


def run_trace(argv: Sequence[str]) -> int:
    """``c4 trace DIR (--url U | --doc_id ID | --domain D)``."""
    from pipeline.forget import store as forget_store
    from pipeline.forget import trace

    args = _parse(_trace_parser(), argv)
    if isinstance(args, int):
        return args
    try:
        request = Request(
            _one("--url", args.url, parse_url_line) if args.url else frozenset(),
            _one("--domain", args.domain, parse_domain_line) if args.domain else frozenset(),
            _one("--doc_id", args.doc_id, parse_doc_id_line) if args.doc_id else frozenset(),
        )
        build = forget_store.open_build(args.dir)
    except UsageError as exc:
        print(f"c4 trace: {exc}", file=sys.stderr)
        return 2
    dropped = trace.trace_drops(build, request)  # None: the build did not record its drops
    rows = trace.trace(build, request) + (dropped or [])
    if args.json:
        for row in rows:
            print(json.dumps(row, sort_keys=True, ensure_ascii=False))
    elif rows:
        print(trace.format_trace(rows), end="")
    gone = trace.forgotten(forget_store.load_ledger(build), request)
    for item in gone:
        print(f"forgotten: {item} (c4 forget; see {args.dir}/forget/)", file=sys.stderr)
    if not rows and not gone:
        more = "" if dropped is not None else f"; {trace.NOT_RECORDED}"
        print(f"c4 trace: no document matches{more}", file=sys.stderr)
        return 1
    if dropped is None:
        print(f"c4 trace: {trace.NOT_RECORDED}", file=sys.stderr)
    return 0


def _request(args: argparse.Namespace) -> Request:
    from pipeline.forget.store import read_request_file

    return Request(
        frozenset(read_request_file(args.urls, "--urls", parse_url_line)),
        frozenset(read_request_file(args.domains, "--domains", parse_domain_line)),
        frozenset(read_request_file(args.doc_ids, "--doc_ids", parse_doc_id_line)),
    )


def run_forget(argv: Sequence[str]) -> int:
    """``c4 forget DIR [--urls F] [--domains F] [--doc_ids F] [--verify]``."""
    from pipeline.forget import rewrite as forget
    from pipeline.forget import sets as derived_sets
    from pipeline.forget import store as forget_store

    args = _parse(_forget_parser(), argv)
    if isinstance(args, int):
        return args
    from pipeline.io.gcs import connect_anonymously_if_emulated

    connect_anonymously_if_emulated()  # before the first gs:// access (no credential search)
    try:
        # c4 forget MDIR forgets through the DIR it was masked from (and every set of it).
        args.dir, named = derived_sets.resolve(args.dir)
        build = forget_store.open_build(args.dir)
        if args.unregister:
            if args.urls or args.domains or args.doc_ids or args.verify or args.remask_collateral:
                raise UsageError("--unregister: give it alone (no list, --verify or remask)")
            print(f"unregistered: {derived_sets.unregister(build.root, args.unregister)}")
            return 0
        request = _request(args)
        ledger = forget_store.load_ledger(build)
        alone = (args.verify and not ledger.request.empty) or args.remask_collateral
        if request.empty and not alone:
            raise UsageError("--urls/--domains/--doc_ids: give at least one non-empty list")
        if not args.verify:
            _check_doc_ids(build, request, ledger)
            plan = derived_sets.remask_plan(build, named, args.remask_collateral)
    except UsageError as exc:
        print(f"c4 forget: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:  # forget/ledger.json or lineage unreadable
        where = "c4 forget --verify: " if args.verify else "c4 forget: failed: "
        print(where + _one_line(exc), file=sys.stderr)
        return 3 if args.verify else 1
    if args.verify:
        return _run_verify(build, request, ledger, args.dir, named)
    from pipeline.io.commit import begin
    from pipeline.report.store import remove_report

    # The whole forget is one commit (pipeline/io/commit.py): killed anywhere, DIR is as before
    # and a rerun does it all again; a second forget meanwhile is refused (DIR's lock).
    try:
        tfds_rel = f"c4/{build.config}/{build.version}"
        commit = begin(
            build.root, owns=("",), tfds_rel=tfds_rel, command="c4 forget", from_current=True
        )
    except UsageError as exc:
        print(f"c4 forget: {exc}", file=sys.stderr)
        return 2
    try:
        staged = forget_store.open_build(commit.write_dir)
        # Read again under the lock: a forget that ended since holds entries ours must keep.
        ledger = forget_store.load_ledger(staged)
        matched = matched_part(staged, request)
        unmatched = request.without(matched).without(ledger.request)
        remask = plan.for_set("masked", staged.root) if plan else None
        result = forget.apply(staged, matched, ledger, _today(), remask)
        if not result["changes"]:
            commit.abort()
            for key in unmatched.named():
                print(f"nothing matched: {key}")
            if request.empty:  # --remask_collateral alone
                print(f"c4 forget: no collateral to give back in {args.dir}; nothing changed")
            elif unmatched == request:
                print(f"c4 forget: nothing in {args.dir} matches; nothing recorded or changed")
            else:
                print(f"c4 forget: nothing listed is left in {args.dir}; nothing changed")
            # Sets outside DIR: a run stopped after DIR's commit is finished here.
            return derived_sets.after_dir(build.root, args.dir, None, named, plan, format_report)
        report = report_json(args, request, result, unmatched)
        report_rel = _relative(staged.root, forget_store.report_paths(staged)[0])
        report["derived"] = derived_sets.pending(staged, build.root, named, report_rel)
        json_path, text_path = _write_report(staged, report)
        removed_page = remove_report(staged.root)  # it may list a forgotten document
        commit.publish()
    except BaseException as exc:
        commit.abort()
        if not isinstance(exc, Exception):
            raise
        print(f"c4 forget: failed: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
        return 1
    print(format_report(report), end="")
    json_path, text_path = (build.root + p[len(staged.root) :] for p in (json_path, text_path))
    print(f"report: {json_path}\n        {text_path}")
    if removed_page:
        print(f"DIR/report.html removed (it sampled the documents): c4 report {args.dir}")
    return derived_sets.after_dir(build.root, args.dir, json_path, named, plan, format_report)


def _today() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")


def _relative(root: str, path: str) -> str:
    from pipeline import lineage

    return lineage.relative(root, path)


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0]


def _run_verify(
    build: Any, request: Request, ledger: Any, where: str, named: str | None = None
) -> int:
    """``--verify``: findings on stdout, one line on stderr saying why it is not 0."""
    from pipeline.forget import sets as derived_sets
    from pipeline.forget import verify as forget_verify

    try:
        verdict = forget_verify.verify(build, request, ledger)
        # Every registered set outside DIR too; one that cannot be reached is damage.
        remains, damaged, notes = derived_sets.verify_sets(build, request, ledger, named)
        verdict.remains += remains
        verdict.damaged += damaged
        for line in notes:
            print(f"note: {line}")
    except Exception as exc:  # a DIR unreadable in a way no check foresaw: still one line
        print(f"c4 forget --verify: {where} is unreadable: {_one_line(exc)}", file=sys.stderr)
        return forget_verify.DAMAGED
    for line in verdict.remains:
        print(f"remains: {line}")
    for line in verdict.damaged:
        print(f"damaged: {line}")
    print(f"c4 forget --verify: {verdict.reason(where)}", file=sys.stderr if verdict.code else None)
    return verdict.code


def matched_part(build: Any, request: Request) -> Request:
    """The keys of ``request`` that match a document of DIR or a URL in a dead-letter excerpt
    (what ``c4 forget`` removes or redacts); the others are named and not recorded."""
    import itertools

    from pipeline import lineage
    from pipeline.forget.rewrite import URL_IN_TEXT

    documents = (
        (row["doc_id"], row["url"])
        for path in lineage.lineage_files(build.root)
        for row in lineage.read_rows(path, ["doc_id", "url"])
    )
    letters: list[tuple[str, str]] = []
    for path in lineage.match_paths(build.path("dead_letter/*.jsonl")):
        for line in lineage.read_bytes(path).decode("utf-8").splitlines():
            excerpt = str(json.loads(line).get("excerpt", ""))
            letters.extend(("", url) for url in URL_IN_TEXT.findall(excerpt))
    return request.matched(itertools.chain(documents, letters))


def _check_doc_ids(build: Any, request: Request, ledger: Any) -> None:
    """Refuse a doc_id this DIR never held (a typo must not pass as done)."""
    from pipeline import lineage

    if not request.doc_ids:
        return
    known = {row["doc_id"] for row in lineage.iter_lineage(build.root)} | ledger.doc_ids
    unknown = sorted(request.doc_ids - known)
    if unknown:
        more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
        raise UsageError(f"--doc_ids: unknown doc_id {unknown[0]}{more}; nothing changed")


def report_json(
    args: argparse.Namespace,
    request: Request,
    result: Mapping[str, Any],
    unmatched: Request | None = None,
) -> dict[str, Any]:
    """The deletion report: request, matches (digests only), files changed, counts, vocabulary."""
    from pipeline.forget import rewrite as forget

    masked = dict(result["masked"])
    unmatched = unmatched or Request()
    return {
        "command": "c4 forget",
        "dir": args.dir,
        "time_utc": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "asked": {
            "urls": sorted(request.urls),
            "domains": sorted(request.domains),
            "doc_ids": sorted(request.doc_ids),
            "files": {"urls": args.urls, "domains": args.domains, "doc_ids": args.doc_ids},
        },
        "matched": forget.matched_summary(result["matched"]),
        # Asked, matched nothing, not recorded in the ledger.
        "not_matched": {
            "urls": sorted(unmatched.urls),
            "domains": sorted(unmatched.domains),
            "doc_ids": sorted(unmatched.doc_ids),
        },
        "files_changed": sorted(result["changes"], key=lambda c: c["path"]),
        "counts": dict(result["counts"]),
        "masked": masked,
        "not_covered": [
            "copies outside DIR (downloads, caches of readers, models trained on it)",
        ],
    }


def format_report(report: Mapping[str, Any]) -> str:
    """The readable summary of a deletion report."""
    matched = report["matched"]
    counts = report["counts"]
    lines = [
        f"c4 forget {report['dir']} at {report['time_utc']}",
        f"asked: {len(report['asked']['urls'])} URL(s), {len(report['asked']['domains'])} "
        f"domain(s), {len(report['asked']['doc_ids'])} doc_id(s)",
        f"matched: {matched['documents']} document(s) "
        + ", ".join(f"{k}: {v}" for k, v in matched["by_reason"].items()),
        f"documents kept: {counts.get('kept_before', '?')} -> {counts.get('kept_after', '?')}",
    ]
    not_matched = report.get("not_matched", {})
    lines += [f"nothing matched: url {u}" for u in not_matched.get("urls", [])]
    lines += [f"nothing matched: domain {d}" for d in not_matched.get("domains", [])]
    lines += [f"nothing matched: doc_id {i}" for i in not_matched.get("doc_ids", [])]
    masked = report["masked"]
    if masked.get("present"):
        lines.append(f"masked examples removed: {masked['removed_examples']}")
        vocab = masked.get("vocab", {})
        state = "TAINTED" if vocab.get("tainted") else "clean"
        lines.append(f"vocabulary {vocab.get('source', '?')}: {state} ({vocab.get('note', '')})")
    from pipeline.forget import sets as derived_sets

    lines += derived_sets.collateral_lines(masked.get("collateral", {}))
    lines += derived_sets.set_lines(report)
    lines.append(f"files changed: {len(report['files_changed'])}")
    for change in report["files_changed"]:
        lines.append(
            f"  {change['path']}: {change['records_before']} -> {change['records_after']} records,"
            f" sha256 {change['sha256_before'][:12]} -> {change['sha256_after'][:12]}"
        )
    return "\n".join(lines) + "\n"


def _write_report(build: Any, report: Mapping[str, Any]) -> tuple[str, str]:
    from pipeline.forget import store as forget_store
    from pipeline.write import write_atomic

    json_path, text_path = forget_store.report_paths(build)
    write_atomic(json_path, (json.dumps(report, indent=2, sort_keys=True) + "\n").encode())
    write_atomic(text_path, format_report(report).encode("utf-8"))
    return json_path, text_path
