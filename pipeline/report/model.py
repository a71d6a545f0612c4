"""A build's files -> the report's sections: every chart's rows, with the numbers it shows. Pure.

Each chart is built from one build (``BuildFiles``: stats.json, config.json, aggregates.json and
the masked sample) as one series of ``Row``\\ s; ``overlay`` lays two series on one chart, which is
how a single report compares before with after cleaning and how ``--compare`` lays two builds
over each other. Numbers are formatted here, once: the chart and its table print the same text.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from filters import report as rules
from pipeline.summary import is_drop_counter

# The C4 order of the counter namespaces (C4_SPEC §1.1), for the funnel.
FUNNEL_ORDER = (
    "split-wet-file",
    "too-long-filter",
    "realnews-domain-filter",
    "duplicate-url-filter",
    "paragraph-filter",
    "clean-page",
    "dedupe-lines",
    "dedupe-sentences",
    "english-filter",
    "language-filter",
    "badwords-filter",
)
TOP = 20
DROPPED_DOMAINS_SHOWN = 5
DOCUMENTS_SHOWN = 20
# Hidden config keys: they say how and where a run ran, not what it built (run.json's business).
# ``cc_base_url`` is where the crawl's bytes were read from (Common Crawl, a mirror, a bucket):
# the same files from another place build the same data, as their identifiers promise.
RUN_KEYS = frozenset({"runner", "output_dir", "beam_args", "inputs", "versions", "cc_base_url"})


class Row(NamedTuple):
    """One bar or column: its label, the value drawn and the text printed."""

    label: str
    value: float
    text: str


class Chart(NamedTuple):
    """A chart: ``kind`` is ``bars`` (a row per label) or ``columns`` (histogram bins)."""

    key: str
    title: str
    caption: str
    kind: str
    names: tuple[str, ...]
    series: tuple[tuple[Row, ...], ...]
    label_header: str = ""


class Table(NamedTuple):
    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


class Section(NamedTuple):
    key: str
    title: str
    intro: str
    charts: tuple[Chart, ...] = ()
    tables: tuple[Table, ...] = ()
    notes: tuple[str, ...] = ()


def count(n: float) -> str:
    return f"{int(n):,}"


def share(part: float, whole: float) -> str:
    return f"{100 * part / whole:.2f}%" if whole else "0.00%"


def _pct(part: float, whole: float) -> float:
    return 100 * part / whole if whole else 0.0


def counters_of(files: Any) -> dict[str, int]:
    return dict(files.stats.get("counters", {}))


def _namespace(counter: str) -> str:
    return counter.rpartition("/")[0]


# --- the funnel -----------------------------------------------------------------------------


def funnel_steps(stats: Mapping[str, Any]) -> list[tuple[str, int, int]]:
    """``(step, pages left after it, pages it removed)``: input, dead letters, each namespace in
    C4's order, kept. The last step's count is the number kept when the books balance."""
    rec = stats["reconciliation"]
    left = int(rec["input_records"])
    steps = [("input records", left, 0)]
    dead = int(rec["dead_lettered"])
    if dead:
        left -= dead
        steps.append(("dead-lettered", left, dead))
    per_ns: dict[str, int] = {}
    for reason, n in rec["dropped"].items():
        per_ns[_namespace(reason)] = per_ns.get(_namespace(reason), 0) + int(n)
    order = [ns for ns in FUNNEL_ORDER if ns in per_ns] + sorted(set(per_ns) - set(FUNNEL_ORDER))
    for ns in order:
        left -= per_ns[ns]
        steps.append((ns, left, per_ns[ns]))
    steps.append(("kept", int(rec["kept"]), 0))
    return steps


def funnel_chart(files: Any) -> Chart:
    rows = tuple(
        Row(step, left, count(left) + (f"  (−{count(removed)})" if removed else ""))
        for step, left, removed in funnel_steps(files.stats)
    )
    return Chart(
        "funnel",
        "Pages left after each stage",
        "Every WET record read, then what is left after each stage that drops pages, in C4's "
        "order, down to the documents kept.",
        "bars",
        ("pages",),
        (rows,),
        "stage",
    )


def drops_chart(files: Any) -> Chart:
    rec = files.stats["reconciliation"]
    total = int(rec["input_records"])
    items = sorted(rec["dropped"].items(), key=lambda kv: (-int(kv[1]), kv[0]))
    rows = tuple(Row(name, int(n), f"{count(n)} ({share(n, total)})") for name, n in items)
    return Chart(
        "drops",
        "Pages dropped, per reason",
        "Each page dropped is counted once, under the TFDS counter of its reason; the share is "
        "of all input records.",
        "bars",
        ("pages",),
        (rows,),
        "reason",
    )


def splits_chart(files: Any) -> Chart:
    splits = files.stats.get("splits", {})
    rows = tuple(
        Row(name, int(s["documents"]), count(s["documents"])) for name, s in splits.items()
    )
    return Chart(
        "splits",
        "Documents kept, per split",
        "The documents written to each split (TFRecord and Parquet hold the same ones).",
        "bars",
        ("documents",),
        (rows,),
        "split",
    )


def lines_chart(files: Any) -> Chart:
    counters = counters_of(files)
    per_ns: dict[str, int] = {}
    lines = {k: int(v) for k, v in counters.items() if "/line-" in k}
    for name, n in lines.items():
        per_ns[_namespace(name)] = per_ns.get(_namespace(name), 0) + n
    rows = tuple(
        Row(name, n, f"{count(n)} ({share(n, per_ns[_namespace(name)])})")
        for name, n in sorted(lines.items())
    )
    return Chart(
        "lines",
        "Lines kept and removed, per reason",
        "The line rules of clean_page and of line dedup: lines passed and removed per reason, "
        "as a share of the lines that stage saw.",
        "bars",
        ("lines",),
        (rows,),
        "counter",
    )


# --- lengths --------------------------------------------------------------------------------


def bin_labels(edges: Sequence[int]) -> list[str]:
    def short(n: int) -> str:
        return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)

    labels = []
    for i, lo in enumerate(edges):
        if i + 1 < len(edges):
            hi = edges[i + 1] - 1
            labels.append(short(lo) if hi == lo else f"{short(lo)}–{short(edges[i + 1])}")
        else:
            labels.append(f"{short(lo)}+")
    return labels


def lengths_of(files: Any, when: str) -> dict[str, Any] | None:
    aggregates = files.aggregates or {}
    found: dict[str, Any] | None = (aggregates.get("lengths") or {}).get(when)
    return found


def length_chart(files: Any, field: str, when: str) -> tuple[Row, ...]:
    summary = lengths_of(files, when)
    edges = rules.EDGES[field]
    if not summary:
        return tuple(Row(label, 0.0, "–") for label in bin_labels(edges))
    counts = summary[field]["counts"]
    n = summary["sample"]
    return tuple(
        Row(label, _pct(c, n), share(c, n))
        for label, c in zip(bin_labels(edges), counts, strict=True)
    )


FIELD_TITLES = {"chars": "characters", "words": "words", "lines": "lines"}


def length_charts(builds: Sequence[Any], names: Sequence[str]) -> list[Chart]:
    charts = []
    for field, title in FIELD_TITLES.items():
        caption = (
            f"Share of the sampled pages per number of {title}: raw pages as read (before any "
            "rule) and documents kept (after cleaning)."
        )
        if len(builds) == 1:
            series = (
                length_chart(builds[0], field, "before"),
                length_chart(builds[0], field, "after"),
            )
            charts.append(
                Chart(
                    f"len-{field}",
                    f"Document length in {title}",
                    caption,
                    "columns",
                    ("before cleaning", "after cleaning"),
                    series,
                    title,
                )
            )
            continue
        for when, label in (("before", "before cleaning"), ("after", "after cleaning")):
            overlaid = tuple(length_chart(b, field, when) for b in builds)
            charts.append(
                Chart(
                    f"len-{field}-{when}",
                    f"Document length in {title}, {label}",
                    caption,
                    "columns",
                    tuple(names),
                    overlaid,
                    title,
                )
            )
    return charts


def length_table(files: Any) -> Table:
    rows = []
    for when in ("before", "after"):
        summary = lengths_of(files, when)
        if not summary:
            rows.append((when, "not recorded", "", "", ""))
            continue
        for field in FIELD_TITLES:
            f = summary[field]
            p10, p50, p90 = (f["p10_p50_p90"] + [0, 0, 0])[:3]
            rows.append(
                (
                    when,
                    field,
                    count(summary["sample"]),
                    f"{f['mean']:.1f}",
                    f"{count(p10)} / {count(p50)} / {count(p90)}",
                )
            )
    return Table(
        "Sample sizes and percentiles",
        ("when", "measure", "pages sampled", "mean", "p10 / p50 / p90"),
        tuple(rows),
    )


# --- domains and languages ------------------------------------------------------------------


def _top_rows(pairs: Sequence[Sequence[Any]], whole: int, limit: int = TOP) -> tuple[Row, ...]:
    return tuple(
        Row(str(key) or rules.NO_DOMAIN, int(n), f"{count(n)} ({share(n, whole)})")
        for key, n in list(pairs)[:limit]
    )


def kept_total(files: Any) -> int:
    return int(files.stats["reconciliation"]["kept"])


def domains_chart(files: Any) -> Chart:
    pairs = (files.aggregates or {}).get("domains") or []
    return Chart(
        "domains",
        f"Top {TOP} domains of the kept documents",
        "Documents kept per domain (the host, lowercased, as lineage records it); the share is "
        "of all documents kept.",
        "bars",
        ("documents",),
        (_top_rows(pairs, kept_total(files)),),
        "domain",
    )


def tlds_chart(files: Any) -> Chart:
    pairs = (files.aggregates or {}).get("tlds") or []
    return Chart(
        "tlds",
        f"Top {TOP} top-level domains of the kept documents",
        "Documents kept per top-level domain (the last label of the host).",
        "bars",
        ("documents",),
        (_top_rows(pairs, kept_total(files)),),
        "TLD",
    )


def dropped_domains_table(files: Any, name: str = "") -> Table:
    dropped = (files.aggregates or {}).get("dropped_domains")
    rows: list[tuple[str, ...]] = []
    if dropped is None:
        rows.append(("(not recorded: the aggregates were recomputed from the outputs)", ""))
    else:
        for reason, pairs in sorted(dropped.items()):
            shown = ", ".join(f"{d} ({count(n)})" for d, n in pairs[:DROPPED_DOMAINS_SHOWN])
            rows.append((reason, shown))
    title = f"Domains that lost most pages, per reason{' — ' + name if name else ''}"
    return Table(
        title, ("reason", f"top {DROPPED_DOMAINS_SHOWN} domains (pages dropped)"), tuple(rows)
    )


def language_counts(files: Any) -> tuple[list[tuple[str, int]], dict[str, int], bool]:
    """``([(language, pages)], {language: of which unsure}, detailed)`` at the language filter.

    From the build's tallies where it has them; else from the counters, where the pages below the
    threshold have no language (``detailed`` False).
    """
    aggregates = files.aggregates or {}
    if aggregates.get("languages") is not None:
        langs = [(str(k) or "(none)", int(n)) for k, n in aggregates["languages"]]
        unsure = {str(k) or "(none)": int(n) for k, n in aggregates.get("languages_unsure") or []}
        return langs, unsure, True
    counters = counters_of(files)
    found: dict[str, int] = {}
    for name, n in counters.items():
        ns, _, rest = name.rpartition("/")
        if ns == "english-filter":
            if rest == "passed":
                found["en"] = found.get("en", 0) + n
            elif rest.startswith("filtered:ignored_language-"):
                lang = rest.removeprefix("filtered:ignored_language-")
                found[lang] = found.get(lang, 0) + n
            elif rest == "filtered:low_confidence":
                found["(below 0.99, not recorded)"] = n
            elif rest in ("filtered:langdetect_exception", "filtered:no_predictions"):
                found["(none)"] = found.get("(none)", 0) + n
        elif ns == "language-filter" and rest.startswith("passed:"):
            lang = rest.removeprefix("passed:")
            found[lang] = found.get(lang, 0) + n
    return sorted(found.items(), key=lambda kv: (-kv[1], kv[0])), {}, False


def languages_chart(files: Any) -> Chart:
    langs, unsure, detailed = language_counts(files)
    total = sum(n for _, n in langs)
    rows = tuple(
        Row(
            lang,
            n,
            f"{count(n)} ({share(n, total)})"
            + (f", {count(unsure[lang])} unsure" if unsure.get(lang) else ""),
        )
        for lang, n in langs[:TOP]
    )
    caption = (
        "The top language the detector gives each page that reaches the language filter, before "
        "it decides; the share is of those pages, and 'unsure' counts the pages under the "
        "probability threshold (dropped in the English configs)."
    )
    if not detailed:
        caption += " Recomputed from the counters: pages under the threshold have no language."
    return Chart(
        "languages",
        f"Languages detected before the language filter (top {TOP})",
        caption,
        "bars",
        ("pages",),
        (rows,),
        "language",
    )


# --- dedup and quality ----------------------------------------------------------------------


def dedup_chart(files: Any) -> Chart:
    counters = counters_of(files)
    touched = (files.aggregates or {}).get("touched")
    rows: list[Row] = []
    url_dups = counters.get("duplicate-url-filter/filtered", 0)
    rows.append(Row("pages dropped as URL duplicates", url_dups, count(url_dups)))
    for ns in ("dedupe-lines", "dedupe-sentences"):
        for name, n in sorted(counters.items()):
            if name.startswith(f"{ns}/line-filtered:"):
                what = name.split(":", 1)[1].replace("_", " ")
                rows.append(Row(f"lines removed: {what}", n, count(n)))
        if touched is not None and ns in touched:
            n = int(touched[ns])
            rows.append(Row("pages that lost lines", n, count(n)))
        for name, n in sorted(counters.items()):
            if name.startswith(f"{ns}/filtered"):
                what = name.partition(":")[2].replace("_", " ") or "filtered"
                rows.append(Row(f"pages dropped: {what}", n, count(n)))
    caption = "URL dedup keeps one page per normalized URL; line dedup removes lines seen on an"
    caption += " earlier page, and drops pages left too short."
    if touched is None:
        caption += " Pages that lost lines are not recorded for this build."
    return Chart(
        "dedup",
        "Dedup: URL duplicates, lines removed, pages touched",
        caption,
        "bars",
        ("count",),
        (tuple(rows),),
        "what",
    )


def _namespace_pages(counters: Mapping[str, int], ns: str) -> int:
    return sum(
        n
        for k, n in counters.items()
        if k == f"{ns}/passed" or (k.startswith(f"{ns}/filtered") and is_drop_counter(k))
    )


def quality_chart(files: Any) -> Chart:
    counters = counters_of(files)
    rows: list[Row] = []

    def add(label: str, part: int, whole: int) -> None:
        rows.append(
            Row(label, _pct(part, whole), f"{share(part, whole)} ({count(part)} of {count(whole)})")
        )

    if "badwords-filter/passed" in counters or "badwords-filter/filtered" in counters:
        add(
            "pages dropped for bad words",
            counters.get("badwords-filter/filtered", 0),
            _namespace_pages(counters, "badwords-filter"),
        )
    clean_pages = _namespace_pages(counters, "clean-page")
    if "clean-page/filtered:badword" in counters:
        add(
            "pages dropped for a bad word (in clean_page)",
            counters["clean-page/filtered:badword"],
            clean_pages,
        )
    lines = sum(n for k, n in counters.items() if k.startswith("clean-page/line-"))
    for reason, label in (("javascript", "JavaScript"), ("policy", "policy words")):
        if lines:
            add(
                f"lines dropped: {label}",
                counters.get(f"clean-page/line-filtered:{reason}", 0),
                lines,
            )
    for reason, label in (("loremipsum", "lorem ipsum"), ("squigglybracket", "curly bracket")):
        if clean_pages:
            add(
                f"pages dropped: {label}",
                counters.get(f"clean-page/filtered:{reason}", 0),
                clean_pages,
            )
    return Chart(
        "quality",
        "Bad words, policy lines and JavaScript, as shares",
        "Pages the bad-word filter dropped, of the pages it saw; lines clean_page dropped as "
        "JavaScript or policy text, of the lines it saw; pages it dropped for lorem ipsum or a "
        "curly bracket, of the pages it saw.",
        "bars",
        ("share",),
        (tuple(rows),),
        "what",
    )


# --- masked ---------------------------------------------------------------------------------

NOISE_EDGES = (0, 5, 10, 15, 20, 25, 30)


def _masked_splits(files: Any) -> dict[str, dict[str, int]]:
    if not files.masked:
        return {}
    splits: dict[str, dict[str, int]] = files.masked["config"].get("splits", {})
    return splits


def masked_charts(files: Any) -> list[Chart]:
    splits = _masked_splits(files)
    tokens, per_pack, targets = [], [], []
    for name, s in splits.items():
        total = int(s["inputs_tokens"]) + int(s["targets_tokens"])
        docs, packs = int(s["documents"]), int(s["packs"])
        tpd = total / docs if docs else 0.0
        epp = int(s["examples"]) / packs if packs else 0.0
        tokens.append(Row(name, tpd, f"{tpd:.1f}"))
        per_pack.append(Row(name, epp, f"{epp:.1f}"))
        targets.append(
            Row(name, _pct(int(s["targets_tokens"]), total), share(int(s["targets_tokens"]), total))
        )
    return [
        Chart(
            "masked-tokens",
            "Tokens per document",
            "Input and target tokens (sentinels and EOS included) of a split, per document masked.",
            "bars",
            ("tokens",),
            (tuple(tokens),),
            "split",
        ),
        Chart(
            "masked-targets",
            "Targets' share of the tokens",
            "Target tokens (the noise, plus a sentinel per span and EOS) as a share of all tokens.",
            "bars",
            ("share",),
            (tuple(targets),),
            "split",
        ),
        Chart(
            "masked-packs",
            "Examples per pack",
            "Masked examples per pack of documents (documents are packed, then cut into segments).",
            "bars",
            ("examples",),
            (tuple(per_pack),),
            "split",
        ),
    ]


def noise_rows(files: Any) -> tuple[Row, ...]:
    shares = []
    for rows in (files.masked or {}).get("sample", {}).values():
        for n_in, n_out, s_in, s_out, _ in rows:
            noise, kept = max(0, n_out - s_out - 1), max(0, n_in - s_in - 1)
            if noise + kept:
                shares.append(100 * noise / (noise + kept))
    counts = rules.histogram([int(s) for s in shares], NOISE_EDGES)
    labels = [f"{lo}–{hi}%" for lo, hi in itertools.pairwise(NOISE_EDGES)]
    labels.append(f"{NOISE_EDGES[-1]}%+")
    return tuple(
        Row(label, _pct(c, len(shares)), share(c, len(shares)))
        for label, c in zip(labels, counts, strict=True)
    )


def noise_chart(builds: Sequence[Any], names: Sequence[str]) -> Chart:
    return Chart(
        "masked-noise",
        "Noise share per masked example",
        "Share of each example's tokens that are noise (targets without sentinels and EOS, of "
        "both sides' tokens), over the first examples of each split's first shard.",
        "columns",
        tuple(names),
        tuple(noise_rows(b) for b in builds),
        "noise share",
    )


# --- facts and samples ----------------------------------------------------------------------


def facts_table(files: Any) -> Table:
    stats, config = files.stats, files.config
    rows: list[tuple[str, ...]] = [
        ("C4 config", str(stats.get("config", ""))),
        ("C4 version", str(stats.get("c4_version", ""))),
    ]
    for key in sorted(config):
        if key in RUN_KEYS or key in ("config", "c4_version"):
            continue
        value = config[key]
        if isinstance(value, bool):
            text = "yes" if value else "no"
        elif isinstance(value, dict):
            text = json.dumps(value, sort_keys=True, separators=(", ", ": "))
        elif isinstance(value, list):
            text = (
                f"{len(value)} entries"
                if key.startswith("blocklist")
                else ", ".join(map(str, value))
            )
        else:
            text = "" if value is None else str(value)
        rows.append((key, text or "–"))
    inputs = config.get("inputs", [])
    names = [str(i.get("source_file") or "") for i in inputs if isinstance(i, dict)]
    shown = ", ".join(names[:20]) + (
        f" … and {count(len(names) - 20)} more" if len(names) > 20 else ""
    )
    rows.append(("inputs", f"{count(len(names))} WET file(s): {shown}"))
    for name, version in sorted((config.get("versions") or {}).items()):
        rows.append((f"software: {name}", str(version)))
    rec = stats["reconciliation"]
    rows.append(("balanced", "yes" if rec["balanced"] else f"NO ({rec['unaccounted']:+d})"))
    return Table("Build facts", ("fact", "value"), tuple(rows))


def dead_letters_table(files: Any) -> Table:
    per_stage = files.stats.get("dead_letters", {})
    reasons = (files.aggregates or {}).get("dead_letters") or []
    rows = [(stage, "all", count(n)) for stage, n in sorted(per_stage.items())]
    rows += [(str(r[0]), str(r[1]) if len(r) > 2 else "", count(r[-1])) for r in reasons]
    if not rows:
        rows = [("none", "", "0")]
    return Table(
        "Dead letters (input that could not be read)", ("stage", "reason", "records"), tuple(rows)
    )


def documents_table(files: Any, name: str = "") -> Table:
    docs = (files.aggregates or {}).get("documents") or []
    rows = tuple(
        (d["url"], d["split"], count(d["words"]), d["excerpt"]) for d in docs[:DOCUMENTS_SHOWN]
    )
    title = f"A sample of the kept documents{' — ' + name if name else ''}"
    return Table(title, ("url", "split", "words", "text (start)"), rows)


# --- pages ----------------------------------------------------------------------------------


def overlay(charts: Sequence[Chart], names: Sequence[str]) -> Chart:
    """One chart per build (one series each) -> one chart with a series per build, on the union
    of their labels (in the first build's order, then the others')."""
    labels: list[str] = []
    for chart in charts:
        for row in chart.series[0]:
            if row.label not in labels:
                labels.append(row.label)
    series = []
    for chart in charts:
        by_label = {row.label: row for row in chart.series[0]}
        series.append(tuple(by_label.get(label, Row(label, 0.0, "–")) for label in labels))
    first = charts[0]
    return first._replace(names=tuple(names), series=tuple(series))


BarBuilder = Callable[[Any], Chart]


def _bars(builder: BarBuilder, builds: Sequence[Any], names: Sequence[str]) -> Chart:
    charts = [builder(b) for b in builds]
    return charts[0] if len(charts) == 1 else overlay(charts, names)


def sections(builds: Sequence[Any], names: Sequence[str]) -> list[Section]:
    """The report's sections for one build, or two laid over each other (``--compare``)."""
    one = len(builds) == 1

    def bars(*builders: BarBuilder) -> tuple[Chart, ...]:
        return tuple(_bars(b, builds, names) for b in builders)

    out = [
        Section(
            "funnel",
            "Where the pages went",
            "Input records, then each stage that drops pages, down to the documents kept; "
            "drops per reason, lines per reason, and the documents per split.",
            bars(funnel_chart, drops_chart, lines_chart, splits_chart),
        ),
        Section(
            "lengths",
            "What the documents look like",
            "Lengths of a bounded, deterministic sample of pages: as read, before any rule, "
            "and as kept, after cleaning.",
            tuple(length_charts(builds, names)),
            tuple(
                length_table(b)._replace(title=f"Sample — {n}") if not one else length_table(b)
                for b, n in zip(builds, names, strict=True)
            ),
        ),
        Section(
            "domains",
            "Where the documents come from",
            "Domains and top-level domains of the documents kept, and the domains that lost "
            "most pages to each rule.",
            bars(domains_chart, tlds_chart),
            tuple(
                dropped_domains_table(b, "" if one else n)
                for b, n in zip(builds, names, strict=True)
            ),
        ),
        Section("languages", "Languages", "What the language detector saw.", bars(languages_chart)),
        Section(
            "dedup",
            "Dedup",
            "URL duplicates, duplicated lines, and the pages they touched.",
            bars(dedup_chart),
        ),
        Section(
            "quality",
            "Bad words, policy and JavaScript",
            "What the content rules cost.",
            bars(quality_chart),
        ),
    ]
    if any(b.masked for b in builds):
        out.append(
            Section(
                "masked",
                "Masked examples (T5 span corruption)",
                "From masked/config.json and the first masked examples of each split.",
                (*(_bars_list(masked_charts, builds, names)), noise_chart(builds, names)),
            )
        )
    else:
        out.append(
            Section(
                "masked",
                "Masked examples",
                "",
                (),
                (),
                ("Not masked: run c4 mask DIR (or c4 build --mask), then c4 report DIR.",),
            )
        )
    facts: list[Table] = []
    for b, n in zip(builds, names, strict=True):
        for table in (facts_table(b), dead_letters_table(b)):
            facts.append(table if one else table._replace(title=f"{table.title} — {n}"))
    out.append(
        Section(
            "facts",
            "Build facts",
            "What was built, from what, with which software. Run facts that vary "
            "(runner, wall and CPU time, host, throughput) are in run.json.",
            (),
            tuple(facts),
        )
    )
    if one:
        out.append(
            Section(
                "documents",
                "A sample of the documents",
                "The kept documents with the smallest sample keys (BLAKE2b of the "
                "url): the same ones c4 inspect DIR shows.",
                (),
                (documents_table(builds[0]),),
            )
        )
    return out


def _bars_list(
    builder: Callable[[Any], list[Chart]], builds: Sequence[Any], names: Sequence[str]
) -> list[Chart]:
    per_build = [builder(b) for b in builds]
    if len(builds) == 1:
        return per_build[0]
    return [overlay(list(group), names) for group in zip(*per_build, strict=True)]
