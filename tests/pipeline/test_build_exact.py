"""End to end on the real WET files: the Beam stages equal run_local and the TFDS references.

One pipeline per version over every real WET file of tests/data/wet (in sorted order, so
cross-file URL and line dedup are exercised too), compared document by document (url, text,
split and the other features) with ``filters.local.run_local`` and with the reference harness of
that version (``tests/reference_runner.py``), and counter by counter with run_local.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from filters.local import run_local
from filters.spec import resolve_rules
from pipeline.config import make_build_config
from tests.conftest import REAL_WET
from tests.pipeline.beam_harness import doc_rows, run_collections
from tests.reference_runner import run_reference

VERSIONS = ("3.1.0", "2.2.0", "1.0.0")


def _reference_rows(records: list[dict], version: str) -> list[dict]:
    keys = ("url", "text", "split") if version == "1.0.0" else None
    rows = [{k: r[k] for k in (keys or r.keys())} for r in records]
    return sorted(rows, key=lambda r: (r["url"], r["split"], r["text"]))


def _local_rows(docs: list[dict], version: str) -> list[dict]:
    keys = ["url", "text", "split"]
    if version != "1.0.0":
        keys += ["content-type", "content-length", "timestamp"]
    rows = [{k: d[k] for k in keys} for d in docs]
    return sorted(rows, key=lambda r: (r["url"], r["split"], r["text"]))


@pytest.mark.reference
@pytest.mark.slow
@pytest.mark.parametrize("version", VERSIONS)
def test_beam_equals_local_and_reference(version: str, tmp_path: Path) -> None:
    paths = [str(p) for p in REAL_WET]
    config = make_build_config(paths, str(tmp_path / "out"), c4_version=version)
    got = run_collections(config, tmp_path / "collected")
    rows = doc_rows(got.docs, version)
    assert rows, "no documents kept"

    local = run_local(paths, resolve_rules("en", version))
    assert rows == _local_rows(local.docs, version)
    beam_counters = {k: v for k, v in got.counters.items() if not k.startswith("input/")}
    # Zero-valued counters are noise (TFDS never reports a counter it did not increment).
    assert beam_counters == {k: v for k, v in local.counters.items() if v}
    assert got.counters["input/records"] == local.n_input_records
    assert len(got.dead_letters) == len(local.dead_letters)

    reference = run_reference(REAL_WET, version)
    assert rows == _reference_rows(reference.records, version)


@pytest.mark.slow
@pytest.mark.parametrize("config", ["realnewslike", "multilingual", "en.noclean"])
def test_other_configs_equal_run_local(config: str, tmp_path: Path) -> None:
    paths = [str(p) for p in REAL_WET if "excerpt-262" in p.name]
    cfg = make_build_config(paths, str(tmp_path / "out"), config=config)
    got = run_collections(cfg, tmp_path / "collected")
    local = run_local(paths, resolve_rules(config, "3.1.0"))
    beam_docs = sorted((s, p.url, p.text, p.language) for s, p in got.docs)
    local_docs = sorted((d["split"], d["url"], d["text"], d["language"]) for d in local.docs)
    assert beam_docs == local_docs
    # No RealNews domain in this crawl excerpt: that config checks the filter's counters only.
    assert beam_docs or config == "realnewslike"
    beam_counters = {k: v for k, v in got.counters.items() if not k.startswith("input/")}
    assert beam_counters == {k: v for k, v in local.counters.items() if v}


@pytest.mark.slow
@pytest.mark.parametrize("version", VERSIONS)
def test_cleaning_before_the_url_shuffle_counts_only_the_kept_copies(
    version: str, tmp_path: Path
) -> None:
    # A corpus made from real records, with re-spelled URLs (benchmarks/corpus.py): clean_page runs
    # on every copy before DedupUrls, and only the kept copy's decisions may count.
    from benchmarks.corpus import write_corpus

    corpus = tmp_path / "corpus.warc.wet.gz"
    write_corpus(corpus, 1.0, seed=3)
    config = make_build_config([str(corpus)], str(tmp_path / "out"), c4_version=version)
    got = run_collections(config, tmp_path / "collected")
    local = run_local([str(corpus)], resolve_rules("en", version))
    assert local.counters.get("duplicate-url-filter/filtered", 0) > 0  # copies were dropped
    assert doc_rows(got.docs, version) == _local_rows(local.docs, version)
    beam_counters = {k: v for k, v in got.counters.items() if not k.startswith("input/")}
    assert beam_counters == {k: v for k, v in local.counters.items() if v}
