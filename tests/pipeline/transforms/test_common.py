"""pipeline/transforms/common.py: a page a stage fails on becomes a dead letter, never a crash."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from filters.records import DeadLetter, Page
from filters.spec import resolve_rules
from filters.wet import iter_wet_path
from pipeline.transforms.clean import _CleanFn
from pipeline.transforms.common import PageStageFn, Pending, _merged, prefixed
from pipeline.transforms.length import _LengthFn
from tests.conftest import REAL_WET


def _first_page() -> Page:
    path = next(p for p in REAL_WET if "excerpt-25" in p.name)
    return next(x for x in iter_wet_path(str(path), resolve_rules()) if isinstance(x, Page))


class _Exploding(PageStageFn):
    stage = "exploding-stage"

    def decide(self, page: Page) -> tuple[Page | None, dict[str, int]]:
        raise ValueError("boom " + page.url)


def test_a_failing_page_is_dead_lettered_with_its_provenance() -> None:
    page = _first_page()
    (out,) = list(_Exploding().process(page))
    assert isinstance(out, DeadLetter)
    assert (out.stage, out.source_file, out.record_offset) == (
        "exploding-stage",
        page.source_file,
        page.record_offset,
    )
    assert out.reason.startswith("ValueError: boom")
    assert out.excerpt == page.text[:200]


def test_a_stage_counts_per_bundle_and_emits_one_dict_at_its_end() -> None:
    fn = _LengthFn()
    fn.start_bundle()
    page = _first_page()
    out = [x for _ in range(3) for x in fn.process(page)]
    assert out == [page, page, page]
    (counters,) = [w.value for w in fn.finish_bundle()]
    assert counters == {"too-long-filter/passed": 3}
    assert list(fn.finish_bundle()) == []


def test_other_items_pass_through_a_stage() -> None:
    fn = _LengthFn()
    dead = DeadLetter("s", "f", 0, "r")
    assert list(fn.process(dead)) == [dead]
    assert list(fn.process({"a/b": 1})) == [{"a/b": 1}]


def test_a_provisional_stage_records_its_decision_for_dedup_urls_to_settle() -> None:
    fn = _CleanFn(resolve_rules())
    fn.setup()
    fn.start_bundle()
    page = _first_page()
    (pending,) = list(fn.process(page))
    assert isinstance(pending, Pending)
    assert pending.page.doc_id == page.doc_id
    assert all(k.startswith("clean-page/") for k, _ in pending.counters)
    assert list(fn.finish_bundle()) == []  # nothing counted until DedupUrls keeps this copy
    dropped = pending._replace(keep=False)
    assert list(fn.process(dropped)) == [dropped]


def test_prefixed_keeps_namespaced_names_and_drops_zeros() -> None:
    assert prefixed("ns", {"passed": 1, "other/x": 2, "zero": 0}) == {"ns/passed": 1, "other/x": 2}


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(st.sampled_from("abcdef"), st.integers(-3, 5)),
    st.dictionaries(st.sampled_from("abcdefg"), st.integers(-3, 5)),
)
def test_pending_counters_merge_as_counters_add(before: dict[str, int], more: dict[str, int]):
    counters = tuple(before.items())
    assert _merged(counters, more) == tuple((Counter(dict(counters)) + Counter(more)).items())
