"""Hosts in takedown matching (``filters/lineage.py``): UTS #46 non-transitional A-labels.

A URL or domain given in either IDNA form matches the other; IDNA 2003's extra mappings
(``ß`` -> ``ss``, ``ς`` -> ``σ``) do not make two hosts one; ASCII keys are what they were.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from filters.lineage import (
    Request,
    RequestError,
    document_domain,
    host_key,
    parse_domain_line,
    parse_request,
    parse_url_line,
    url_key,
)
from filters.urls import normalize_url


def _matches(request: Request, url: str) -> str:
    return request.reason("", url)


@pytest.mark.parametrize(
    ("asked", "stored"),
    [
        ("http://xn--bcher-kva.de/x", "http://BÜCHER.de/x"),
        ("http://BÜCHER.de/x", "http://xn--bcher-kva.de/x"),
        ("https://www.Bücher.DE/x/?utm_source=a", "http://xn--bcher-kva.de/x"),
        ("http://xn--caf-dma.fr/y", "http://CAFÉ.fr/y"),
        ("http://ｂüｃｈｅｒ。de/x", "http://bücher.de/x"),  # full-width letters, ideographic dot
    ],
)
def test_a_url_matches_in_either_idna_form(asked: str, stored: str) -> None:
    assert url_key(asked) == url_key(stored)
    assert _matches(parse_request(urls=[asked]), stored) == "url"


@pytest.mark.parametrize(
    ("asked", "stored"),
    [
        ("xn--bcher-kva.de", "http://shop.BÜCHER.de/x"),
        ("BÜCHER.de", "http://shop.xn--bcher-kva.de/x"),
        ("bücher.de.", "http://xn--BCHER-kva.de:8080/"),
    ],
)
def test_a_domain_matches_in_either_idna_form(asked: str, stored: str) -> None:
    assert _matches(parse_request(domains=[asked]), stored).startswith("domain:")


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("straße.de", "strasse.de"),  # IDNA 2003 maps ß to ss; UTS #46 non-transitional keeps ß
        ("σας.gr", "σασ.gr"),  # IDNA 2003 maps final ς to σ; non-transitional keeps ς
        ("STRAẞE.de", "strasse.de"),  # capital sharp s folds to ß, never to ss
    ],
)
def test_idna2003_only_mappings_do_not_match(one: str, other: str) -> None:
    assert host_key(one) != host_key(other)
    assert parse_domain_line(one) != parse_domain_line(other)
    for asked, stored in ((one, other), (other, one)):
        assert _matches(parse_request(domains=[asked]), f"http://{stored}/p") == ""
        assert _matches(parse_request(urls=[f"http://{asked}/p"]), f"http://{stored}/p") == ""
        assert _matches(parse_request(domains=[asked]), f"http://{asked}/p").startswith("domain:")


def test_case_folding_is_uts46_not_str_lower() -> None:
    # str.lower() gives "σας" (final sigma in context); UTS #46 folds every Σ to σ.
    assert "ΣΑΣ".lower() == "σας"
    assert host_key("ΣΑΣ.gr") == host_key("σασ.gr") == "xn--mxa9ab.gr"
    assert host_key("ΣΑΣ.gr") != host_key("σας.gr")
    assert url_key("http://ΣΑΣ.gr/T") == "xn--mxa9ab.gr/T"  # the path keeps its case
    assert document_domain("http://user:pw@ΣΑΣ.gr:80/") == "xn--mxa9ab.gr"


def test_the_a_labels_are_those_of_the_idna_package() -> None:
    import idna

    for host in ("bücher.de", "straße.de", "σας.gr", "ÉCOLE.fr", "日本語.jp"):
        expected = idna.encode(host, uts46=True, transitional=False).decode("ascii")
        assert host_key(host) == expected == parse_domain_line(host)


def test_a_host_uts46_refuses_is_no_domain_but_still_a_url_key() -> None:
    with pytest.raises(RequestError):
        parse_domain_line("bad\u0378host.com")  # an unassigned code point
    # A document with such a host: the same key on both sides, never an error.
    assert url_key("http://BAD\u0378host.com/x") == url_key("http://bad\u0378host.com/x")
    # Its own key as its domain (a parent domain still matches it): not '' as before 2026-12-06.
    assert document_domain("http://bad\u0378host.com/x") == "bad\u0378host.com"


@pytest.mark.parametrize(
    "url", ["http://BÜCHER.de/x", "http://u:P@ΣΑΣ.gr:8/a?b", "http://xn--caf-dma.fr/", "a.com/b"]
)
def test_url_keys_are_fixed_points(url: str) -> None:
    # What lets a ledger written by an older rule be brought up to date (store.load_ledger).
    assert url_key(url_key(url)) == url_key(url)
    assert url_key("bücher.de/x") == url_key("http://BÜCHER.de/x")


# The rule before UTS #46 keys, for ASCII URLs: existing ledgers must still match.
def _ascii_key_before(url: str) -> str:
    scheme_host = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*")
    url = scheme_host.sub(lambda m: m.group(0).lower(), url.strip(), count=1)
    normalized = normalize_url(url)
    cut = re.search(r"[/?#]", normalized)
    end = cut.start() if cut else len(normalized)
    return normalized[:end].lower() + normalized[end:]


_ASCII = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=30)


@given(scheme=st.sampled_from(["http://", "HTTPS://", "", "ftp://"]), host=_ASCII, rest=_ASCII)
def test_ascii_url_keys_are_unchanged(scheme: str, host: str, rest: str) -> None:
    url = f"{scheme}{host}/{rest}"
    assert url_key(url) == _ascii_key_before(url)


@pytest.mark.parametrize(
    ("url", "key", "domain"),
    [
        ("http://www.Example.COM/Path/?utm_source=x", "example.com/Path", "www.example.com"),
        ("HTTPS://User:Pw@Example.com:8080/a/", "user:pw@example.com:8080/a", "example.com"),
        ("http://xn--BCHER-kva.de/X", "xn--bcher-kva.de/X", "xn--bcher-kva.de"),
        ("http://EXAMPLE.com./x", "example.com./x", "example.com"),
        ("http://a_b.Example.com/x", "a_b.example.com/x", "a_b.example.com"),
    ],
)
def test_ascii_keys_as_existing_ledgers_hold_them(url: str, key: str, domain: str) -> None:
    assert url_key(url) == key
    assert document_domain(url) == domain


def test_the_matched_part_of_a_request() -> None:
    request = parse_request(
        urls=["http://xn--bcher-kva.de/x", "http://nowhere.example/"],
        domains=["urlm.com", "au.urlm.com", "strasse.de"],
        doc_ids=["a" * 40, "b" * 40],
    )
    documents = [
        ("a" * 40, "http://BÜCHER.de/x"),
        ("c" * 40, "http://au.urlm.com/p"),
        ("d" * 40, "http://straße.de/p"),
    ]
    matched = request.matched(documents)
    assert matched == Request(
        frozenset({"xn--bcher-kva.de/x"}),
        frozenset({"urlm.com", "au.urlm.com"}),
        frozenset({"a" * 40}),
    )
    assert request.without(matched).named() == [
        "url nowhere.example",
        "domain strasse.de",
        f"doc_id {'b' * 40}",
    ]
    assert parse_url_line("http://BÜCHER.de/x") == "xn--bcher-kva.de/x"
