"""realnewslike domain filter: Grover's table, tldextract offline, TFDS's decisions."""

from __future__ import annotations

import hashlib
import socket

import pytest

from filters.realnews import (
    LEGACY_COUNTER_NAMES,
    REALNEWS_DOMAINS_PATH,
    RealNewsFilter,
    is_realnews_domain,
    load_realnews_domains,
    offline_extractor,
)
from filters.urls import normalize_url


def test_shipped_table_is_grovers_file():
    data = REALNEWS_DOMAINS_PATH.read_bytes()
    # Grover's file at commit 38f7184 (filters/data/README.md).
    assert hashlib.sha256(data).hexdigest() == (
        "75681899371acbf57b502ca8be48b3ca2d3339a276c396f3001b6a14da691ff3"
    )
    assert (
        (REALNEWS_DOMAINS_PATH.parent / "LICENSE").read_text().lstrip().startswith("Apache License")
    )
    domains = load_realnews_domains()
    assert len(domains) == 5036
    assert {type(v) for v in domains.values()} == {bool, list}


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a connection fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_suffix_list_is_bundled_and_offline(no_network: None):
    extract = offline_extractor()
    ext = extract("https://news.bbc.co.uk/sport/x")
    assert (ext.subdomain, ext.domain, ext.suffix) == ("news", "bbc", "co.uk")
    assert RealNewsFilter(extractor=extract).decide("nytimes.com/2019/04/a.html") == (
        True,
        "passed",
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        # true: every subdomain
        ("nytimes.com/2019/04/a.html", (True, "passed")),
        ("cooking.nytimes.com/recipe", (True, "passed")),
        # a list: only those subdomains ("" is not in msn.com's list)
        ("msn.com/en-us/news", (False, "filtered:bad_subdomain")),
        ("money.msn.com/x", (True, "passed")),
        ("news.uk.msn.com/x", (True, "passed")),
        ("gather.com/x", (False, "filtered:bad_subdomain")),
        ("sports.gather.com/x", (True, "passed")),
        ("example.com/news", (False, "filtered:bad_domain")),
        ("localhost/x", (False, "filtered:bad_domain")),
    ],
)
def test_decisions(url: str, expected: tuple[bool, str]):
    assert is_realnews_domain(url) == expected


def test_raw_and_normalized_urls_differ_on_www():
    # 3.x passes the normalized url (no www.), 2.2.0 the raw one, where www is a subdomain.
    # No list in Grover's table names exactly one of "" and "www", so both agree here.
    domains = load_realnews_domains()
    lists = [v for v in domains.values() if isinstance(v, list)]
    assert all(("www" in v) == ("" in v) for v in lists)
    raw = "https://www.newsweek.com/story"
    assert is_realnews_domain(normalize_url(raw)) == (False, "filtered:bad_subdomain")
    assert is_realnews_domain(raw) == (False, "filtered:bad_subdomain")
    assert is_realnews_domain("https://current.newsweek.com/a") == (True, "passed")
    assert is_realnews_domain(normalize_url("https://www.nytimes.com/a")) == (True, "passed")


def test_legacy_names_cover_ours():
    assert set(LEGACY_COUNTER_NAMES["2.2.0"]) == set(LEGACY_COUNTER_NAMES["3.1.0"])
