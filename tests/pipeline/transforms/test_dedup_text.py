"""pipeline/transforms/dedup.py on a real runner: ``DedupText`` keeps what ``filters.local``
keeps, and hashes again only the pages that lose a line (``Whole`` tables, issue 19)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that

from filters import dedup, local
from filters.records import Page
from filters.sentences import load_punkt
from filters.spec import resolve_rules
from filters.urls import normalize_url
from pipeline.transforms.common import is_counters
from tests.pipeline.beam_harness import dump_to, load

SENTENCE = "This is a sentence with enough words in it."
SHARED = "Subscribe to our newsletter for more news today."


def _page(i: int, lines: list[str]) -> Page:
    url = f"http://site{i}.example/page"
    return Page(
        url=url,
        normalized_url=normalize_url(url),
        text="\n".join(lines),
        timestamp="",
        content_type="text/plain",
        content_length="1",
        doc_id=f"doc-{i}",
        source_file="f",
        record_offset=i,
    )


# Pages that lose nothing, pages that lose a shared line to a smaller owner, a page whose only
# lines are shared (emptied in 3.x), and one repeating a line of its own (3.x drops the repeat).
PAGES = [
    _page(0, [SENTENCE, "Unique zero one. Unique zero two. Unique zero three."]),
    _page(1, [SHARED, "Unique one one. Unique one two. Unique one three.", SENTENCE]),
    _page(2, [SHARED, "Unique two one. Unique two two. Unique two three."]),
    _page(3, [SHARED]),
    _page(
        4,
        ["Unique four. Again four. Once more four.", "Repeated line here.", "repeated LINE here."],
    ),
    _page(5, ["Unique five one. Unique five two. Unique five three."]),
]


@pytest.mark.parametrize("version", ["3.1.0", "2.2.0"])
def test_dedup_text_equals_local_and_hashes_only_the_pages_that_lose(
    version: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.transforms.dedup import DedupText

    rules = resolve_rules("en", version)
    expected_run = local._Run()
    expected = local.text_dedup(PAGES, rules, load_punkt(), expected_run)
    # The pages the apply step must hash again: those that do not own all their keys, and in 3.x
    # those repeating a line; the rest are known whole from the votes.
    hashes = [dedup.page_line_hashes(p.text, rules) for p in PAGES]
    winner: dict[bytes, bytes] = {}
    for page, keys in zip(PAGES, hashes, strict=True):
        owner = dedup.owner_digest(page, rules)
        for key in keys:
            winner[key] = min(winner.get(key, owner), owner)
    changed = sum(
        1
        for page, keys in zip(PAGES, hashes, strict=True)
        if any(winner[k] != dedup.owner_digest(page, rules) for k in keys)
        or not dedup.whole_if_owned(len(keys), len(set(keys)), rules)
    )
    calls: Counter[str] = Counter()
    hash_lines = dedup.page_line_hashes

    def counting(text: str, rules_: Any) -> list[bytes]:
        calls["hashes"] += 1
        return hash_lines(text, rules_)

    monkeypatch.setattr(dedup, "page_line_hashes", counting)
    pages_out, side_out = tmp_path / "pages.pkl", tmp_path / "side.pkl"
    with beam.Pipeline() as p:
        pages, side = p | beam.Create(PAGES) | DedupText(rules, buckets=3)
        assert_that(pages, dump_to(pages_out), label="Pages")
        assert_that(side, dump_to(side_out), label="Side")
    kept = sorted((x for x in load(pages_out) if isinstance(x, Page)), key=lambda x: x.doc_id)
    assert kept == sorted(expected, key=lambda page: page.doc_id)
    counters: Counter[str] = Counter()
    for item in load(side_out) + load(pages_out):
        if is_counters(item):
            counters.update(item)
    beam_counters = {k: v for k, v in counters.items() if k.startswith(dedup.LINES_NAMESPACE)}
    assert beam_counters == {
        k: v for k, v in expected_run.counters.items() if k.startswith(dedup.LINES_NAMESPACE) and v
    }
    assert 0 < changed < len(PAGES)
    assert calls["hashes"] == len(PAGES) + changed
