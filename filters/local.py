"""The whole C4 core in one process: the executable specification the Beam pipeline must agree with.

``run_local`` composes the pure stages in the order of C4_SPEC §1.1 for the version:

    3.1.0: wet -> length -> (realnews) -> URL dedup -> (paragraph) -> (clean) -> (dedup)
           -> language -> (badwords) -> split
    2.2.0: wet -> length -> (realnews) -> URL dedup -> (clean with bad words per line)
           -> (line dedup) -> language -> split
    1.0.0: as 2.2.0 with three-sentence-window dedup; train only; ``url`` is the normalized URL.

It keeps everything in memory, so it is for samples, tests and benchmarks, not for a crawl. The
shuffles of the Beam pipeline become dicts here, fed by the same per-element functions
(``filters.dedup``). Counters use TFDS 3.1.0 names (``namespace/name``) in every version;
``legacy_counters`` renames them to what 2.2.0/1.0.0's code counts.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from filters import dedup
from filters.records import DeadLetter, Dropped, Page
from filters.spec import C4Rules
from filters.urls import split_for

WET_NAMESPACE = "split-wet-file"
LENGTH_NAMESPACE = "too-long-filter"
REALNEWS_NAMESPACE = "realnews-domain-filter"
PARAGRAPH_NAMESPACE = "paragraph-filter"
CLEAN_NAMESPACE = "clean-page"
ENGLISH_NAMESPACE = "english-filter"
MC4_LANGUAGE_NAMESPACE = "language-filter"
BADWORDS_NAMESPACE = "badwords-filter"


class LocalResult(NamedTuple):
    """What ``run_local`` built.

    Attributes:
        docs: kept documents sorted by ``(url, split)``: the TFDS features (``url``, ``text``,
            ``timestamp``, ``content-type``, ``content-length``), ``split``, and provenance
            (``doc_id``, ``source_file``, ``record_offset``, ``record_id``, ``raw_url``,
            ``normalized_url``, ``language``). 1.0.0's ``url`` is the normalized URL, as it emitted.
        counters: ``"namespace/name" -> value``, TFDS 3.1.0 names.
        dead_letters: records that could not be read as pages.
        dropped: ``(stage, reason) -> pages`` removed by a C4 rule.
        n_input_records: WET records read (pages, dropped records and dead letters).
        timings: CPU seconds (user + sys of this process) per stage, in stage order; start-up
            (``load_resources``) excluded. CPU, not wall: the figures stay meaningful on a busy
            machine, and every stage runs on the calling thread.
    """

    docs: list[dict[str, Any]]
    counters: dict[str, int]
    dead_letters: list[DeadLetter]
    dropped: Counter[tuple[str, str]]
    n_input_records: int
    timings: dict[str, float]


class _Run:
    """Counters, drops and timings of one run."""

    def __init__(self) -> None:
        self.counters: Counter[str] = Counter()
        self.dropped: Counter[tuple[str, str]] = Counter()
        self.timings: dict[str, float] = {}

    def count(self, namespace: str, counters: Mapping[Any, int]) -> None:
        """Add counters given as ``name``, ``"ns/name"`` or ``(ns, name)`` keys."""
        for key, value in counters.items():
            if isinstance(key, tuple):
                name = "/".join(key)
            elif "/" in key:
                name = key
            else:
                name = f"{namespace}/{key}"
            self.counters[name] += value

    def drop(self, stage: str, reason: str, n: int = 1) -> None:
        self.dropped[(stage, reason)] += n

    def timed(self, stage: str, start: float) -> None:
        self.timings[stage] = self.timings.get(stage, 0.0) + time.process_time() - start


def _read(
    paths: Sequence[str], rules: C4Rules, run: _Run
) -> tuple[list[Page], list[DeadLetter], int]:
    from filters.wet import iter_wet_path, missing_field_counters

    pages: list[Page] = []
    dead: list[DeadLetter] = []
    n_records = 0
    for file_index, path in enumerate(paths):
        run.counters[f"{WET_NAMESPACE}/wet-file"] += 1
        for item in iter_wet_path(str(path), rules, file_index=file_index):
            n_records += 1
            if isinstance(item, Page):
                run.counters[f"{WET_NAMESPACE}/passed"] += 1
                if rules.version == "2.2.0":
                    run.counters.update(missing_field_counters(item))
                pages.append(item)
            elif isinstance(item, Dropped):
                run.counters[f"{item.stage}/{item.reason}"] += 1
                run.drop(item.stage, item.reason)
            elif isinstance(item, DeadLetter):
                dead.append(item)
            else:
                raise TypeError(f"iter_wet_path yielded {type(item).__name__}")
    return pages, dead, n_records


def _filter(
    pages: Iterable[Page], namespace: str, decide: Callable[[Page], tuple[bool, str]], run: _Run
) -> list[Page]:
    """Apply a ``(keep, reason)`` page rule, counting ``namespace/reason`` for every page."""
    kept = []
    for page in pages:
        keep, reason = decide(page)
        run.counters[f"{namespace}/{reason}"] += 1
        if keep:
            kept.append(page)
        else:
            run.drop(namespace, reason)
    return kept


def url_dedup(pages: Sequence[Page], rules: C4Rules, run: _Run) -> list[Page]:
    """Keep one page per normalized URL (``dedup.select_url_copy``), in first-seen key order."""
    groups: dict[str, list[Page]] = {}
    for page in pages:
        groups.setdefault(page.normalized_url, []).append(page)
    kept = []
    for group in groups.values():
        kept.append(group[0] if len(group) == 1 else dedup.select_url_copy(group, rules))
        run.count(dedup.URL_NAMESPACE, dedup.url_dedup_counters(len(group)))
        if len(group) > 1:
            run.drop(dedup.URL_NAMESPACE, "filtered", len(group) - 1)
    return kept


def text_dedup(
    pages: Sequence[Page], rules: C4Rules, sentences: dedup.Sentences, run: _Run
) -> list[Page]:
    """Cross-document dedup of lines (2.x/3.x) or three-sentence windows (1.0.0).

    The Beam shuffles become one dict of combined votes; each page then loses the keys
    ``dedup.loses`` says it loses, exactly the set ``dedup.lost_by`` ships to it in Beam.
    """
    span = rules.dedup_unit == "span"
    namespace = dedup.WINDOWS_NAMESPACE if span else dedup.LINES_NAMESPACE
    owners = [dedup.owner_digest(p, rules) for p in pages]
    split: list[list[list[str]]] = []
    if span:
        # Split once: emission and removal need the same punkt sentences of every line.
        split = [dedup.split_lines(p.text, sentences) for p in pages]
        keys = [
            dedup.page_window_hashes(p.text, sentences, s)
            for p, s in zip(pages, split, strict=True)
        ]
    else:
        keys = [dedup.page_line_hashes(p.text, rules) for p in pages]
    # Combine: for every key the smallest owner, its occurrences there, and all occurrences.
    table: dict[bytes, dedup.Vote] = {}
    for owner, page_keys in zip(owners, keys, strict=True):
        for key, vote in dedup.votes_for(page_keys, owner):
            prev = table.get(key)
            table[key] = vote if prev is None else dedup.merge_votes(prev, vote)
    if rules.major < 3:
        for combined in table.values():
            run.count(namespace, dedup.key_counters(combined, rules))
    kept = []
    for i, (page, owner, page_keys) in enumerate(zip(pages, owners, keys, strict=True)):
        lost = {k for k in set(page_keys) if dedup.loses(table[k], owner, rules)}
        if span:
            result = dedup.remove_windows(page.text, lost, rules, sentences, split[i])
        else:
            result = dedup.remove_lines(page.text, lost, rules, sentences, hashes=page_keys)
        run.count(namespace, result.counters)
        if result.text is None:
            run.drop(namespace, result.reason or "filtered")
        else:
            kept.append(page._replace(text=result.text))
    return kept


class Resources(NamedTuple):
    """What the stages load once per process: punkt, the language detector, bad-word lists."""

    sentences: Any
    detector: Any
    line_badwords: Any
    page_badwords: Any


def load_resources(rules: C4Rules, detector_name: str = "langdetect-rs") -> Resources:
    """Load (start-up, not per run) everything ``run_local`` needs for ``rules``."""
    from filters.language import make_detector
    from filters.sentences import load_punkt

    detector = make_detector("cld3" if rules.language_detector == "cld3" else detector_name)
    detector.load()
    line_badwords = page_badwords = None
    if rules.badwords_in_clean:
        from filters.badwords import LineBadwords

        line_badwords = LineBadwords.for_c4()
    if rules.badwords_filter_fraction > 0:
        from filters.badwords import PageBadwords

        page_badwords = PageBadwords.for_c4(rules.badwords_filter_fraction)
    return Resources(load_punkt(), detector, line_badwords, page_badwords)


def run_local(
    paths: Sequence[str],
    rules: C4Rules,
    detector_name: str = "langdetect-rs",
    resources: Resources | None = None,
) -> LocalResult:
    """Build C4 from WET files in memory, with every counter, drop and dead letter.

    Args:
        paths: WET files (``.warc.wet.gz``) in input order (the order 2.x URL dedup depends on).
        rules: ``filters.spec.resolve_rules(config, version)``.
        detector_name: ``filters.language.make_detector`` name for the English configs.
        resources: ``load_resources(rules, detector_name)`` to reuse across runs (benchmarks).

    Returns:
        A ``LocalResult``; its reconciliation (``filters.stats.reconcile``) always balances.
    """
    from filters.clean import clean_page
    from filters.language import detect_english, detect_mc4_language
    from filters.length import is_valid_length

    if resources is None:
        resources = load_resources(rules, detector_name)
    sentences, detector, line_badwords, page_badwords = resources

    run = _Run()
    t = time.process_time()
    pages, dead_letters, n_records = _read(paths, rules, run)
    run.timed("split_wet_file", t)

    t = time.process_time()
    pages = _filter(pages, LENGTH_NAMESPACE, lambda p: is_valid_length(p.text), run)
    run.timed("is_valid_length", t)

    if rules.realnewslike:
        from filters.realnews import is_realnews_domain

        t = time.process_time()
        # 3.x checks the normalized URL, 2.x the raw one (C4_SPEC §1.10).
        pick = (lambda p: p.normalized_url) if rules.major >= 3 else (lambda p: p.url)
        pages = _filter(pages, REALNEWS_NAMESPACE, lambda p: is_realnews_domain(pick(p)), run)
        run.timed("is_realnews_domain", t)

    t = time.process_time()
    pages = url_dedup(pages, rules, run)
    run.timed("url_dedup", t)

    if rules.paragraph_filter:
        from filters.paragraph import paragraph_filter

        t = time.process_time()
        pages = _filter(pages, PARAGRAPH_NAMESPACE, lambda p: paragraph_filter(p.text), run)
        run.timed("paragraph_filter", t)

    if rules.clean:
        t = time.process_time()
        cleaned = []
        for page in pages:
            res = clean_page(page.text, rules, sentences, line_badwords)
            run.count(CLEAN_NAMESPACE, res.counters)
            if res.text is None:
                run.drop(CLEAN_NAMESPACE, res.reason or "filtered")
            else:
                cleaned.append(page._replace(text=res.text))
        pages = cleaned
        run.timed("clean_page", t)

    if rules.dedupe:
        t = time.process_time()
        pages = text_dedup(pages, rules, sentences, run)
        run.timed("remove_duplicate_text", t)

    t = time.process_time()
    identified = []
    for page in pages:
        if rules.language_detector == "cld3":
            lang = detect_mc4_language(page.text, detector)  # type: ignore[arg-type]
            namespace = MC4_LANGUAGE_NAMESPACE
        else:
            lang = detect_english(page.text, detector)
            namespace = ENGLISH_NAMESPACE
        run.count(namespace, lang.counters)
        if lang.keep:
            identified.append(page._replace(language=lang.language))
        else:
            run.drop(namespace, lang.reason or "filtered")
    pages = identified
    run.timed("language", t)

    if page_badwords is not None:
        t = time.process_time()
        clean_of_badwords = []
        for page in pages:
            verdict = page_badwords.decide(page.text, page.language, page.normalized_url)
            run.count(BADWORDS_NAMESPACE, verdict.counters)
            if verdict.keep:
                clean_of_badwords.append(page)
            else:
                run.drop(BADWORDS_NAMESPACE, verdict.reason)
        pages = clean_of_badwords
        run.timed("badwords", t)

    t = time.process_time()
    docs = []
    for page in pages:
        split = split_for(page.normalized_url, rules.has_validation)
        if rules.config == "multilingual":
            split = page.language if split == "train" else f"{page.language}-validation"
        run.counters[f"{split}/examples"] += 1
        docs.append(_document(page, split, rules))
    docs.sort(key=lambda d: (d["url"], d["split"]))
    run.timed("split", t)

    counters = {k: v for k, v in sorted(run.counters.items())}
    return LocalResult(docs, counters, dead_letters, run.dropped, n_records, run.timings)


def _document(page: Page, split: str, rules: C4Rules) -> dict[str, Any]:
    return {
        "url": page.normalized_url if rules.version == "1.0.0" else page.url,
        "text": page.text,
        "timestamp": page.timestamp,
        "content-type": page.content_type,
        "content-length": page.content_length,
        "split": split,
        "doc_id": page.doc_id,
        "source_file": page.source_file,
        "record_offset": page.record_offset,
        "record_id": page.record_id,
        "raw_url": page.url,
        "normalized_url": page.normalized_url,
        "language": page.language,
    }


def legacy_counters(counters: Mapping[str, int], version: str) -> dict[str, int]:
    """Our 3.1.0-named counters renamed to what ``version``'s TFDS code counts.

    Names the old code never counted are left out; 3.1.0 returns the counters unchanged.
    """
    if version == "3.1.0":
        return dict(counters)
    from filters import clean, language, length

    out: Counter[str] = Counter()
    dedup_table = dedup.LEGACY_COUNTER_NAMES[version]
    for key, value in counters.items():
        namespace, name = key.split("/", 1)
        legacy: str | None
        if key in dedup_table:
            legacy = dedup_table[key]
        elif namespace == LENGTH_NAMESPACE:
            legacy = f"{length.LEGACY_NAMESPACE}/{length.LEGACY_COUNTER_NAMES[version][name]}"
        elif namespace == CLEAN_NAMESPACE:
            legacy = f"{CLEAN_NAMESPACE}/{clean.LEGACY_COUNTER_NAMES[version][name]}"
        elif namespace == ENGLISH_NAMESPACE:
            legacy = (
                f"{language.LEGACY_ENGLISH_FILTER_NAMESPACE}/{language.legacy_counter_name(name)}"
            )
        elif namespace == WET_NAMESPACE:
            legacy = _legacy_wet_name(name)
        elif version == "1.0.0" and key == "train/examples":
            # 1.0.0's _emit_examples counted under its own namespace.
            legacy = "emit-examples/emitted"
        else:
            legacy = key
        if legacy is not None:
            out[legacy] += value
    return dict(sorted(out.items()))


# 2.x/1.0.0 split_wet_file counter names (their typo "filitered" included).
_LEGACY_WET_NAMES = {
    "wet-file": "wet-file",
    "passed": "page-emitted",
    "filtered:no_url": "page-filitered-nourl",
    "filtered:no_content": "page-filtered-nocontent",
}


def _legacy_wet_name(name: str) -> str | None:
    if name.startswith("page-no"):
        return f"{WET_NAMESPACE}/{name}"
    legacy = _LEGACY_WET_NAMES.get(name)
    return None if legacy is None else f"{WET_NAMESPACE}/{legacy}"
