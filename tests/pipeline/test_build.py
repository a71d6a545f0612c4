"""build_collections: stage order per version, the C4Collections contract, nothing lost.

Real input only (tests/data/wet), on the DirectRunner.
"""

from __future__ import annotations

from pathlib import Path

import apache_beam as beam
import pytest

from filters.records import DeadLetter, Page
from pipeline.build import C4Collections, build_collections, stage_labels
from pipeline.config import make_build_config
from tests.conftest import EDGE_WET, REAL_WET
from tests.pipeline.beam_harness import run_collections

SAMPLE = [str(p) for p in REAL_WET if "excerpt-25" in p.name]

EXPECTED_STAGES = {
    ("en", "3.1.0"): [
        "ReadWet",
        "FilterLength",
        "CleanPages",
        "DedupUrls",
        "DedupText",
        "FilterLanguage",
        "FilterBadwords",
        "SplitByUrl",
    ],
    ("en", "2.2.0"): [
        "ReadWet",
        "FilterLength",
        "CleanPages",
        "DedupUrls",
        "DedupText",
        "FilterLanguage",
        "SplitByUrl",
    ],
    ("en", "1.0.0"): [
        "ReadWet",
        "FilterLength",
        "CleanPages",
        "DedupUrls",
        "DedupText",
        "FilterLanguage",
        "SplitByUrl",
    ],
    ("en.noclean", "3.1.0"): [
        "ReadWet",
        "FilterLength",
        "DedupUrls",
        "FilterLanguage",
        "SplitByUrl",
    ],
    ("realnewslike", "2.2.0"): [
        "ReadWet",
        "FilterLength",
        "FilterRealnews",
        "CleanPages",
        "DedupUrls",
        "DedupText",
        "FilterLanguage",
        "SplitByUrl",
    ],
    ("multilingual", "3.1.0"): [
        "ReadWet",
        "FilterLength",
        "FilterParagraphs",
        "DedupUrls",
        "DedupText",
        "FilterLanguage",
        "FilterBadwords",
        "SplitByUrl",
    ],
}


@pytest.mark.parametrize(("config", "version"), sorted(EXPECTED_STAGES))
def test_stages_in_the_versions_order(tmp_path: Path, config: str, version: str) -> None:
    cfg = make_build_config(SAMPLE, str(tmp_path / "o"), config=config, c4_version=version)
    expected = EXPECTED_STAGES[(config, version)]
    assert stage_labels(cfg) == expected
    p = beam.Pipeline()
    collections = build_collections(p, cfg)
    assert isinstance(collections, C4Collections)
    top = [t.full_label for t in p.transforms_stack[0].parts]
    assert [label for label in top if label in expected] == expected


def _balance(got: object) -> None:
    """input records = kept + pages dropped (once each) + dead-lettered."""
    from pipeline.summary import dropped_by_reason

    counters = got.counters  # type: ignore[attr-defined]
    dropped = sum(dropped_by_reason(counters).values())
    kept = len(got.docs)  # type: ignore[attr-defined]
    dead = len(got.dead_letters)  # type: ignore[attr-defined]
    assert counters["input/records"] == kept + dropped + dead, (counters, kept, dead)


@pytest.mark.parametrize("version", ["3.1.0", "2.2.0", "1.0.0"])
def test_collections_contract_and_reconciliation(tmp_path: Path, version: str) -> None:
    cfg = make_build_config(SAMPLE, str(tmp_path / "o"), c4_version=version)
    got = run_collections(cfg, tmp_path / "c")
    assert got.docs
    for split, page in got.docs:
        assert isinstance(page, Page)
        assert page.language == "en"
        assert split in (("train", "validation") if version != "1.0.0" else ("train",))
        assert page.source_file == Path(SAMPLE[0]).name
    assert got.counters["input/records"] == 26
    assert got.counters["split-wet-file/wet-file"] == 1
    assert got.counters["input/bytes"] > 0
    _balance(got)


def test_broken_files_are_dead_lettered_and_still_balance(tmp_path: Path) -> None:
    cfg = make_build_config([str(p) for p in EDGE_WET], str(tmp_path / "o"))
    got = run_collections(cfg, tmp_path / "c")
    assert got.dead_letters, "the edge cases include truncated and corrupt gzip"
    assert all(isinstance(d, DeadLetter) for d in got.dead_letters)
    assert got.counters["split-wet-file/wet-file"] == len(EDGE_WET)
    _balance(got)


def test_unreadable_input_is_a_dead_letter_not_a_crash(tmp_path: Path) -> None:
    gone = tmp_path / "gone.warc.wet.gz"
    gone.write_bytes(Path(SAMPLE[0]).read_bytes())
    cfg = make_build_config([str(gone), SAMPLE[0]], str(tmp_path / "o"))
    gone.unlink()  # vanished between planning and reading
    got = run_collections(cfg, tmp_path / "c")
    assert [d.reason.split(":")[0] for d in got.dead_letters] == ["unreadable"]
    assert len(got.docs) == 14
    _balance(got)


def test_counters_are_also_beam_metrics(tmp_path: Path) -> None:
    from apache_beam.metrics.metric import MetricsFilter

    cfg = make_build_config(SAMPLE, str(tmp_path / "o"))
    p = beam.Pipeline()
    _ = build_collections(p, cfg)
    result = p.run()
    result.wait_until_finish()
    found = result.metrics().query(MetricsFilter().with_namespace("clean-page").with_name("passed"))
    assert sum(c.committed for c in found["counters"]) == 17
