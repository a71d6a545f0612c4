#!/usr/bin/env python3
"""TFDS C4 ``c4/en`` 3.1.0 on local WET files, offline: the reference "exact" is measured against.

Runs the unmodified ``tensorflow_datasets/text/c4.py`` and ``c4_utils.py`` of the installed
tensorflow-datasets 4.9.10 (sha256 checked) on local WET files and writes the documents kept, as
JSONL sorted by url, with the per-stage counters TFDS keeps.

Runners (the same TFDS functions in the same order, ``C4._get_pages_pcollection``):

  beam    (default) the TFDS builder's own ``_split_generators`` / ``_get_pages_pcollection`` /
          ``_build_pcollection`` on Beam's FnApiRunner (1 worker, in memory). Only the download
          manager is a stand-in: it maps the WET-paths URL and the bad-words URL to local files.
  inline  the same c4_utils functions composed in one process, with per-stage timings; the
          ``Top.PerKey`` and ``CoGroupByKey`` of ``remove_duplicate_text`` become dicts (for each
          line, the url with the smallest md5 keeps it). Same output as ``beam``.

Stages (c4/en: clean, dedupe, badwords_filter_fraction=1.0):
  1 split_wet_file         parse WET (gzip via tf.io.gfile); records without url, text or
                           timestamp are dropped (the warcinfo record too)
  2 is_valid_length        drop pages longer than 1.9e5 characters
  3 url dedup              select_newest_page per normalize_url(url)
  4 clean_page             line and page rules (lorem ipsum, '{', < 3 punkt sentences, ...)
  5 remove_duplicate_text  cross-document line dedup, then < 3 sentences -> dropped
  6 detect_english         langdetect 'en' with p >= 0.99 (seed 0)
  7 badwords               LDNOOBW 'en' at the commit c4.py pins
  8 split                  md5(normalized url) % 1000 == 0 -> validation, else train

Offline: NLTK's download of punkt becomes a check that punkt_tab is present (NLTK >= 3.9 serves
TFDS's punkt/english.pickle request from it); the bad-words list is a local file. Plain ``.wet``
input is gzipped to a scratch file first (split_wet_file reads gzip only).

Output: JSONL sorted by url with the TFDS features url, text, content-type, content-length,
timestamp, plus split (train|validation). ``--stats-json`` adds per-stage counts and counters.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if not __package__:  # run as a script: make the package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.reference import pins, runtime

FEATURES = ("url", "text", "content-type", "content-length", "timestamp")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    doc = __doc__ or ""
    ap = argparse.ArgumentParser(
        description="TFDS C4 (c4/en 3.1.0) on local WET files -> kept documents as JSONL.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Stages" + doc.split("Stages", 1)[1],
    )
    ap.add_argument("wet", nargs="+", help="WET files (.warc.wet.gz, or plain .wet)")
    ap.add_argument("-o", "--output", required=True, help="output JSONL")
    ap.add_argument(
        "--badwords",
        default=str(pins.BADWORDS_EN),
        help="LDNOOBW 'en' list (default: the project's copy of the pinned one, %(default)s)",
    )
    ap.add_argument("--no-dedup", action="store_true", help="skip stage 5 (line dedup)")
    ap.add_argument(
        "--no-langdetect",
        action="store_true",
        help="skip stage 6; pages are tagged 'en' so the English bad words still apply",
    )
    ap.add_argument("--no-badwords", action="store_true", help="skip stage 7")
    ap.add_argument("--runner", choices=("beam", "inline"), default="beam")
    ap.add_argument("--nltk-data", help="NLTK data dir (default: $NLTK_DATA, else the install's)")
    ap.add_argument("--stats-json", help="also write counters, stages and timings here")
    ap.add_argument("--tmpdir", help="scratch directory (default: a new one under $TMPDIR)")
    ap.add_argument("--quiet", action="store_true", help="print the summary only")
    args = ap.parse_args(argv)
    args.badwords_md5 = None
    if not args.no_badwords:
        if not os.path.isfile(args.badwords):
            ap.error(f"no bad-words list at {args.badwords}: pass --badwords or --no-badwords")
        args.badwords_md5 = runtime.check_badwords(args.badwords)
    for path in args.wet:
        if not os.path.isfile(path):
            ap.error(f"no such WET file: {path}")
    return args


def check_sources(c4: Any, c4_utils: Any) -> None:
    """Stops unless the TFDS C4 code is the pinned one."""
    for module in (c4, c4_utils):
        name = os.path.basename(module.__file__)
        got = pins.sha256_file(module.__file__)
        if got != pins.TFDS_SOURCES_3[name]:
            sys.exit(f"{module.__file__} has sha256 {got}, not tensorflow-datasets 4.9.10's")


def en_config(c4: Any, args: argparse.Namespace) -> Any:
    """TFDS's own ``c4/en`` builder config, with the stages the flags switch off."""
    (config,) = [c for c in c4.C4.BUILDER_CONFIGS if c.name == "en"]
    config = copy.copy(config)
    config.dedupe = config.dedupe and not args.no_dedup
    if args.no_badwords:
        config.badwords_filter_fraction = 0.0
    return config


