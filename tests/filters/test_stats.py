"""filters.stats: the record balance stats.json reports."""

from __future__ import annotations

import pytest

from filters.stats import ReconciliationError, reconcile, split_summary, stats_document


def test_balanced():
    rec = reconcile(
        10,
        4,
        {("clean-page", "filtered:too_few_sentences"): 3, ("split-wet-file", "filtered:no_url"): 1},
        2,
    )
    assert rec["balanced"] and rec["unaccounted"] == 0
    assert rec["dropped"] == {
        "clean-page/filtered:too_few_sentences": 3,
        "split-wet-file/filtered:no_url": 1,
    }
    assert rec["dropped_total"] == 4


def test_imbalance_raises_or_is_flagged():
    with pytest.raises(ReconciliationError, match=r"\+1 unaccounted"):
        reconcile(10, 4, {"clean-page/filtered:empty": 3}, 2)
    rec = reconcile(10, 4, {"clean-page/filtered:empty": 3}, 2, strict=False)
    assert not rec["balanced"] and rec["unaccounted"] == 1
    with pytest.raises(ReconciliationError):
        reconcile(1, -1, {}, 2)


def test_stats_document_shape():
    docs = [{"split": "train", "text": "é"}, {"split": "validation", "text": "ab"}]
    splits = split_summary(docs)
    assert splits == {
        "train": {"documents": 1, "text_bytes": 2},
        "validation": {"documents": 1, "text_bytes": 2},
    }
    doc = stats_document("en", "3.1.0", reconcile(2, 2, {}, 0), {"b/x": 1, "a/y": 2}, splits)
    assert list(doc["counters"]) == ["a/y", "b/x"]
    assert doc["reconciliation"]["balanced"] and doc["c4_version"] == "3.1.0"
