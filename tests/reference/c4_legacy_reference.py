#!/usr/bin/env python3
"""TFDS C4 ``c4/en`` 2.2.0 and 1.0.0 on local WET files, offline, with their original code.

  --version 2.2.0   tensorflow-datasets 2.0.0's text/c4.py + c4_utils.py: the C4 T5 >= 0.3.0
                    trains on. Line dedup; bad words checked on each kept line in clean_page.
  --version 1.0.0   tensorflow-datasets 1.3.0's: the paper's dedup of three-sentence windows;
                    features url and text only; no validation split.

The files are the ones ``make reference`` extracts from those wheels on PyPI into
``<reference home>/src`` (sha256 pinned in tests/reference/pins.py); they are loaded unmodified.

Runners:

  inline  (default) the old c4_utils functions, composed in one process in the order the old
          c4.py composes them (``_get_page_content`` for 2.2.0, ``_build_pcollection`` for
          1.0.0). Each Beam grouping becomes a dict: ``GroupByKey`` -> lists in input order,
          ``CoGroupByKey`` -> a dict keyed by url.
  beam    the old c4.py itself, executed whole, its builder's ``_split_generators`` and
          ``_build_pcollection`` run on Beam's FnApiRunner (1 worker, in memory). The module
          runs against tensorflow-datasets 4.9.10 with stand-ins for the few ``tfds.core`` names
          that changed since (see ``LegacyTfds``), in its own namespace only.

Stages (c4/en, clean=True):
  2.2.0  split_wet_file -> is_valid_length (> 1.9e5 characters dropped) -> normalize_url +
         GroupByKey + dedupe_urls -> clean_page (a bad word on a kept line drops the page) ->
         remove_duplicate_text (md5 of each stripped, lowercased line; the page whose normalized
         url has the smallest md5 keeps it) -> is_language('en', p >= 0.99, seed 0) ->
         md5(normalized url) % 1000 == 0 -> validation, else train.
  1.0.0  the same up to clean_page (no maximum word length; url and text only) ->
         remove_duplicate_text over 3-sentence windows of each line (smallest md5 of the
         normalized url keeps a window; surviving sentences re-joined with one space) ->
         is_language('en'). The url written is the normalized one, the key 1.0.0 emitted.

URL dedup: the old dedupe_urls keeps the LAST value GroupByKey yields for a normalized url, an
order TFDS left to the Beam runner. Here values come in input order (files in command-line
order, records in file order), which is also what the FnApiRunner yields with one worker: the
last copy in input order is kept. ``--url-dedup-keep first`` reverses it (inline only), and the
stats list every url whose copies differ, i.e. where the choice matters.

Output: JSONL sorted by url. 2.2.0: url, text, content-type, content-length, timestamp, split;
1.0.0: url, text, split (always train).
"""

from __future__ import annotations

import argparse
import builtins
import importlib.util
import inspect
import os
import shutil
import sys
import tempfile
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

if not __package__:  # run as a script: make the package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.reference import pins, runtime