def english_without_langdetect(page: Any) -> Any:
    """--no-langdetect: tags every page 'en' (the bad-words filter reads page.language)."""
    import tensorflow_datasets.text.c4_utils as cu

    cu.get_counter_inc_fn("english-filter")("skipped:no-langdetect")
    yield dataclasses.replace(page, language="en")


def record(example: dict[str, Any], split: str) -> dict[str, Any]:
    return {**{k: example[k] for k in FEATURES}, "split": split}


def badwords_dict(c4: Any, path: str) -> dict[str, set[str]]:
    """The dict c4.py builds from the downloaded lists (only ``en`` is given: c4/en tags every
    kept page ``en``, so no other list is ever consulted), allowlist removed as c4.py does."""
    import collections

    from etils import epath

    badwords: dict[str, set[str]] = collections.defaultdict(set)
    with epath.Path(path).open() as f:
        badwords["en"].update(line.strip() for line in f)
    for lang, allowlist in c4._BADWORDS_ALLOWLIST.items():
        badwords[lang] -= allowlist
    return badwords


# --------------------------------------------------------------------------------------------
# beam: the TFDS builder methods themselves
# --------------------------------------------------------------------------------------------
class OfflineDownloads:
    """What ``C4._split_generators`` asks its download manager for, answered from local files.

    The WET-paths URL becomes a local paths file listing the inputs by absolute path: TFDS's
    ``_download_wet_file`` joins that to its download dir, finds the file, and downloads nothing.
    """

    def __init__(self, tmpdir: str, wet_gz: list[str], badwords: str | None) -> None:
        self.download_dir = os.path.join(tmpdir, "downloads")
        self.manual_dir = os.path.join(tmpdir, "manual")
        self._paths_file = os.path.join(tmpdir, "wet.paths")
        with open(self._paths_file, "w", encoding="utf-8") as f:
            f.writelines(p + "\n" for p in wet_gz)
        self._badwords = badwords

    def download_and_extract(self, files: dict[str, Any]) -> dict[str, Any]:
        unknown = set(files) - {"wet_path_urls", "badwords"}
        if unknown or ("badwords" in files and not self._badwords):
            raise ValueError(f"offline run cannot provide {sorted(unknown) or ['badwords']}")
        out: dict[str, Any] = {"wet_path_urls": [self._paths_file]}
        if "badwords" in files:
            out["badwords"] = {"en": os.path.abspath(self._badwords or "")}
        return out


def run_beam(args: argparse.Namespace, inputs: list[runtime.WetInput], tmpdir: str) -> Any:
    from tensorflow_datasets.text import c4, c4_utils

    if args.no_langdetect:
        c4_utils.detect_english = english_without_langdetect
    # The real C4 class, built without DatasetBuilder.__init__ (data dir, version checks, file
    # system): the pipeline-building methods need only builder_config.
    builder = object.__new__(c4.C4)
    builder._builder_config = en_config(c4, args)
    badwords = None if args.no_badwords else args.badwords
    downloads = OfflineDownloads(tmpdir, [i.gz for i in inputs], badwords)
    start = time.perf_counter()
    pipeline = runtime.beam_pipeline()
    generators = builder._split_generators(downloads, pipeline)

    def build(gen_kwargs: dict[str, Any]) -> Callable[[Any], Any]:
        return lambda p: builder._build_pcollection(p, **gen_kwargs)

    splits = [(str(g.name), build(g.gen_kwargs)) for g in generators]
    records, counters = runtime.run_splits(pipeline, splits, to_json, tmpdir)
    return records, counters, time.perf_counter() - start, None


def to_json(keyed_example: tuple[str, dict[str, Any]], split: str) -> str:
    import json

    return json.dumps(record(keyed_example[1], split), ensure_ascii=False)


