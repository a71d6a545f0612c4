"""filters.local: the single-process composition accounts for every record, on hostile input too."""

from __future__ import annotations

import pytest

from filters.local import legacy_counters, load_resources, run_local
from filters.spec import resolve_rules
from filters.stats import reconcile
from tests.conftest import EDGE_WET, REAL_WET

PAIRS = [
    ("en", "3.1.0"),
    ("en", "2.2.0"),
    ("en", "1.0.0"),
    ("en.noclean", "3.1.0"),
    ("realnewslike", "3.1.0"),
    ("realnewslike", "2.2.0"),
]


@pytest.mark.parametrize(("config", "version"), PAIRS)
def test_every_record_is_accounted_for(config, version):
    rules = resolve_rules(config, version)
    paths = [str(p) for p in (*EDGE_WET, *REAL_WET)]
    res = run_local(paths, rules, resources=load_resources(rules))
    rec = reconcile(res.n_input_records, len(res.docs), res.dropped, len(res.dead_letters))
    assert rec["balanced"], rec
    keys = [(d["url"], d["split"]) for d in res.docs]
    assert keys == sorted(keys)
    assert all(d["text"] for d in res.docs)
    if version == "1.0.0":
        assert all(d["url"] == d["normalized_url"] and d["split"] == "train" for d in res.docs)
    else:
        assert all(d["url"] == d["raw_url"] for d in res.docs)


def test_edge_cases_dead_letter_instead_of_crashing():
    assert EDGE_WET, "edge-case WET samples are missing"
    rules = resolve_rules("en", "3.1.0")
    res = run_local([str(p) for p in EDGE_WET], rules)
    assert res.dead_letters, "the edge cases include unreadable input"
    assert all(d.stage and d.reason for d in res.dead_letters)


def test_legacy_counter_names():
    counters = {
        "split-wet-file/passed": 3,
        "too-long-filter/passed": 3,
        "clean-page/filtered:badword": 1,
        "dedupe-lines/line-filtered:global_duplicate": 2,
        "dedupe-lines/passed": 2,
        "english-filter/passed": 2,
        "train/examples": 2,
    }
    assert legacy_counters(counters, "2.2.0") == {
        "clean-page/filtered-page-badword": 1,
        "dedupe-lines/filtered-lines-duplicate": 2,
        "detected-lang/page-emited-en": 2,
        "is-valid-length/valid-length": 3,
        "split-wet-file/page-emitted": 3,
        "train/examples": 2,
    }
    assert legacy_counters(counters, "1.0.0")["emit-examples/emitted"] == 2
    assert legacy_counters(counters, "3.1.0") == counters


def test_early_exit_sentence_count_is_exact():
    """``at_least`` (stops after n sentences) answers exactly ``count(text) >= n``."""
    from filters.sentences import load_punkt
    from filters.wet import iter_wet_path

    rules = resolve_rules("en", "3.1.0")
    sentences = load_resources(rules).sentences
    punkt = load_punkt()
    texts = [
        p.text for path in REAL_WET for p in iter_wet_path(str(path), rules) if hasattr(p, "text")
    ]
    texts += ["", "One.", "Mr. Smith went. He sat.", "A b.\nC d.\nE f.", "e.g.\nthis is it."]
    for text in texts[:150]:
        for n in (1, 3, 5):
            assert sentences.at_least(text, n) == (punkt.count(text) >= n)
