"""pipeline/transforms/url_dedup.py: the kept copy of a URL is settled, and when text dedup
follows it leaves with the packed bytes it crossed the shuffle as, which DedupText ships on."""

from __future__ import annotations

from filters import dedup
from filters.records import DeadLetter, Page
from filters.spec import resolve_rules
from filters.wet import iter_wet_path
from pipeline.transforms import vote_rows
from pipeline.transforms.common import Pending, Settled
from pipeline.transforms.dedup import _ApplyFn, _by_page_bucket, _KeysFn
from pipeline.transforms.packing import pack, unpack
from pipeline.transforms.url_dedup import _SettleFn
from tests.conftest import REAL_WET

RULES = resolve_rules("en", "3.1.0")


def _first_page() -> Page:
    path = next(p for p in REAL_WET if "excerpt-25" in p.name)
    return next(x for x in iter_wet_path(str(path), RULES) if isinstance(x, Page))


def _settle(copy: Page | Pending, keep_packed: bool) -> tuple[list[object], bytes]:
    packed = pack(copy)
    fn = _SettleFn(keep_packed=keep_packed)
    fn.start_bundle()
    out = list(fn.process(("url", (("rank", 0, 0), packed, 2))))
    return out, packed


def test_a_kept_pending_copy_leaves_as_settled_with_its_packed_bytes() -> None:
    page = _first_page()
    (out,), packed = _settle(Pending(page, (("clean/passed", 1),)), keep_packed=True)
    assert isinstance(out, Settled)
    assert out.page == page
    assert out.packed is packed
    assert unpack(out.packed).page == page


def test_without_text_dedup_the_kept_copy_leaves_as_a_page() -> None:
    page = _first_page()
    assert _settle(Pending(page), keep_packed=False)[0] == [page]
    assert _settle(page, keep_packed=False)[0] == [page]


def test_a_dropped_or_failed_copy_leaves_nothing_or_its_dead_letter() -> None:
    page = _first_page()
    assert _settle(Pending(page._replace(text=""), keep=False), keep_packed=True)[0] == []
    dead = DeadLetter("clean", page.source_file, page.record_offset, "boom", "")
    out, _ = _settle(Pending(page, keep=False, dead=dead), keep_packed=True)
    assert out == [dead]


def test_dedup_text_ships_the_settled_bytes_and_applies_to_the_page_inside() -> None:
    page = _first_page()
    (settled,), packed = _settle(Pending(page), keep_packed=True)
    bucket, (owner, shipped) = _by_page_bucket(RULES, 8)(settled)
    assert shipped is packed  # not packed a second time
    assert (bucket, (owner, unpack(pack(page)))) == (
        _by_page_bucket(RULES, 8)(page)[0],
        (dedup.owner_digest(page, RULES), page),
    )

    keys = _KeysFn(RULES, 8)
    keys.setup()
    keys.start_bundle()
    list(keys.process(settled))
    assert len(keys._keys) == len(set(dedup.page_line_hashes(page.text, RULES)))

    # Every key of the page kept: a settled Pending and a plain Page give the same result.
    rows = vote_rows.merge(vote_rows.rows_of(keys._keys, keys._owners, keys._counts))
    ((kept_bucket, kept),) = vote_rows.kept_by_bucket(rows, False, 8)
    assert kept_bucket == bucket
    apply = _ApplyFn(RULES)
    apply.setup()
    results = []
    for shipped_copy in (packed, pack(page)):
        apply.start_bundle()
        item = (bucket, {"page": [(owner, shipped_copy)], "kept": [kept]})
        results.append([x for x in apply.process(item) if isinstance(x, Page)])
    assert results[0] == results[1] != []
