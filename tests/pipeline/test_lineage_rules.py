"""The matching rules of trace/forget/blocklists (``filters/lineage.py``, pure)."""

from __future__ import annotations

import hashlib

import pytest

from filters.lineage import (
    Request,
    RequestError,
    content_digest,
    document_domain,
    in_domains,
    parse_doc_id_line,
    parse_domain_line,
    parse_request,
    parse_url_line,
    request_lines,
    url_key,
)


def test_url_key_is_normalize_url_with_the_host_lowercased() -> None:
    assert url_key("http://www.Example.COM/Path/?utm_source=x") == "example.com/Path"
    assert url_key("HTTPS://WWW.example.com/Path") == "example.com/Path"
    assert url_key("https://example.com/a?ref=b") == url_key("http://example.com/a/")
    assert url_key("http://example.com/A") != url_key("http://example.com/a")
    assert url_key("example.com/x") == "example.com/x"  # 1.0.0's url is already normalized


def test_domains_match_themselves_and_subdomains_only() -> None:
    domains = frozenset({"example.com", parse_domain_line("Bücher.de")})
    assert in_domains("example.com", domains) == "example.com"
    assert in_domains("a.b.example.com", domains) == "example.com"
    assert in_domains("notexample.com", domains) == ""
    assert in_domains("example.com.evil.org", domains) == ""
    assert in_domains("shop.xn--bcher-kva.de", domains) == "xn--bcher-kva.de"
    assert document_domain("http://Shop.Bücher.de:8080/x") == "shop.xn--bcher-kva.de"


@pytest.mark.parametrize(
    "line", ["http://example.com/", "exa mple.com", "a..b", "-a.com", "*.example.com", ""]
)
def test_malformed_domain_lines(line: str) -> None:
    with pytest.raises(RequestError):
        parse_domain_line(line)


@pytest.mark.parametrize("line", ["example.com/x", "ftp://example.com/", "http://", "http://a b/"])
def test_malformed_url_lines(line: str) -> None:
    with pytest.raises(RequestError):
        parse_url_line(line)


def test_doc_ids_and_request() -> None:
    uuid = "25b07336-ded8-4cf9-81af-e6b16327f6e5"
    assert parse_doc_id_line(f" {uuid} ") == uuid
    assert parse_doc_id_line("a" * 40) == "a" * 40
    with pytest.raises(RequestError):
        parse_doc_id_line("<urn:uuid:" + uuid + ">")
    request = parse_request(["http://www.x.org/p"], ["y.net"], [uuid])
    assert request.reason(uuid, "http://z.com/") == "doc_id"
    assert request.reason("", "https://x.org/p/") == "url"
    assert request.reason("", "http://www.y.net/q") == "domain:y.net"
    assert request.reason("", "http://x.org/q") == ""
    assert Request().empty and not request.empty
    assert request_lines("# c\n\n a \nb\n") == [(3, "a"), (4, "b")]
    assert content_digest("é") == hashlib.sha256("é".encode()).hexdigest()
