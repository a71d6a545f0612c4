"""The forget ledger's format and what it blocks at ingest (``filters/ledger.py``)."""

from __future__ import annotations

import json

import pytest

from filters.ledger import (
    KEYS,
    LedgerBlock,
    LedgerError,
    ledger_text,
    missing,
    parse_ledger,
    url_key_sha256,
)

PAGE = "http://www.example.com/a/page"


def test_a_forgotten_doc_ids_url_hash_blocks_its_page_under_any_id_and_url_form() -> None:
    block = LedgerBlock(url_sha256=frozenset({url_key_sha256(PAGE)}))
    assert block.reason("new-id", PAGE) == "forgotten doc_id's url"
    assert block.reason("other", "HTTPS://EXAMPLE.com/a/page/") == "forgotten doc_id's url"
    assert block.reason("other", "http://example.com/a/Page") == ""  # paths keep their case


def test_each_kind_of_entry_blocks() -> None:
    block = LedgerBlock(
        urls=frozenset({"example.org/x"}),
        domains=frozenset({"xn--bcher-kva.de"}),
        doc_ids=frozenset({"id-1"}),
    )
    assert block.reason("id-1", "http://anything.net/") == "doc_id"
    assert block.reason("id-2", "https://www.example.org/x") == "url"
    assert block.reason("id-2", "http://shop.BÜCHER.de/y") == "domain"
    assert block.reason("id-2", "http://example.org/y") == ""
    assert block.items == 3


def test_an_old_ledger_reads_and_the_text_is_stable() -> None:
    old = {"urls": ["example.org/x"], "domains": [], "doc_ids": ["b", "a"]}
    content = parse_ledger(json.dumps(old))
    assert set(content) == set(KEYS) and content["url_sha256"] == frozenset()
    text = ledger_text(content)
    assert json.loads(text)["doc_ids"] == ["a", "b"]
    assert ledger_text(parse_ledger(text)) == text


@pytest.mark.parametrize("text", ["{not json", "[]", '{"doc_ids": "a"}', '{"urls": [1]}'])
def test_a_file_that_is_not_a_ledger_is_refused(text: str) -> None:
    with pytest.raises(LedgerError):
        parse_ledger(text)


def test_missing_counts_what_the_other_lacks() -> None:
    ledger = {"domains": {"a.com", "b.com"}, "sha256": {"x"}}
    assert missing(ledger, {"domains": {"a.com", "b.com", "c.com"}, "sha256": {"x"}}) == 0
    assert missing(ledger, {"domains": {"a.com"}}) == 2
    assert missing(ledger, {"domains": {"a.com"}}, ("domains",)) == 1