# --------------------------------------------------------------------------------------------
# inline: the same c4_utils functions, one process
# --------------------------------------------------------------------------------------------
def run_inline(args: argparse.Namespace, inputs: list[runtime.WetInput], tmpdir: str) -> Any:
    from tensorflow_datasets.text import c4
    from tensorflow_datasets.text import c4_utils as cu

    counters = runtime.Counters()
    cu.get_counter_inc_fn = counters.inc_fn
    clock = runtime.StageClock(with_dropped=True)
    start = time.perf_counter()

    pages = [p for inp in inputs for p in cu.split_wet_file(inp.gz)]
    records_seen = runtime.under(counters, "split-wet-file", exclude="wet-file")
    clock.lap("split_wet_file", sum(records_seen.values()), len(pages))

    n = len(pages)
    pages = [p for p in pages if cu.is_valid_length(p)]
    clock.lap("is_valid_length", n, len(pages))

    # CombinePerKey(select_newest_page) keyed by normalized url: groups in input order.
    n = len(pages)
    groups: dict[str, list[Any]] = {}
    for p in pages:
        groups.setdefault(p.normalized_url, []).append(p)
    pages = [cu.select_newest_page(g) for g in groups.values()]
    clock.lap("url_dedup(select_newest_page)", n, len(pages))

    n = len(pages)
    clean_page = cu.get_clean_page_fn()
    pages = [q for p in pages for q in clean_page(p)]
    clock.lap("clean_page", n, len(pages))

    if not args.no_dedup:
        n = len(pages)
        pages = inline_line_dedup(cu, pages, counters.inc_fn("dedupe-lines"))
        clock.lap("remove_duplicate_text", n, len(pages))

    n = len(pages)
    detect = english_without_langdetect if args.no_langdetect else cu.detect_english
    pages = [q for p in pages for q in detect(p)]
    clock.lap("detect_english" + (" (skipped)" if args.no_langdetect else ""), n, len(pages))

    if not args.no_badwords:
        n = len(pages)
        keep = cu.get_badwords_filter_fn(badwords_dict(c4, args.badwords), filter_fraction=1.0)
        pages = [p for p in pages if keep(p)]
        clock.lap("badwords", n, len(pages))

    # C4._build_pcollection of each split: Filter(split_filter_fn) | Map(_emit_examples).
    records = []
    split_filters = {
        "train": cu.get_hashed_url_filter_fn(lambda x: x % 1000 != 0),
        "validation": cu.get_hashed_url_filter_fn(lambda x: x % 1000 == 0),
    }
    for p in pages:
        for split, keep in split_filters.items():
            if keep(p):
                counters.inc_fn(split)("examples")
                example = {
                    "url": p.url,
                    "text": p.text,
                    "content-type": p.content_type,
                    "content-length": p.content_length,
                    "timestamp": p.timestamp,
                }
                records.append(record(example, split))
    clock.lap("split(train/validation)", len(pages), len(records))
    return records, counters, time.perf_counter() - start, clock.rows


