"""pipeline/transforms/common.py: a page a stage fails on becomes a dead letter, never a crash."""

from __future__ import annotations

from filters.records import DeadLetter, Page
from filters.spec import resolve_rules
from filters.wet import iter_wet_path
from pipeline.transforms.clean import _CleanFn
from pipeline.transforms.common import PageStageFn, prefixed
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


def test_a_stage_emits_its_counters_then_its_page() -> None:
    fn = _CleanFn(resolve_rules())
    fn.setup()
    out = list(fn.process(_first_page()))
    counters = [x for x in out if isinstance(x, dict)]
    assert len(counters) == 1
    assert all(k.startswith("clean-page/") for k in counters[0])


def test_prefixed_keeps_namespaced_names_and_drops_zeros() -> None:
    assert prefixed("ns", {"passed": 1, "other/x": 2, "zero": 0}) == {"ns/passed": 1, "other/x": 2}
