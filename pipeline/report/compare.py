"""``c4 report --compare``: what differs between two builds, from their aggregates alone. Pure.

The charts are laid over each other by ``pipeline.report.model``; here are the table of the
differences (every counter, the documents per split, the top domains and languages) and the
documents present in one build only. The latter come from the two coordinated samples
(``filters.report.only_in``): bounded, and exact where the samples overlap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from filters import report as rules
from pipeline.report.model import Section, Table, count, language_counts

ONLY_IN_SHOWN = 10
NO_DROP_RECORD = "drops were not recorded"


def _signed(n: int) -> str:
    return f"{n:+,}" if n else "0"


def _diff_rows(label: str, a: Mapping[str, int], b: Mapping[str, int]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for key in sorted(set(a) | set(b)):
        x, y = int(a.get(key, 0)), int(b.get(key, 0))
        if x != y:
            rows.append((label, key, count(x), count(y), _signed(y - x)))
    return rows


def differences(a: Any, b: Any) -> Table:
    """Every aggregate that differs: counters, documents per split, top domains, languages."""
    rows: list[tuple[str, ...]] = []
    docs = {
        name: {k: int(s["documents"]) for k, s in f.stats.get("splits", {}).items()}
        for name, f in (("a", a), ("b", b))
    }
    rows += _diff_rows("documents", docs["a"], docs["b"])
    rows += _diff_rows("counter", a.stats.get("counters", {}), b.stats.get("counters", {}))
    rows += _diff_rows(
        "dead letters", a.stats.get("dead_letters", {}), b.stats.get("dead_letters", {})
    )
    for what, key, limit in (("domain", "domains", rules.LIMITS[rules.DOMAIN]),
                             ("TLD", "tlds", rules.LIMITS[rules.TLD])):  # fmt: skip
        top_a = dict((a.aggregates or {}).get(key) or [])
        top_b = dict((b.aggregates or {}).get(key) or [])
        # A name missing from a full top list may just rank below it: not a 0.
        known = {
            name for name in set(top_a) | set(top_b)
            if (name in top_a or len(top_a) < limit) and (name in top_b or len(top_b) < limit)
        }  # fmt: skip
        rows += _diff_rows(
            f"{what} (top {limit})",
            {n: c for n, c in top_a.items() if n in known},
            {n: c for n, c in top_b.items() if n in known},
        )
    rows += _diff_rows("language", dict(language_counts(a)[0]), dict(language_counts(b)[0]))
    if not rows:
        rows = [("", "no difference in the aggregates", "", "", "")]
    return Table("Differences in the aggregates", ("what", "name", "A", "B", "B − A"), tuple(rows))


def only_in(ours: Any, theirs: Any) -> list[Mapping[str, Any]]:
    """Documents of our sample that the other build does not hold (bounded, exact)."""
    mine = (ours.aggregates or {}).get("documents") or []
    other = theirs.aggregates or {}
    return rules.only_in(mine, other.get("documents") or [], bool(other.get("documents_complete")))


def only_in_table(ours: Any, theirs: Any, name: str, other: str) -> Table:
    docs = only_in(ours, theirs)[:ONLY_IN_SHOWN]
    rows = tuple(
        (d["url"], d["split"], count(d["words"]), NO_DROP_RECORD, d["excerpt"]) for d in docs
    )
    if not rows:
        rows = (("none in the sample", "", "", "", ""),)
    return Table(
        f"Documents in {name} only (not in {other})",
        ("url", "split", "words", f"why not in {other}", "text (start)"),
        rows,
    )


def compare_sections(builds: Sequence[Any], names: Sequence[str]) -> list[Section]:
    """The two sections a comparison adds before the overlaid charts."""
    a, b = builds
    return [
        Section(
            "differences",
            "Differences",
            f"{names[0]} (A) against {names[1]} (B): every aggregate that differs.",
            (),
            (differences(a, b),),
        ),
        Section(
            "only-in",
            "Documents present in one build only",
            f"From the two builds' coordinated samples (the {rules.DOCUMENT_SAMPLE} kept documents "
            "with the smallest BLAKE2b keys of their url, in each): a document listed here is "
            "certainly missing from the other build. Why it is missing would need a record of "
            f"the other build's drops: {NO_DROP_RECORD}.",
            (),
            (only_in_table(a, b, "A", "B"), only_in_table(b, a, "B", "A")),
        ),
    ]
