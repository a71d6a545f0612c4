"""The run summary of ``c4 build``: stats.json, the reconciliation, config.json, DATA_CARD.md.

Pure: no Beam, no I/O. ``pipeline/write.py`` gathers what the run wrote and hands it here; the CLI
prints :func:`format_summary`. Every document must be accounted for (INTERFACE.md "The output
directory"): input records = kept + dropped per reason + dead-lettered, or the run fails.
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from filters import stats as stats_rules
from filters.spec import resolve_rules
from pipeline.formats.tfds_layout import split_names

# The counter the pipeline's reader emits once per WET record it parsed (before any rule).
INPUT_RECORDS = "input/records"
# Documents ``c4 forget`` removed from a finished build: by request, not by a rule's drop.
REMOVED = "forget/removed"
# Decompressed WET bytes read, when the reader counts them (throughput in MB/s).
INPUT_BYTES = "input/bytes"
# Input bytes (as stored) dead letters stand for beyond records (damage, failed downloads).
INPUT_LOST_BYTES = "input/lost_bytes"

# TFDS counts some drops twice under another name; summing both would count a page twice.
# - 3.x ``badwords-filter-<lang>`` repeats ``badwords-filter`` for the page's language.
# - ``english-filter/filtered:ignored_language-<lang>`` repeats ``filtered:ignored_language``.
_ALIAS_NAMESPACE_PREFIXES = ("badwords-filter-",)
_ALIAS_NAME_PREFIXES = ("filtered:ignored_language-",)
# mC4's language filter counts these and keeps the page anyway, as language ``und``.
_KEPT_DESPITE_NAME = frozenset(
    {"language-filter/filtered:no_predictions", "language-filter/filtered:low_confidence"}
)

C4_LICENSE = "ODC-BY"


class SplitWritten(NamedTuple):
    """What the writers put on disk for one split."""

    name: str
    shard_lengths: tuple[int, ...]
    num_bytes: int  # TFDS's: sum of the serialized tf.train.Example sizes
    text_bytes: int  # UTF-8 bytes of the ``text`` feature

    @property
    def documents(self) -> int:
        return sum(self.shard_lengths)


def json_text(obj: Any) -> str:
    """Deterministic JSON text (sorted keys, two-space indent, trailing newline).

    Reruns must write byte-identical metadata, so key order never depends on insertion order.
    """
    return json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def sum_counters(partials: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """Sum partial ``"namespace/name" -> count`` dicts into one, sorted by name."""
    total: dict[str, int] = {}
    for partial in partials:
        for name, count in partial.items():
            total[name] = total.get(name, 0) + int(count)
    return dict(sorted(total.items()))


def is_drop_counter(counter: str) -> bool:
    """Whether a TFDS 3.1.0 counter counts pages a rule removed (once each).

    A drop is ``<namespace>/filtered`` or ``<namespace>/filtered:<reason>``; line counters
    (``line-filtered:*``) count lines, not pages, the aliases above repeat another counter, and
    mC4's ``language-filter`` keeps unsure pages as ``und`` after counting them ``filtered:``.
    """
    namespace, _, name = counter.rpartition("/")
    if not namespace or counter in _KEPT_DESPITE_NAME:
        return False
    if namespace.startswith(_ALIAS_NAMESPACE_PREFIXES) or name.startswith(_ALIAS_NAME_PREFIXES):
        return False
    return name == "filtered" or name.startswith("filtered:")


def dropped_by_reason(counters: Mapping[str, int]) -> dict[str, int]:
    """The drop counters, non-zero only, sorted by name."""
    return {name: n for name, n in sorted(counters.items()) if n and is_drop_counter(name)}


def reconcile(counters: Mapping[str, int], kept: int, dead_lettered: int) -> dict[str, Any]:
    """Check input records = kept + dropped per reason + dead-lettered, from a run's counters.

    Args:
        counters: the summed counters of the run (must hold ``input/records``).
        kept: documents written, over all splits.
        dead_lettered: dead-letter records written.

    Returns:
        ``filters.stats.reconcile``'s description (``balanced`` and the signed ``unaccounted``
        tell whether and which way it is off); it does not raise: see :func:`check_balanced`.
    """
    return stats_rules.reconcile(
        int(counters.get(INPUT_RECORDS, 0)),
        kept,
        dropped_by_reason(counters),
        dead_lettered,
        strict=False,
        lost_bytes=int(counters.get(INPUT_LOST_BYTES, 0)),
        removed=int(counters.get(REMOVED, 0)),
    )


def build_stats(
    config: str,
    version: str,
    counters: Mapping[str, int],
    splits: Sequence[SplitWritten],
    dead_letters: Mapping[str, int],
) -> dict[str, Any]:
    """The content of ``DIR/stats.json`` (``filters.stats.stats_document``'s shape, extended).

    Args:
        config: TFDS config name (``en``).
        version: C4 version (``3.1.0``).
        counters: summed counters of the run.
        splits: what was written per split.
        dead_letters: dead-letter records per stage.
    """
    kept = sum(s.documents for s in splits)
    per_split = {
        s.name: {
            "documents": s.documents,
            "num_bytes": s.num_bytes,
            "text_bytes": s.text_bytes,
            "num_shards": len(s.shard_lengths),
        }
        for s in splits
    }
    doc = stats_rules.stats_document(
        config,
        version,
        reconcile(counters, kept, sum(dead_letters.values())),
        sum_counters([counters]),
        per_split,
    )
    for s in splits:
        doc["splits"][s.name]["shard_lengths"] = list(s.shard_lengths)
    doc["dead_letters"] = dict(sorted(dead_letters.items()))
    return doc


ReconciliationError = stats_rules.ReconciliationError


def check_balanced(stats: Mapping[str, Any]) -> None:
    """Raise ``ReconciliationError`` unless the stats' reconciliation balances.

    The message names every term, so the failed run's log says what went missing.
    """
    rec = stats["reconciliation"]
    if not rec["balanced"]:
        raise ReconciliationError(
            f"reconciliation failed: {rec['input_records']} input records != "
            f"{rec['kept']} kept + {rec['dropped_total']} dropped + {rec['dead_lettered']} "
            f"dead-lettered ({rec['unaccounted']:+d} unaccounted); see stats.json"
        )


def _version_of(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def software_versions() -> dict[str, str]:
    """Versions of what built the data (read from installed metadata; Beam is not imported)."""
    return {
        "c4-pipeline": _version_of("c4-pipeline"),
        "apache-beam": _version_of("apache-beam"),
        "python": platform.python_version(),
    }


def build_config_json(resolved: Mapping[str, Any]) -> dict[str, Any]:
    """The content of ``DIR/config.json``: the resolved config (inputs included) and versions.

    The resolved config's keys stay at the top level (``config``, ``c4_version``, ``inputs``...),
    where ``pipeline.config.check_output_dir`` looks for them. No timestamps and no host names:
    two runs of the same build write the same bytes.
    """
    out = dict(resolved)
    out["versions"] = software_versions()
    return out


def _fmt_int(n: int) -> str:
    return f"{n:,}"


def data_card(
    stats: Mapping[str, Any],
    inputs: Sequence[str],
    max_inputs: int = 20,
    removed_on: str | None = None,
) -> str:
    """The text of ``DIR/DATA_CARD.md``: what this dataset is, how it was built, its terms.

    ``removed_on``: the date (``YYYY-MM-DD``) of the last ``c4 forget`` that removed documents.
    """
    config, version = stats["config"], stats["c4_version"]
    rec = stats["reconciliation"]
    lines = [
        f"# C4 `{config}` {version}",
        "",
        "## What this is",
        "",
        "A build of C4, the Colossal Clean Crawled Corpus of Raffel et al. (2020), *Exploring the",
        "Limits of Transfer Learning with a Unified Text-to-Text Transformer*: web pages from",
        "Common Crawl WET files, cleaned and deduplicated by the rules of the TensorFlow Datasets",
        f"`c4/{config}` builder, dataset version {version}, made by `c4-pipeline`.",
        "",
        "## How it was built",
        "",
        f"- Config `{config}`, C4 version `{version}`; full settings and software versions are",
        "  in `config.json`, every counter in `stats.json`.",
        f"- Inputs: {_fmt_int(len(inputs))} WET file(s):",
    ]
    lines += [f"  - `{path}`" for path in inputs[:max_inputs]]
    if len(inputs) > max_inputs:
        lines.append(f"  - ... and {_fmt_int(len(inputs) - max_inputs)} more (see `config.json`)")
    lines += [
        f"- Input records: {_fmt_int(rec['input_records'])}; kept {_fmt_int(rec['kept'])}, "
        f"dropped by a rule {_fmt_int(rec['dropped_total'])}, "
        + (
            f"removed by request {_fmt_int(rec['removed'])} (c4 forget"
            + (f", last on {removed_on}" if removed_on else "")
            + "; deletion reports in `forget/`), "
            if rec.get("removed")
            else ""
        )
        + f"dead-lettered {_fmt_int(rec['dead_lettered'])}"
        + (f"; {_fmt_int(rec['lost_bytes'])} input bytes lost." if rec.get("lost_bytes") else "."),
        "",
        "| split | documents | bytes (serialized) |",
        "|---|---:|---:|",
    ]
    for name, split in stats["splits"].items():
        lines.append(
            f"| {name} | {_fmt_int(split['documents'])} | {_fmt_int(split['num_bytes'])} |"
        )
    lines += [
        "",
        "Layout: `c4/<config>/<version>/` holds TFDS TFRecord shards (loaded by",
        "`tfds.builder_from_directory`), `parquet/<split>/` the same documents in the same order",
        "with provenance columns, `dead_letter/` the input that could not be read.",
        "",
        "## Terms",
        "",
        f"- C4 is released under the Open Data Commons Attribution License ({C4_LICENSE}) v1.0;",
        "  using this data means accepting its terms.",
        "- The text comes from Common Crawl: the Common Crawl Terms of Use",
        "  (https://commoncrawl.org/terms-of-use) apply, and the pages keep their authors' rights.",
        "",
    ]
    return "\n".join(lines)


def empty_splits(stats: Mapping[str, Any]) -> list[str]:
    """The splits the build's config defines (``dataset_info.json`` declares them all) that hold
    no document, in TFDS's order."""
    rules = resolve_rules(stats["config"], stats["c4_version"])
    splits = stats["splits"]
    return [
        name
        for name in split_names(rules.config, rules.has_validation)
        if not splits.get(name, {}).get("documents")
    ]


def empty_split_warning(stats: Mapping[str, Any], shown: int = 4) -> str | None:
    """One line for the summary when a split is empty: TFDS (and seqio) cannot read it."""
    empty = empty_splits(stats)
    if not empty:
        return None
    names = ", ".join(empty[:shown])
    if len(empty) > shown:
        names += f", ... ({len(empty)} in all)"
    return (
        f"warning: no documents in split(s) {names}: declared with 0 examples, which tfds and "
        'seqio refuse to read ("Instruction [] corresponds to no data!"); read the others '
        '(docs/training.md, "Splits with no examples")'
    )


def build_outputs(stats: Mapping[str, Any]) -> list[str]:
    """Everything a build may write, relative to its DIR (directories end in ``/``), in the
    order the summary lists them; the CLI lists those that exist."""
    return [
        f"c4/{stats['config']}/{stats['c4_version']}/",
        "parquet/",
        "lineage/",
        "masked/",
        "forget/",  # kept from an earlier build (ledger, reports), or the derived registry
        "dead_letter/",
        "drops/",
        "report/",
        "stats.json",
        "config.json",
        "DATA_CARD.md",
        "report.html",
        "run.json",
        "manifest.json",
    ]


def _written_by_stats(stats: Mapping[str, Any]) -> list[str]:
    """Without a look at DIR: what the stats say was written."""
    kept = any(split["documents"] for split in stats["splits"].values())
    dead = stats["reconciliation"]["dead_lettered"]
    return [
        path
        for path in build_outputs(stats)
        if (kept or path not in ("parquet/", "lineage/"))
        and (dead or path != "dead_letter/")
        and (path != "drops/" or "drops/recorded" in stats["counters"])
        and path not in ("masked/", "forget/", "report/", "report.html", "run.json")
    ]


def format_summary(
    stats: Mapping[str, Any],
    output_dir: str = "",
    elapsed_seconds: float | None = None,
    wet_bytes: int | None = None,
    outputs: Sequence[str] | None = None,
    masked: Mapping[str, Any] | None = None,
) -> str:
    """The short end-of-run table the CLI prints.

    Args:
        stats: the content of stats.json (:func:`build_stats`).
        output_dir: where the run wrote, for the paths lines.
        elapsed_seconds: wall time of the run, for throughput.
        wet_bytes: decompressed WET bytes read; defaults to the ``input/bytes`` counter.
        outputs: what the run wrote, relative to ``output_dir`` (:func:`build_outputs` that
            exist); by default what ``stats`` says was written.
        masked: the content of ``masked/config.json`` (``c4 build --mask``): a row per split.
    """
    rec = stats["reconciliation"]
    width = 44
    rows: list[tuple[str, str]] = [("input records", _fmt_int(rec["input_records"]))]
    for name, split in stats["splits"].items():
        rows.append((f"kept: {name}", _fmt_int(split["documents"])))
    for reason, n in rec["dropped"].items():
        rows.append((f"dropped: {reason}", _fmt_int(n)))
    rows.append(("dead-lettered", _fmt_int(rec["dead_lettered"])))
    lost = rec.get("lost_bytes", 0)
    if lost:  # records balance, bytes did not all become records: say so beside the balance
        rows.append(("input bytes lost (see dead_letter/)", _fmt_int(lost)))
    balanced = "yes" if not lost else f"records yes; {_fmt_int(lost)} input bytes lost"
    rows.append(
        ("balanced", balanced if rec["balanced"] else f"NO ({rec['unaccounted']:+d} unaccounted)")
    )
    if wet_bytes is None:
        wet_bytes = stats["counters"].get(INPUT_BYTES)
    if elapsed_seconds:
        rows.append(("wall time", f"{elapsed_seconds:.1f} s"))
        if wet_bytes:
            rows.append(("throughput: WET", f"{wet_bytes / 1e6 / elapsed_seconds:.2f} MB/s"))
        rows.append(("throughput: records", f"{rec['input_records'] / elapsed_seconds:.1f} docs/s"))
    for split, made in sorted((masked or {}).get("splits", {}).items()):
        rows.append(
            (
                f"masked: {split}",
                f"{made['examples']:,} examples from {made['documents']:,} documents, "
                f"{made['shards']} shard(s)",
            )
        )
    key_width = max(width, *(len(k) for k, _ in rows))
    out = [f"C4 {stats['config']} {stats['c4_version']}"]
    out += [f"  {k.ljust(key_width)} {v}" for k, v in rows]
    if output_dir:
        base = output_dir.rstrip("/")
        out.append("outputs:")
        written = _written_by_stats(stats) if outputs is None else outputs
        out += [f"  {base}/{path}" for path in written]
    warning = empty_split_warning(stats)
    if warning:
        out.append(warning)
    return "\n".join(out) + "\n"
