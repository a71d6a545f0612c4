"""pipeline.summary: counters, reconciliation, stats.json, config.json, DATA_CARD.md, the table.

The counters are real: ``filters.local.run_local`` builds C4 en 3.1.0 from the real WET
samples, and its explicit drop list is what our counter-based reconciliation must find.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from filters.local import LocalResult, run_local
from filters.spec import UsageError, resolve_rules
from pipeline import summary
from pipeline.config import check_output_dir
from pipeline.runners import PATCHED_BEAM_VERSION
from tests.conftest import REAL_WET


@pytest.fixture(scope="module")
def local() -> LocalResult:
    return run_local([str(p) for p in REAL_WET], resolve_rules("en", "3.1.0"))


@pytest.fixture(scope="module")
def counters(local: LocalResult) -> dict[str, int]:
    # The Beam reader counts every WARC record it reads as input/records.
    return {**local.counters, summary.INPUT_RECORDS: local.n_input_records}


def splits_of(local: LocalResult) -> list[summary.SplitWritten]:
    by_split: dict[str, list[dict]] = {}
    for doc in local.docs:
        by_split.setdefault(doc["split"], []).append(doc)
    return [
        summary.SplitWritten(
            name,
            (len(docs),),
            num_bytes=10 * len(docs),
            text_bytes=sum(len(d["text"].encode()) for d in docs),
        )
        for name, docs in sorted(by_split.items())
    ]


def test_sum_counters_adds_and_sorts() -> None:
    total = summary.sum_counters([{"b/x": 1, "a/y": 2}, {"b/x": 3}, {}])
    assert total == {"a/y": 2, "b/x": 4}
    assert list(total) == ["a/y", "b/x"]


@pytest.mark.parametrize(
    ("name", "is_drop"),
    [
        ("clean-page/filtered:too_few_sentences", True),
        ("too-long-filter/filtered", True),
        ("duplicate-url-filter/filtered", True),
        ("split-wet-file/filtered:no_url", True),
        ("badwords-filter/filtered", True),
        ("english-filter/filtered:ignored_language", True),
        ("english-filter/filtered:low_confidence", True),
        ("language-filter/filtered:ignored_language", True),
        # mC4 keeps these pages (as und) after counting them.
        ("language-filter/filtered:no_predictions", False),
        ("language-filter/filtered:low_confidence", False),
        # Aliases TFDS counts next to the ones above: the same pages again.
        ("badwords-filter-en/filtered", False),
        ("english-filter/filtered:ignored_language-de", False),
        # Lines, passes and bookkeeping are not page drops.
        ("clean-page/line-filtered:no_endmark", False),
        ("clean-page/passed", False),
        ("badwords-filter/soft-passed", False),
        ("split-wet-file/wet-file", False),
        ("train/examples", False),
        ("input/records", False),
        ("filtered", False),
    ],
)
def test_is_drop_counter(name: str, is_drop: bool) -> None:
    assert summary.is_drop_counter(name) is is_drop


def test_drop_counters_match_the_local_builds_drop_list(
    local: LocalResult, counters: dict[str, int]
) -> None:
    explicit = {f"{stage}/{reason}": n for (stage, reason), n in local.dropped.items() if n}
    assert summary.dropped_by_reason(counters) == dict(sorted(explicit.items()))


def test_reconcile_balances_on_a_real_build(local: LocalResult, counters: dict[str, int]) -> None:
    rec = summary.reconcile(counters, kept=len(local.docs), dead_lettered=len(local.dead_letters))
    assert rec["balanced"] is True and rec["unaccounted"] == 0
    assert rec["input_records"] == local.n_input_records
    assert rec["kept"] + rec["dropped_total"] + rec["dead_lettered"] == rec["input_records"]


def test_a_lost_document_fails_loudly(local: LocalResult, counters: dict[str, int]) -> None:
    splits = splits_of(local)
    short = [s._replace(shard_lengths=(s.documents - 1,)) for s in splits[:1]] + splits[1:]
    stats = summary.build_stats("en", "3.1.0", counters, short, {})
    assert stats["reconciliation"]["balanced"] is False
    assert stats["reconciliation"]["unaccounted"] == 1
    with pytest.raises(summary.ReconciliationError, match=r"\+1 unaccounted"):
        summary.check_balanced(stats)


def test_missing_input_counter_does_not_balance(local: LocalResult) -> None:
    stats = summary.build_stats("en", "3.1.0", local.counters, splits_of(local), {})
    with pytest.raises(summary.ReconciliationError):
        summary.check_balanced(stats)


def test_build_stats_shape(local: LocalResult, counters: dict[str, int]) -> None:
    stats = summary.build_stats("en", "3.1.0", counters, splits_of(local), {"read": 0})
    assert set(stats) == {
        "schema_version",
        "config",
        "c4_version",
        "splits",
        "reconciliation",
        "counters",
        "dead_letters",
    }
    assert stats["counters"] == dict(sorted(counters.items()))
    train = stats["splits"]["train"]
    assert train["documents"] == len(local.docs) and train["shard_lengths"] == [len(local.docs)]
    assert train["num_shards"] == 1 and train["text_bytes"] > train["documents"]
    summary.check_balanced(stats)  # does not raise


def test_json_text_is_order_independent() -> None:
    a = summary.json_text({"b": 1, "a": {"d": 2, "c": "é"}})
    b = summary.json_text({"a": {"c": "é", "d": 2}, "b": 1})
    assert a == b and a.endswith("}\n") and "é" in a


def test_config_json_keeps_the_resolved_keys_on_top(tmp_path: Path) -> None:
    resolved = {"config": "en", "c4_version": "2.2.0", "inputs": [{"path": "a.wet.gz"}]}
    doc = summary.build_config_json(resolved)
    assert doc["config"] == "en" and doc["inputs"] == resolved["inputs"]
    assert doc["versions"]["python"].count(".") == 2
    assert doc["versions"]["apache-beam"] == PATCHED_BEAM_VERSION
    assert "time" not in summary.json_text(doc).lower()
    # pipeline.config reads this file to refuse a DIR holding another build.
    (tmp_path / "config.json").write_text(summary.json_text(doc))
    check_output_dir(str(tmp_path), "en", "2.2.0")
    with pytest.raises(UsageError, match=r"already holds c4 en 2\.2\.0"):
        check_output_dir(str(tmp_path), "en", "3.1.0")


def test_data_card(local: LocalResult, counters: dict[str, int]) -> None:
    stats = summary.build_stats("en", "3.1.0", counters, splits_of(local), {})
    inputs = [f"crawl-data/CC-MAIN-2019-18/x/{i}.warc.wet.gz" for i in range(25)]
    card = summary.data_card(stats, inputs, max_inputs=20)
    assert card.startswith("# C4 `en` 3.1.0\n")
    assert "ODC-BY" in card and "Common Crawl Terms of Use" in card
    assert f"Input records: {local.n_input_records:,}" in card
    assert f"kept {len(local.docs):,}" in card
    assert "`crawl-data/CC-MAIN-2019-18/x/19.warc.wet.gz`" in card
    assert "`crawl-data/CC-MAIN-2019-18/x/20.warc.wet.gz`" not in card
    assert "... and 5 more" in card
    assert card == summary.data_card(stats, inputs, max_inputs=20)  # deterministic


def test_format_summary(local: LocalResult, counters: dict[str, int]) -> None:
    stats = summary.build_stats("en", "3.1.0", counters, splits_of(local), {"split-wet-file": 0})
    text = summary.format_summary(
        stats, output_dir="out/", elapsed_seconds=2.0, wet_bytes=4_000_000
    )
    lines = text.splitlines()
    assert lines[0] == "C4 en 3.1.0"
    assert any(line.split() == ["kept:", "train", f"{len(local.docs):,}"] for line in lines)
    assert any(
        line.split()[:2] == ["dropped:", "clean-page/filtered:too_few_sentences"] for line in lines
    )
    assert any(line.split() == ["dead-lettered", "0"] for line in lines)
    assert any(line.split() == ["balanced", "yes"] for line in lines)
    assert any(line.split() == ["throughput:", "WET", "2.00", "MB/s"] for line in lines)
    rate = f"{local.n_input_records / 2.0:.1f}"
    assert any(line.split() == ["throughput:", "records", rate, "docs/s"] for line in lines)
    assert "  out/c4/en/3.1.0/" in lines and "  out/stats.json" in lines


def test_format_summary_without_timing_and_unbalanced(local: LocalResult) -> None:
    stats = summary.build_stats("en", "3.1.0", local.counters, splits_of(local), {})
    text = summary.format_summary(stats)
    assert "MB/s" not in text and "outputs:" not in text
    assert "NO (" in text
    json.dumps(stats)  # stats stay JSON-serializable