WINDOW = 3  # 1.0.0's remove_duplicate_text(sentence_window_size=3)
URL_DEDUP_RULES = {
    "last": "GroupByKey values reach dedupe_urls in input order: the last copy is kept",
    "first": "GroupByKey values reach dedupe_urls in reverse input order: the first copy is kept",
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    doc = __doc__ or ""
    ap = argparse.ArgumentParser(
        description="TFDS C4 (c4/en 2.2.0 or 1.0.0, original code) on local WET files -> JSONL.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="URL dedup" + doc.split("URL dedup", 1)[1],
    )
    ap.add_argument("wet", nargs="+", help="WET files (.warc.wet.gz, or plain .wet)")
    ap.add_argument("-o", "--output", required=True, help="output JSONL")
    ap.add_argument("--version", required=True, choices=pins.LEGACY_VERSIONS)
    ap.add_argument("--runner", choices=("inline", "beam"), default="inline")
    ap.add_argument("--url-dedup-keep", choices=sorted(URL_DEDUP_RULES), default="last")
    ap.add_argument(
        "--badwords",
        default=str(pins.BADWORDS_EN),
        help="LDNOOBW 'en' list (default: the project's copy of the pinned one, %(default)s)",
    )
    ap.add_argument("--src-dir", help="the saved old sources (default: the install's src/)")
    ap.add_argument("--nltk-data", help="NLTK data dir (default: $NLTK_DATA, else the install's)")
    ap.add_argument("--stats-json", help="also write counters, stages and determinism here")
    ap.add_argument("--tmpdir", help="scratch directory (default: a new one under $TMPDIR)")
    ap.add_argument("--quiet", action="store_true", help="print the summary only")
    args = ap.parse_args(argv)
    if args.runner == "beam" and args.url_dedup_keep != "last":
        ap.error("--url-dedup-keep applies to --runner inline only")
    if not os.path.isfile(args.badwords):
        ap.error(f"no bad-words list at {args.badwords}")
    args.badwords_md5 = runtime.check_badwords(args.badwords)
    args.src_dir = args.src_dir or str(pins.legacy_src_dir())
    for path in args.wet:
        if not os.path.isfile(path):
            ap.error(f"no such WET file: {path}")
    return args


# --------------------------------------------------------------------------------------------
# the old sources
# --------------------------------------------------------------------------------------------
def source_files(version: str, src_dir: str) -> dict[str, dict[str, Any]]:
    """The version's saved c4_utils.py and c4.py, with their sha256; stops if one is missing
    and warns if one is not the file pinned."""
    out = {}
    for kind, pin in pins.legacy_sources(version).items():
        path = os.path.join(src_dir, pin.filename)
        if not os.path.isfile(path):
            sys.exit(f"missing {path}: run `make reference` (or pass --src-dir)")
        digest = pins.sha256_file(path)
        if digest != pin.sha256:
            print(
                f"WARNING: {path} has sha256 {digest}, not that of tensorflow-datasets "
                f"{pin.tfds_release}'s {pin.member} ({pin.sha256})",
                file=sys.stderr,
            )
        out[kind] = {
            "file": pin.filename,
            "path": path,
            "sha256": digest,
            "pinned": digest == pin.sha256,
        }
    return out


def check_apis() -> list[str]:
    """The APIs the 2019/2020 sources call on today's packages, each checked to still exist
    with the old behaviour (none needs a stand-in); stops naming any that is gone."""
    import absl.logging
    import tensorflow as tf
    import tensorflow.compat.v2 as tf2
    import tensorflow_datasets.public_api as tfds

    lazy = tfds.core.lazy_imports
    checks: dict[str, Callable[[], bool]] = {
        "absl.logging.info": lambda: callable(absl.logging.info),
        "tf.compat.as_text": lambda: tf.compat.as_text(b"\xc3\xa9") == "\u00e9",
        "tf.compat.v2.compat.as_text": lambda: tf2.compat.as_text(b"x") == "x",
        "tf.io.gfile.GFile": lambda: hasattr(tf.io.gfile, "GFile"),
        "tf.compat.v2.io.gfile.GFile": lambda: hasattr(tf2.io.gfile, "GFile"),
        "tfds.core.lazy_imports.apache_beam": lambda: hasattr(
            lazy.apache_beam.metrics.Metrics, "counter"
        ),
        "tfds.core.lazy_imports.nltk": lambda: hasattr(lazy.nltk.data, "load"),
        "tfds.core.lazy_imports.langdetect": lambda: all(
            hasattr(lazy.langdetect, name)
            for name in ("DetectorFactory", "detect_langs", "lang_detect_exception")
        ),
        "tfds.Split.TRAIN/VALIDATION": lambda: (
            (str(tfds.Split.TRAIN), str(tfds.Split.VALIDATION)) == ("train", "validation")
        ),
    }
    gone = [name for name, check in checks.items() if not check()]
    if gone:
        sys.exit(f"API(s) the old C4 code calls are gone: {', '.join(gone)}")
    return sorted(checks)


def load_utils(version: str, path: str) -> types.ModuleType:
    """The old c4_utils.py, imported as is under a private name.

    Registered in sys.modules so Beam pickles its functions by reference to this one module,
    whose globals (the memoized punkt tokenizer) every stage then shares.
    """
    name = f"c4_v{version.replace('.', '_')}_utils"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


class LegacyTfds:
    """``tensorflow_datasets.public_api`` as the old c4.py saw it, for that module only.

    The module body builds objects that tensorflow-datasets 4.9.10 no longer accepts
    (``tfds.core.Version(..., experiments={tfds.core.Experiment.S3: False})``,
    ``@tfds.core.disallow_positional_args``, ``SplitGenerator(num_shards=...)``) and a builder
    base class that wants a data directory. Those few names get inert stand-ins that record what
    they are given; every other name is today's tensorflow-datasets (``lazy_imports``,
    ``Split``, ``features``).
    """

    class Version:
        def __init__(self, version: str, **kwargs: Any) -> None:
            self.version, self.kwargs = version, kwargs

    class BuilderConfig:
        def __init__(self, *, name: str, **kwargs: Any) -> None:
            self.name, self.kwargs = name, kwargs

    class BeamBasedBuilder:
        """Only what the pipeline-building methods read: the builder config."""

        def __init__(self, builder_config: Any) -> None:
            self.builder_config = builder_config

    class SplitGenerator:
        def __init__(
            self, name: str, gen_kwargs: dict[str, Any], num_shards: int | None = None
        ) -> None:
            self.name, self.gen_kwargs, self.num_shards = name, gen_kwargs, num_shards

    class _Experiments:
        def __getattr__(self, name: str) -> str:
            return name

    def __init__(self) -> None:
        import tensorflow_datasets.public_api as tfds

        stand_ins = {
            "Version": self.Version,
            "BuilderConfig": self.BuilderConfig,
            "BeamBasedBuilder": self.BeamBasedBuilder,
            "SplitGenerator": self.SplitGenerator,
            "Experiment": self._Experiments(),
            "disallow_positional_args": lambda fn: fn,
        }
        self.core = _Overlay(tfds.core, stand_ins)
        self.public_api = _Overlay(tfds, {"core": self.core})


class _Overlay:
    """A module's attributes, with some replaced."""

    def __init__(self, base: Any, replaced: dict[str, Any]) -> None:
        self._base, self._replaced = base, replaced

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("_base", "_replaced"):
            raise AttributeError(name)  # copy/pickle probing a half-built instance
        if name in self._replaced:
            return self._replaced[name]
        return getattr(self._base, name)


def load_builder(version: str, path: str, utils: types.ModuleType) -> Any:
    """Executes the whole old c4.py, unmodified, and returns its ``C4`` builder class.

    Its imports go through an ``__import__`` of its own (in the module's ``__builtins__``):
    ``tensorflow_datasets.public_api`` is ``LegacyTfds`` and ``tensorflow_datasets.text.c4_utils``
    is the same version's old c4_utils; everything else is imported as usual.
    """
    name = f"c4_v{version.replace('.', '_')}_builder"
    if name in sys.modules:
        return sys.modules[name].C4
    legacy = LegacyTfds()
    text_package = types.SimpleNamespace(c4_utils=utils)

    def scoped_import(
        module: str,
        globals_: Any = None,
        locals_: Any = None,
        fromlist: Any = (),
        level: int = 0,
    ) -> Any:
        if module == "tensorflow_datasets.public_api":
            # `import tensorflow_datasets.public_api as tfds` takes .public_api of the result.
            return types.SimpleNamespace(public_api=legacy.public_api)
        if module == "tensorflow_datasets.text" and fromlist:
            return text_package
        return builtins.__import__(module, globals_, locals_, fromlist, level)

    module = types.ModuleType(name)
    module.__file__ = path
    module.__dict__["__builtins__"] = {**vars(builtins), "__import__": scoped_import}
    sys.modules[name] = module
    try:
        with open(path, encoding="utf-8") as f:
            exec(compile(f.read(), path, "exec"), module.__dict__)
    except BaseException:
        del sys.modules[name]
        raise
    return module.C4


def en_builder(builder_cls: Any) -> Any:
    """The old builder with its own ``c4/en`` config (language en, clean, Common Crawl 2019-18)."""
    (config,) = [c for c in builder_cls.BUILDER_CONFIGS if c.name == "en"]
    return builder_cls(config)


# --------------------------------------------------------------------------------------------
# records
# --------------------------------------------------------------------------------------------
def record(version: str, element: Any, split: str) -> dict[str, Any]:
    """An example the old ``_emit_examples`` emits (or would) -> an output record."""
    if version == "1.0.0":  # {"url": normalized url, "text": text}
        return {"url": element["url"], "text": element["text"], "split": split}
    _, features = element  # (url, features)
    keys = ("url", "text", "content-type", "content-length", "timestamp")
    return {**{k: features[k] for k in keys}, "split": split}


def to_json(element: Any, split: str, version: str) -> str:
    import json

    return json.dumps(record(version, element, split), ensure_ascii=False)


def read_badwords(utils: types.ModuleType, path: str) -> list[str]:
    """As the old c4.py reads the downloaded list: stripped lines, through tf.io.gfile."""
    with utils.tf.io.gfile.GFile(path) as f:
        return [line.strip() for line in f]


# --------------------------------------------------------------------------------------------
# inline runner
# --------------------------------------------------------------------------------------------
def run_inline(
    args: argparse.Namespace, inputs: list[runtime.WetInput], cu: types.ModuleType
) -> Any:
    counters = runtime.Counters()
    cu.get_counter_inc_fn = counters.inc_fn  # looked up at call time by every old function
    v1 = args.version == "1.0.0"
    clock = runtime.StageClock(with_dropped=False)
    start = time.perf_counter()

    # Create(wet files) | FlatMap(split_wet_file) | Filter(is_valid_length)
    pages = [p for inp in inputs for p in cu.split_wet_file(inp.gz)]
    clock.lap("split_wet_file", sum(inp.records or 0 for inp in inputs), len(pages))
    n = len(pages)
    pages = [p for p in pages if cu.is_valid_length(p)]
    clock.lap("is_valid_length", n, len(pages))

    # Map(normalize_url) | GroupByKey | Map(dedupe_urls)
    n = len(pages)
    pages, url_dedup = url_dedup_inline(cu, pages, args.url_dedup_keep)
    clock.lap("url_dedup(normalize_url+GroupByKey+dedupe_urls)", n, len(pages))

    # FlatMap(get_clean_page_fn(badwords))
    n = len(pages)
    clean_page = cu.get_clean_page_fn(read_badwords(cu, args.badwords))
    pages = [q for p in pages for q in clean_page(p)]
    clock.lap("clean_page(+badwords)", n, len(pages))

    n = len(pages)
    dedup = window_dedup_inline if v1 else line_dedup_inline
    pages = dedup(cu, pages, counters)
    clock.lap("remove_duplicate_text", n, len(pages))

    # Filter(is_language, language="en")
    n = len(pages)
    pages = [p for p in pages if cu.is_language(p, language="en")]
    clock.lap("is_language(en)", n, len(pages))

    records = []
    if v1:  # Map(_emit_examples): everything is train
        for url, text in pages:
            counters.inc_fn("emit-examples")("emitted")
            records.append(record("1.0.0", {"url": url, "text": text}, "train"))
    else:  # per split: Filter(get_hashed_url_filter_fn(predicate)) | Map(_emit_examples)
        predicates = {"train": lambda x: x % 1000 != 0, "validation": lambda x: x % 1000 == 0}
        for split, predicate in predicates.items():
            in_split = cu.get_hashed_url_filter_fn(predicate)
            for p in pages:
                if in_split(p):
                    counters.inc_fn(split)("examples")
                    records.append(record("2.2.0", p, split))
    clock.lap("split+emit", len(pages), len(records))
    return records, counters, time.perf_counter() - start, clock.rows, url_dedup


def url_dedup_inline(cu: types.ModuleType, pages: list[Any], keep: str) -> Any:
    """``Map(normalize_url) | GroupByKey | Map(dedupe_urls)``, values in input order (reversed
    for ``keep == "first"``), and which normalized urls have copies that differ."""
    groups: dict[str, list[Any]] = {}
    for page in pages:
        key, value = cu.normalize_url(page)
        groups.setdefault(key, []).append(value)
    out, duplicated, differ = [], 0, []
    for key, values in groups.items():
        if len(values) > 1:
            duplicated += 1
            if any(v != values[0] for v in values):
                differ.append(key)
        out.append(cu.dedupe_urls((key, iter(values if keep == "last" else values[::-1]))))
    info = {
        "rule": keep,
        "rule_text": URL_DEDUP_RULES[keep],
        "duplicate_url_groups": duplicated,
        "groups_where_copies_differ": len(differ),
        "normalized_urls_where_copies_differ": sorted(differ),
    }
    return out, info


def line_dedup_inline(
    cu: types.ModuleType, pages: list[Any], counters: runtime.Counters
) -> list[Any]:
    """2.2.0's remove_duplicate_text: ``FlatMap(_emit_url_to_lines) | GroupByKey |
    FlatMap(_emit_line_to_urls)``, joined with the pages by url (``CoGroupByKey``), then
    ``FlatMap(_remove_lines_from_text)``."""
    inc = counters.inc_fn("dedupe-lines")
    urls_by_line: dict[str, list[str]] = {}
    for page in pages:
        for line, url in cu._emit_url_to_lines(page):
            urls_by_line.setdefault(line, []).append(url)
    drop: dict[str, list[str]] = {}
    for grouped in urls_by_line.items():
        for url, line in cu._emit_line_to_urls(grouped, counter_inc_fn=inc):
            drop.setdefault(url, []).append(line)
    out = []
    for url, features in _by_url(pages).items():
        joined = (url, {"features": features, "lines": drop.get(url, [])})
        out.extend(cu._remove_lines_from_text(joined, counter_inc_fn=inc))
    return out


def window_dedup_inline(
    cu: types.ModuleType, pages: list[Any], counters: runtime.Counters
) -> list[Any]:
    """1.0.0's remove_duplicate_text: the same shape over 3-sentence windows
    (``_emit_url_to_sentences`` / ``_emit_sentences_to_urls`` / ``_remove_sentences_from_text``)."""
    inc = counters.inc_fn("dedupe-sentences")
    urls_by_window: dict[tuple[str, ...], list[str]] = {}
    for page in pages:
        for window, url in cu._emit_url_to_sentences(page, max_window_size=WINDOW):
            urls_by_window.setdefault(window, []).append(url)
    drop: dict[str, list[tuple[str, ...]]] = {}
    for grouped in urls_by_window.items():
        for url, window in cu._emit_sentences_to_urls(grouped, counter_inc_fn=inc):
            drop.setdefault(url, []).append(window)
    out = []
    for url, texts in _by_url(pages).items():
        joined = (url, {"text": texts, "sentences": drop.get(url, [])})
        out.extend(
            cu._remove_sentences_from_text(joined, counter_inc_fn=inc, max_window_size=WINDOW)
        )
    return out


def _by_url(pages: list[Any]) -> dict[str, list[Any]]:
    """The pages side of the CoGroupByKey (one page per url after URL dedup)."""
    out: dict[str, list[Any]] = {}
    for url, value in pages:
        out.setdefault(url, []).append(value)
    return out


# --------------------------------------------------------------------------------------------
# beam runner
# --------------------------------------------------------------------------------------------
class OfflineDownloads:
    """The old c4.py's download manager calls, answered from local files.

    ``download_and_extract`` gives a local WET-paths file (c4.py turns each line into
    ``<_DOWNLOAD_HOST>/<line>``) and the bad-words file; ``download`` maps those URLs back to the
    local WET files; the checksums download is a no-op.
    """

    def __init__(self, tmpdir: str, wet_gz: list[str], badwords: str) -> None:
        self.download_dir = os.path.join(tmpdir, "downloads")
        self.manual_dir = os.path.join(tmpdir, "manual")
        self._paths_file = os.path.join(tmpdir, "wet.paths")
        with open(self._paths_file, "w", encoding="utf-8") as f:
            f.writelines(p + "\n" for p in wet_gz)
        self._wet_gz = wet_gz
        self._badwords = os.path.abspath(badwords)

    def download_checksums(self, url: str) -> None:
        pass

    def download_and_extract(self, files: dict[str, Any]) -> dict[str, Any]:
        unknown = set(files) - {"wet_urls", "badwords"}
        if unknown:
            raise ValueError(f"offline run cannot provide {sorted(unknown)}")
        out: dict[str, Any] = {"wet_urls": [self._paths_file]}  # one crawl: 2019-18
        if "badwords" in files:
            out["badwords"] = self._badwords
        return out

    def download(self, files: dict[str, Any]) -> dict[str, Any]:
        # "https://<host>//abs/path.gz" -> "/abs/path.gz"
        mapped = [url.split("/", 3)[3] for url in files.get("wet_files", [])]
        if set(files) != {"wet_files"} or mapped != self._wet_gz:
            raise ValueError(f"offline run cannot provide {files}")
        return {"wet_files": mapped}


def run_beam(
    args: argparse.Namespace,
    inputs: list[runtime.WetInput],
    tmpdir: str,
    builder: Any,
) -> Any:
    downloads = OfflineDownloads(tmpdir, [i.gz for i in inputs], args.badwords)
    start = time.perf_counter()
    pipeline = runtime.beam_pipeline()
    if "pipeline" in inspect.signature(builder._split_generators).parameters:  # 2.2.0
        generators = builder._split_generators(downloads, pipeline)
    else:  # 1.0.0 builds everything in _build_pcollection
        generators = builder._split_generators(downloads)

    def build(gen_kwargs: dict[str, Any]) -> Callable[[Any], Any]:
        return lambda p: builder._build_pcollection(p, **gen_kwargs)

    splits = [(str(g.name), build(g.gen_kwargs)) for g in generators]
    version = args.version
    records, counters = runtime.run_splits(
        pipeline, splits, lambda el, split: to_json(el, split, version), tmpdir
    )
    url_dedup = {
        "rule": "beam",
        "rule_text": "dedupe_urls keeps the last value the FnApiRunner's GroupByKey yields",
    }
    return records, counters, time.perf_counter() - start, None, url_dedup


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------
def stage_table(counters: runtime.Counters, version: str, n_records: int) -> list[dict[str, Any]]:
    """Pages in and out of each stage, from the old counters (the same for both runners)."""
    c = counters
    v1 = version == "1.0.0"
    page = "filtered-url-" if v1 else "filtered-page-"  # 1.0.0 said "url" for a page

    def nonzero(namespace: str, *names: str) -> dict[str, int]:
        return {n: c[f"{namespace}/{n}"] for n in names if c[f"{namespace}/{n}"]}

    parse_drops = nonzero(
        "split-wet-file",
        "page-filitered-nourl",  # sic
        "page-filtered-nocontent",
        "page-nocontenttype",
        "page-nocontentlen",
        "page-notimestamp",
    )
    parsed = c["split-wet-file/page-emitted"]
    valid = c["is-valid-length/valid-length"]
    unique = c["dedupe-urls/unique-url"]
    clean = c["clean-page/emitted-clean-pages"]
    dedup_ns = "dedupe-sentences" if v1 else "dedupe-lines"
    deduped = clean - c[f"{dedup_ns}/filtered-doc-toofewsentences"]
    english = c["detected-lang/page-emited-en"]  # sic
    clean_reasons = ("loremipsum", "squigglybracket", "badword", "toofewsentences")
    rows = [
        runtime.stage_row("split_wet_file", n_records, parsed, parse_drops),
        runtime.stage_row(
            "is_valid_length", parsed, valid, nonzero("is-valid-length", page + "contenttoolong")
        ),
        runtime.stage_row(
            "url_dedup", valid, unique, nonzero("dedupe-urls", "filtered-url-duplicate")
        ),
        runtime.stage_row(
            "clean_page(+badwords)",
            unique,
            clean,
            nonzero("clean-page", *(page + r for r in clean_reasons)),
        ),
        runtime.stage_row(
            f"remove_duplicate_text({'3-sentence windows' if v1 else 'lines'})",
            clean,
            deduped,
            nonzero(
                dedup_ns,
                "filtered-doc-toofewsentences",
                "filtered-sentence-duplicate",
                "filtered-lines-duplicate",
                "emitted-sentences-duplicate",
                "emitted-line-duplicate",
            ),
        ),
        runtime.stage_row(
            "is_language(en)",
            deduped,
            english,
            nonzero(
                "detected-lang",
                "langdetect-exception",
                "page-filtered-nolangpredictions",
                "page-filtered-lowlangdetectconf",
                "page-filtered-ignoredlang",
            ),
        ),
    ]
    if v1:
        emitted = c["emit-examples/emitted"]
        rows.append(runtime.stage_row("emit(train only)", english, emitted, {"train": emitted}))
    else:
        train, validation = c["train/examples"], c["validation/examples"]
        detail = {"train": train, "validation": validation}
        rows.append(runtime.stage_row("split", english, train + validation, detail))
    return rows


def shown(path: str) -> str:
    """A path for the stats: relative to the working directory when inside it, else under the
    reference home as ``$C4_REFERENCE_HOME/...``, else absolute (keeps stats free of $HOME)."""
    full = os.path.abspath(path)
    for base, label in ((os.getcwd(), ""), (str(pins.home()), f"${pins.HOME_ENV}")):
        for root in {base, os.path.realpath(base)}:
            if full.startswith(root + os.sep):
                rest = full[len(root) + 1 :]
                return f"{label}/{rest}" if label else rest
    return full


def main(argv: list[str] | None = None) -> int:
    process_start = time.perf_counter()
    args = parse_args(argv)
    nltk_dir = runtime.configure_offline(args.nltk_data)
    import absl.logging
    import langdetect

    # 1.0.0 logs every duplicated window at INFO.
    absl.logging.set_verbosity(absl.logging.ERROR)
    langdetect.DetectorFactory.seed = 0

    sources = source_files(args.version, args.src_dir)
    apis = check_apis()
    cu = load_utils(args.version, sources["utils"]["path"])
    builder = None
    if args.runner == "beam":
        builder = en_builder(load_builder(args.version, sources["builder"]["path"], cu))
    # Load punkt and langdetect's profiles before the clock starts.
    cu._get_sentences("Warm up. Load punkt.")
    langdetect.detect_langs("warm up the language profiles of langdetect")

    tmpdir = tempfile.mkdtemp(prefix="c4_legacy_reference_", dir=args.tmpdir)
    try:
        inputs = runtime.prepare_inputs(args.wet, tmpdir, count_records=True)
        if builder is not None:
            result = run_beam(args, inputs, tmpdir, builder)
        else:
            result = run_inline(args, inputs, cu)
        records, counters, seconds, timings, url_dedup = result
        runtime.write_jsonl(records, args.output)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)

    n_records = sum(i.records or 0 for i in inputs)
    table = stage_table(counters, args.version, n_records)
    shims = [
        "nltk.download -> offline check that punkt_tab is present (NLTK >= 3.9 serves "
        "'tokenizers/punkt/english.pickle' from it)",
        "absl logging at ERROR",
    ]
    if builder is None:
        shims.append("c4_utils.get_counter_inc_fn -> in-process counters (inline runner)")
    else:
        shims.append(
            "old c4.py executed whole with LegacyTfds for tensorflow_datasets.public_api "
            "(Version, Experiment, disallow_positional_args, BuilderConfig, BeamBasedBuilder, "
            "SplitGenerator) and an offline download manager"
        )
    summary: dict[str, Any] = {
        "c4_version": args.version,
        "tfds_source_release": pins.legacy_sources(args.version)["utils"].tfds_release,
        "runner": args.runner,
        "sources": {
            kind: {k: v for k, v in info.items() if k != "path"} for kind, info in sources.items()
        },
        "inputs": [i.describe(shown(given)) for i, given in zip(inputs, args.wet, strict=True)],
        "options": {"badwords": shown(args.badwords), "badwords_md5": args.badwords_md5},
        "determinism": {
            "url_dedup": url_dedup,
            "other": "line and window dedup keep the smallest md5(normalized url); "
            "langdetect is seeded with 0",
        },
        "shims": shims,
        "old_apis_present_no_shim": apis,
        "nltk_data": shown(nltk_dir),
        "versions": runtime.package_versions(),
        "pages_parsed": counters["split-wet-file/page-emitted"],
        "docs_out": len(records),
        "pipeline_seconds": round(seconds, 3),
        "process_wall_seconds": round(time.perf_counter() - process_start, 3),
        "stages": table,
        "inline_stage_timings": timings,
        "counters": dict(sorted(counters.items())),
    }
    runtime.write_stats(summary, args.stats_json)  # before printing: stdout may be closed
    if not args.quiet:
        release = summary["tfds_source_release"]
        title = (
            f"TFDS C4 {args.version} reference (tfds {release}, {args.runner} runner), counters:"
        )
        runtime.print_counters(title, counters)
    runtime.print_stage_table(f"c4 {args.version}", table, 42)
    if timings and not args.quiet:
        print("\ninline per-stage timings (s):")
        for t in timings:
            print(f"  {t['stage']:<48} in={t['in']:<7} out={t['out']:<7} {t['seconds']:.3f}s")
    print(f"\nURL dedup: {url_dedup['rule_text']}")
    if "duplicate_url_groups" in url_dedup:
        print(
            f"  {url_dedup['duplicate_url_groups']} duplicated normalized url(s), copies differ "
            f"in {url_dedup['groups_where_copies_differ']}"
        )
    print(
        f"input: {len(inputs)} file(s), {n_records} records, {summary['pages_parsed']} pages\n"
        f"kept documents: {len(records)} -> {args.output} ({seconds:.2f}s pipeline, "
        f"{summary['process_wall_seconds']:.2f}s process)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
