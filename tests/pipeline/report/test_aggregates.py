"""The report's aggregates against counts made directly from the build's outputs and inputs.

One real build of every WET sample (``c4 build``); every aggregate is recounted here from the
Parquet and lineage files (pyarrow), the WET files (the reader alone) and stats.json, never
through the report's own code. A build made without the report, recomputed from its outputs
(``c4 report``'s Beam job), must give the same numbers where the outputs hold them.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from filters.records import Page
from filters.spec import resolve_rules
from filters.wet import iter_wet
from pipeline.report.recompute import recompute
from tests.conftest import EDGE_WET, REAL_WET
from tests.pipeline.report.fixtures import (
    build,
    documents,
    lineage_rows,
    read_json,
    recount_top,
)

SAMPLE = 300  # pages in each length sample (filters.report.LIMITS)
EDGES = {
    "chars": [0, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000, 200000],
    "words": [0, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000],
    "lines": [0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000],
}


def _key(value: str) -> bytes:
    return hashlib.blake2b(value.encode("utf-8"), digest_size=8).digest()


def _sizes(text: str) -> dict[str, int]:
    return {"chars": len(text), "words": len(text.split()), "lines": text.count("\n") + 1}


def _hist(values: list[int], edges: list[int]) -> list[int]:
    counts = [0] * len(edges)
    for v in values:
        counts[max(i for i, e in enumerate(edges) if e <= v)] += 1
    return counts


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("agg") / "out")


@pytest.fixture(scope="module")
def aggregates(built: Path) -> dict[str, Any]:
    found: dict[str, Any] = read_json(built / "report" / "aggregates.json")
    assert found["source"] == "build"
    return found


def test_domains_and_tlds_are_the_lineage_recounted(
    built: Path, aggregates: dict[str, Any]
) -> None:
    domains = [r["domain"] or "(none)" for r in lineage_rows(built)]
    assert len(domains) > 50
    assert aggregates["domains"] == recount_top(domains, 100)
    tlds = [d.rpartition(".")[2] if d != "(none)" else "(none)" for d in domains]
    assert aggregates["tlds"] == recount_top(tlds, 50)


def test_document_sample_is_the_smallest_url_keys(built: Path, aggregates: dict[str, Any]) -> None:
    docs = sorted(documents(built), key=lambda d: _key(d["url"]))
    listed = aggregates["documents"]
    assert len(listed) == min(200, len(docs))
    assert aggregates["documents_complete"] == (len(docs) <= 200)
    for doc, got in zip(docs, listed, strict=False):
        assert got["key"] == _key(doc["url"]).hex()
        for field in ("url", "split", "doc_id", "source_file", "record_offset"):
            assert got[field] == doc[field], field
        assert {f: got[f] for f in ("chars", "words", "lines")} == _sizes(doc["text"])
        assert doc["text"].startswith(got["excerpt"].split(" ")[0])


def test_lengths_after_cleaning_are_the_samples(built: Path, aggregates: dict[str, Any]) -> None:
    sample = sorted(documents(built), key=lambda d: _key(d["url"]))[:SAMPLE]
    after = aggregates["lengths"]["after"]
    assert after["sample"] == len(sample)
    for field, edges in EDGES.items():
        values = [_sizes(d["text"])[field] for d in sample]
        assert after[field]["edges"] == edges
        assert after[field]["counts"] == _hist(values, edges), field
        assert after[field]["mean"] == round(sum(values) / len(values), 1)


def test_lengths_before_cleaning_are_the_raw_pages_sample(aggregates: dict[str, Any]) -> None:
    rules = resolve_rules("en", "3.1.0")
    pages: list[Page] = []
    for index, path in enumerate(REAL_WET):
        with open(path, "rb") as stream:
            pages += [r for r in iter_wet(stream, path.name, rules, index) if isinstance(r, Page)]
    sample = sorted(pages, key=lambda p: (_key(p.doc_id), p.doc_id))[:SAMPLE]
    before = aggregates["lengths"]["before"]
    assert before["sample"] == len(sample) > 100
    for field, edges in EDGES.items():
        values = [_sizes(p.text)[field] if p.text else 0 for p in sample]
        assert before[field]["counts"] == _hist(values, edges), field


def test_languages_agree_with_the_english_filter_counters(
    built: Path, aggregates: dict[str, Any]
) -> None:
    counters = read_json(built / "stats.json")["counters"]
    langs, unsure = dict(aggregates["languages"]), dict(aggregates["languages_unsure"])
    entering = sum(
        n for k, n in counters.items()
        if k.startswith("english-filter/") and (k.endswith("/passed") or "filtered:" in k)
        and "ignored_language-" not in k
    )  # fmt: skip
    assert sum(langs.values()) == entering
    assert langs["en"] - unsure.get("en", 0) == counters["english-filter/passed"]
    assert sum(unsure.values()) == counters.get("english-filter/filtered:low_confidence", 0)
    others = [lang for lang in langs if lang not in ("en", "")]
    assert others, "the samples hold pages in other languages"
    for lang in others:
        ignored = counters.get(f"english-filter/filtered:ignored_language-{lang}", 0)
        assert langs[lang] - unsure.get(lang, 0) == ignored, lang


def test_dropped_domains_cover_every_reason(built: Path, aggregates: dict[str, Any]) -> None:
    stats = read_json(built / "stats.json")
    dropped = aggregates["dropped_domains"]
    assert set(dropped) == set(stats["reconciliation"]["dropped"])
    for reason, n in stats["reconciliation"]["dropped"].items():
        total = sum(count for _, count in dropped[reason])
        assert total == n if len(dropped[reason]) < 10 else total <= n, reason
        counts = [count for _, count in dropped[reason]]
        assert counts == sorted(counts, reverse=True)


def test_pages_touched_by_line_dedup(built: Path, aggregates: dict[str, Any]) -> None:
    counters = read_json(built / "stats.json")["counters"]
    touched = aggregates["touched"]["dedupe-lines"]
    removed = sum(n for k, n in counters.items() if k.startswith("dedupe-lines/line-filtered:"))
    assert 0 < touched <= min(removed, counters["dedupe-lines/passed"])


def test_dead_letters_per_stage_and_reason(tmp_path: Path) -> None:
    from pipeline.cli import main

    out = tmp_path / "edge"
    assert main(["build", "--input", *map(str, EDGE_WET), "--output", str(out)]) == 0
    stats = read_json(out / "stats.json")
    tallied = read_json(out / "report" / "aggregates.json")["dead_letters"]
    per_stage: Counter[str] = Counter()
    for stage, _, n in tallied:
        per_stage[stage] += n
    assert per_stage and dict(per_stage) == stats["dead_letters"]
    letters = [
        line for path in sorted((out / "dead_letter").glob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]  # fmt: skip
    assert sum(per_stage.values()) == len(letters)


def test_recomputed_from_outputs_equals_the_builds(
    tmp_path: Path, built: Path, aggregates: dict[str, Any]
) -> None:
    old = build(tmp_path / "old", report=False)
    assert not (old / "report.html").exists() and not (old / "report").exists()
    again = recompute(str(old), read_json(old / "stats.json"), read_json(old / "config.json"))
    assert again["source"] == "outputs"
    for field in ("domains", "tlds", "documents", "documents_complete", "dead_letters"):
        assert again[field] == aggregates[field], field
    assert again["lengths"]["after"] == aggregates["lengths"]["after"]
    for field in ("dropped_domains", "languages", "languages_unsure", "touched"):
        assert again[field] is None, field
    assert again["lengths"]["before"] is None