def inline_line_dedup(cu: Any, pages: list[Any], inc: runtime.IncFn) -> list[Any]:
    """``c4_utils.remove_duplicate_text`` with its two Beam joins done by dicts.

    ``Top.PerKey(1, key=_hash_text, reverse=True)``: for each line hash, the url whose md5 is
    smallest. ``CoGroupByKey`` by url: each page with the line hashes it keeps. Then TFDS's own
    ``_remove_lines_from_text`` on each page.
    """
    winner: dict[str, tuple[str, str]] = {}  # line hash -> (md5 of url, url)
    url_md5: dict[str, str] = {}
    for p in pages:
        for line_hash, url in cu._emit_url_to_lines(p):
            if url not in url_md5:
                url_md5[url] = cu._hash_text(url)
            best = winner.get(line_hash)
            if best is None or url_md5[url] < best[0]:
                winner[line_hash] = (url_md5[url], url)
    kept_lines: dict[str, list[str]] = {}
    for line_hash, (_, url) in winner.items():
        kept_lines.setdefault(url, []).append(line_hash)
    by_url: dict[str, list[Any]] = {}
    for p in pages:
        by_url.setdefault(p.url, []).append(p)
    out = []
    for url, same_url in by_url.items():
        joined = (url, {"pages": same_url, "lines": kept_lines.get(url, [])})
        out.extend(
            cu._remove_lines_from_text(
                joined, counter_inc_fn=inc, min_num_sentences=cu._MIN_NUM_SENTENCES
            )
        )
    return out


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------
def stage_table(counters: runtime.Counters, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Pages in and out of each stage, from TFDS's counters (the same for both runners).

    The URL-dedup row is read off clean_page's input, not off select_newest_page's own
    counters: as a CombineFn on Beam those count per partial combine, not per url.
    """
    c = counters
    rows = []
    parse_drops = runtime.under(c, "split-wet-file", "filtered:")
    parsed = c["split-wet-file/passed"]
    parse_in = parsed + sum(parse_drops.values())
    rows.append(runtime.stage_row("split_wet_file", parse_in, parsed, parse_drops))
    short = c["too-long-filter/passed"]
    detail = {"too_long": c["too-long-filter/filtered"]}
    rows.append(runtime.stage_row("is_valid_length", parsed, short, detail))
    clean_drops = runtime.under(c, "clean-page", "filtered:")
    clean_in = c["clean-page/passed"] + sum(clean_drops.values())
    rows.append(runtime.stage_row("url_dedup", short, clean_in, {}))
    rows.append(runtime.stage_row("clean_page", clean_in, c["clean-page/passed"], clean_drops))
    last = c["clean-page/passed"]
    if not args.no_dedup:
        drops = runtime.under(c, "dedupe-lines", "filtered:")
        kept = c["dedupe-lines/passed"]
        rows.append(runtime.stage_row("remove_duplicate_text", last, kept, drops))
        last = kept
    if args.no_langdetect:
        rows.append(runtime.stage_row("detect_english (skipped)", last, last, {}))
    else:
        # Per-language counts repeat filtered:ignored_language; the table counts pages once.
        drops = runtime.under(c, "english-filter", "filtered:", "filtered:ignored_language-")
        rows.append(runtime.stage_row("detect_english", last, c["english-filter/passed"], drops))
        last = c["english-filter/passed"]
    if not args.no_badwords:
        detail = {"badword": c["badwords-filter/filtered"]}
        rows.append(runtime.stage_row("badwords", last, c["badwords-filter/passed"], detail))
        last = c["badwords-filter/passed"]
    train, validation = c["train/examples"], c["validation/examples"]
    detail = {"train": train, "validation": validation}
    rows.append(runtime.stage_row("split", last, train + validation, detail))
    return rows


def main(argv: list[str] | None = None) -> int:
    process_start = time.perf_counter()
    args = parse_args(argv)
    nltk_dir = runtime.configure_offline(args.nltk_data)

    import langdetect
    from tensorflow_datasets.text import c4, c4_utils

    check_sources(c4, c4_utils)
    langdetect.DetectorFactory.seed = 0
    # Load punkt and langdetect's profiles before the clock starts.
    c4_utils._get_sentences("Warm up. Load punkt.")
    if not args.no_langdetect:
        langdetect.detect_langs("warm up the language profiles of langdetect")

    tmpdir = tempfile.mkdtemp(prefix="c4_reference_", dir=args.tmpdir)
    try:
        prep_start = time.perf_counter()
        inputs = runtime.prepare_inputs(args.wet, tmpdir, count_records=False)
        prep_seconds = time.perf_counter() - prep_start
        run = run_beam if args.runner == "beam" else run_inline
        records, counters, seconds, timings = run(args, inputs, tmpdir)
        write_start = time.perf_counter()
        runtime.write_jsonl(records, args.output)
        seconds += time.perf_counter() - write_start
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)

    table = stage_table(counters, args)
    parsed = counters["split-wet-file/passed"]
    file_mb = sum(i.file_bytes for i in inputs) / 1e6
    wet_mb = sum(i.wet_bytes for i in inputs) / 1e6

    def rate(amount: float) -> float | None:
        return round(amount / seconds, 3) if seconds else None

    summary = {
        "runner": args.runner,
        "inputs": [i.describe() for i in inputs],
        "options": {
            "dedup": not args.no_dedup,
            "langdetect": not args.no_langdetect,
            "badwords": None if args.no_badwords else os.path.abspath(args.badwords),
            "badwords_md5": args.badwords_md5,
        },
        "nltk_data": nltk_dir,
        "versions": runtime.package_versions(),
        "pages_parsed": parsed,
        "docs_out": len(records),
        "pipeline_seconds": round(seconds, 3),
        "docs_per_s": round(parsed / seconds, 2) if seconds else None,
        "input_file_MB_per_s": rate(file_mb),
        "input_wet_uncompressed_MB_per_s": rate(wet_mb),
        "input_file_MB": round(file_mb, 3),
        "input_wet_uncompressed_MB": round(wet_mb, 3),
        "input_prep_seconds(not in pipeline time)": round(prep_seconds, 3),
        "process_wall_seconds": round(time.perf_counter() - process_start, 3),
        "stages": table,
        "inline_stage_timings": timings,
        "counters": dict(sorted(counters.items())),
    }
    runtime.write_stats(summary, args.stats_json)  # before printing: stdout may be closed
    if not args.quiet:
        runtime.print_counters(
            f"TFDS C4 3.1.0 reference ({args.runner} runner), counters:", counters
        )
    runtime.print_stage_table("stage", table, 26)
    if timings:
        print("\ninline per-stage timings (s):")
        for t in timings:
            print(f"  {t['stage']:<36} in={t['in']:<8} out={t['out']:<8} {t['seconds']:.3f}s")
    print(
        f"\ninput: {len(inputs)} file(s), {file_mb:.2f} MB on disk, {wet_mb:.2f} MB WET, "
        f"{parsed} pages\nkept documents: {len(records)} -> {args.output}\n"
        f"pipeline {seconds:.2f}s, process {summary['process_wall_seconds']:.2f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
