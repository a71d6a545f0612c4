"""``filters.local.run_local`` against the TFDS reference harnesses, document by document.

For every real WET sample alone, all five together, and a 5 MB synthetic-from-real corpus
(benchmarks/corpus.py), for c4/en 3.1.0, 2.2.0 and 1.0.0: the same kept URLs, byte-identical text,
the same split and other features, and the same counters at every stage (ours renamed to the
legacy names for 2.2.0/1.0.0). Reference outputs are cached (tests/reference_runner.py); the first
run takes minutes, later runs seconds. A missing reference fails, naming ``make reference``.

en.noclean: the 3.1.0 harness builds ``c4/en`` only (``clean_page`` always runs; there is no
``--no-clean``), so en.noclean is compared on the stages it shares with en: WET parsing, the
length filter and URL dedup.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

from filters.local import LocalResult, legacy_counters, run_local
from filters.spec import resolve_rules
from filters.stats import reconcile
from tests.conftest import REAL_WET, REPO
from tests.reference_runner import ReferenceNotSetUp, ReferenceOutput, run_reference

pytestmark = pytest.mark.reference

VERSIONS = ("3.1.0", "2.2.0", "1.0.0")
CORPUS_MB = 5
CORPUS_SEED = 0


def reference(paths: list[Path], version: str) -> ReferenceOutput:
    try:
        return run_reference(paths, version)
    except ReferenceNotSetUp as e:
        pytest.fail(str(e))


def features(version: str) -> tuple[str, ...]:
    base = ("url", "text", "split")
    return base if version == "1.0.0" else (*base, "content-type", "content-length", "timestamp")


def nonzero(counters: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in sorted(counters.items()) if v}


def assert_same(ours: LocalResult, ref: ReferenceOutput, version: str) -> None:
    names = features(version)
    ours_docs = [{k: d[k] for k in names} for d in ours.docs]
    ref_docs = [{k: d[k] for k in names} for d in ref.records]
    assert [d["url"] for d in ours_docs] == [d["url"] for d in ref_docs]
    for o, r in zip(ours_docs, ref_docs, strict=True):
        assert o == r, f"document {r['url']} differs"
    assert nonzero(legacy_counters(ours.counters, version)) == nonzero(ref.stats["counters"])
    # Every record is accounted for.
    rec = reconcile(ours.n_input_records, len(ours.docs), ours.dropped, len(ours.dead_letters))
    assert rec["balanced"]


def test_real_samples_exist():
    assert len(REAL_WET) == 5, REAL_WET


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("wet", REAL_WET, ids=lambda p: p.name.split(".warc")[0])
def test_each_real_file(wet: Path, version: str):
    ours = run_local([str(wet)], resolve_rules("en", version))
    assert_same(ours, reference([wet], version), version)


@pytest.mark.parametrize("version", VERSIONS)
def test_all_real_files_together(version: str):
    ours = run_local([str(p) for p in REAL_WET], resolve_rules("en", version))
    assert ours.docs, "the real samples keep some documents"
    assert_same(ours, reference(list(REAL_WET), version), version)


SHARED_STAGES = ("split-wet-file/", "too-long-filter/", "duplicate-url-filter/")


def test_en_noclean_shares_the_first_stages():
    ours = run_local([str(p) for p in REAL_WET], resolve_rules("en.noclean", "3.1.0"))
    ref = reference(list(REAL_WET), "3.1.0")
    pick = lambda c: {k: v for k, v in nonzero(c).items() if k.startswith(SHARED_STAGES)}  # noqa: E731
    assert pick(ours.counters) == pick(ref.stats["counters"])
    # No cleaning and no text dedup, but langdetect and the split still run.
    assert not any(
        k.startswith(("clean-page/", "dedupe-lines/", "badwords")) for k in ours.counters
    )
    assert ours.counters["english-filter/passed"] == len(ours.docs)
    assert len(ours.docs) > 65  # more than en keeps: nothing was cleaned away


@pytest.fixture(scope="module")
def corpus() -> Path:
    sys.path.insert(0, str(REPO))
    from benchmarks.corpus import write_corpus

    code = hashlib.sha256((REPO / "benchmarks" / "corpus.py").read_bytes()).hexdigest()[:12]
    path = REPO / ".cache" / "corpus" / f"corpus-{CORPUS_MB}mb-seed{CORPUS_SEED}-{code}.warc.wet.gz"
    if not path.is_file():
        write_corpus(path, CORPUS_MB, CORPUS_SEED)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("version", VERSIONS)
def test_synthetic_corpus(corpus: Path, version: str):
    ours = run_local([str(corpus)], resolve_rules("en", version))
    assert len(ours.docs) > 100
    assert_same(ours, reference([corpus], version), version)
