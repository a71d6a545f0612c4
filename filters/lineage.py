"""Lineage and takedown rules: content digests, the URL/domain/doc_id matching of ``c4 forget``.

Pure: no Beam, no I/O. INTERFACE.md "Matching for forget": a URL matches by C4's
``normalize_url`` with the host in its key form; a domain matches itself and every subdomain;
a doc_id matches exactly. The same rules serve ``c4 build --blocklist_urls/--blocklist_domains``
(drop while reading), ``c4 trace`` and ``c4 forget``, so the three always agree on what a line
of a request means.

A host's key form (``host_key``), for URLs as for domains: UTS #46 processing, non-transitional
(case folding and compatibility mapping, NFC; ``ß`` and ``ς`` are kept, not turned into ``ss``
and ``σ`` as IDNA 2003 did), then each non-ASCII label as its A-label (``xn--`` punycode).
``BÜCHER.de`` and ``xn--bcher-kva.de`` are one host; ``straße.de`` and ``strasse.de`` are two.
An ASCII host is only lowercased (what UTS #46 does to it), so keys written before this rule
for ASCII hosts are unchanged.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import NamedTuple
from urllib.parse import urlsplit

import idna

from filters.urls import normalize_url

# WARC-Record-ID UUIDs, or the sha1 hex of ``source_file:record_offset`` (INTERFACE.md).
_DOC_ID_RE = re.compile(
    r"^(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-f]{40})$"
)
# A label as crawled hosts have them: letters, digits, inner hyphens, and "_" (not a valid
# host name character, but Common Crawl has such hosts, 470543com_dh1.470543aa.buzz, and
# users must be able to name the pages they see).
_LABEL_RE = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_HOST_END_RE = re.compile(r"[/?#]")
_SCHEME_HOST_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*")
# ``document_domain``'s fast path: a URL's authority (``urlsplit``'s netloc when it matches at
# the start), and a host of plain labels once lowercased (``domain_key`` returns it unchanged).
_PLAIN_URL_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://([^/?#]*)")
_PLAIN_HOST_RE = re.compile(
    r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
)


class RequestError(ValueError):
    """A line of a takedown or blocklist file that cannot be read (its file and line say where)."""


def content_digest(text: str) -> str:
    """sha256 hex of the UTF-8 text: how a forgotten text is remembered without keeping it."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(text: str) -> str:
    """``text`` with only A-Z lowercased: ``str.lower`` is context-sensitive beyond ASCII
    (``"ΣΑΣ".lower()`` is ``"σας"``, UTS #46 maps it to ``"σασ"``), so hosts never meet it."""
    return text.translate(_ASCII_LOWER)


def host_key(host: str) -> str:
    """A host as hosts are compared (module docstring): UTS #46 non-transitional, A-labels.

    A host UTS #46 refuses (a disallowed code point) is kept with A-Z lowercased, the same on
    both sides of a comparison; ``domain_key`` refuses it in a request.
    """
    try:
        return _uts46_key(host)
    except UnicodeError:
        return ascii_lower(host)


def _uts46_key(host: str) -> str:
    """``host_key``, raising ``UnicodeError`` (``idna.IDNAError``) where UTS #46 refuses."""
    if host.isascii():
        return ascii_lower(host)
    mapped = idna.uts46_remap(host, std3_rules=False, transitional=False)
    return ".".join(_a_label(label) for label in mapped.split("."))


def _a_label(label: str) -> str:
    # Punycode of the mapped label: what idna.alabel gives, without IDNA 2008's stricter
    # code point table (a browser resolves http://☃.net as xn--n3h.net too).
    return label if label.isascii() else "xn--" + label.encode("punycode").decode("ascii")


def domain_key(host: str) -> str:
    """A host as domains are compared: ``host_key``, no trailing dot, no port.

    Raises:
        RequestError: not a host name (empty label, bad characters, UTS #46 refuses it).
    """
    host = host.strip().rstrip(".")
    if not host or any(c in host for c in "/ \t@?#[]"):
        raise RequestError(f"not a domain: {host!r}")
    host = host.split(":", 1)[0]
    try:
        ascii_host = _uts46_key(host).rstrip(".")
    except UnicodeError as exc:
        raise RequestError(f"not a domain: {host!r} ({exc})") from None
    labels = ascii_host.split(".")
    if not all(_LABEL_RE.match(label) for label in labels):
        raise RequestError(f"not a domain: {host!r}")
    return ascii_host


def url_host(url: str) -> str:
    """The host of a URL as written (scheme optional, case kept), '' when it has none."""
    try:
        netloc = urlsplit(url if "://" in url else "//" + url).netloc
    except ValueError:
        return ""
    return _authority_host(netloc)


def _authority_host(authority: str) -> str:
    """``host`` of ``userinfo@host:port`` (``urlsplit``'s split, without its ``str.lower``)."""
    hostinfo = authority.rpartition("@")[2]
    if hostinfo.startswith("["):
        return hostinfo[1:].partition("]")[0]
    return hostinfo.partition(":")[0]


def document_domain(url: str) -> str:
    """The domain of a document's URL for lineage and matching ('' if it has no host).

    A host no request could name (a ``_`` in a label, as Common Crawl has:
    ``470543com_dh1.470543aa.buzz``; a code point UTS #46 refuses) keeps its own key
    (``host_key``), so every listed parent domain still matches it, as every subdomain must.

    Most URLs are ``scheme://host/...`` with an ASCII host of plain labels, whose domain is that
    host lowercased (``domain_key`` of it): those skip ``urlsplit`` and UTS #46, ~7x faster (it
    runs for every kept document, by the report and by lineage). ``_document_domain`` is the rule.
    """
    found = _PLAIN_URL_RE.match(url)
    if found:
        host = found.group(1)
        if host.isascii():
            host = host.lower()
            if _PLAIN_HOST_RE.fullmatch(host):
                return host
    return _document_domain(url)


def _document_domain(url: str) -> str:
    """``document_domain`` for any URL."""
    host = url_host(url)
    try:
        return domain_key(host)
    except RequestError:
        return host_key(host.strip().rstrip("."))


def url_key(url: str) -> str:
    """C4's ``normalize_url`` with the host in key form: the key a URL request matches by.

    Scheme and host are lowercased (A-Z) first too, so ``HTTPS://WWW.Example.com`` loses its
    ``www.`` as ``http://www.example.com`` does (hosts are case-insensitive, paths are not);
    then the host becomes ``host_key``'s A-labels: ``http://BÜCHER.de/x`` and
    ``http://xn--bcher-kva.de/x`` have one key. Keys are fixed points: ``url_key(url_key(u))``
    is ``url_key(u)``, so a key stored by an older rule is brought up to date by this function.
    """
    url = _SCHEME_HOST_RE.sub(lambda m: ascii_lower(m.group(0)), url.strip(), count=1)
    normalized = normalize_url(url)
    cut = _HOST_END_RE.search(normalized)
    end = cut.start() if cut else len(normalized)
    return _authority_key(normalized[:end]) + normalized[end:]


def _authority_key(authority: str) -> str:
    if authority.isascii():
        return authority.lower()  # the key of every ASCII host, as it always was
    userinfo, at, hostinfo = authority.rpartition("@")
    host = _authority_host(hostinfo)
    if not host:
        return ascii_lower(authority)
    before, _, after = hostinfo.partition(host)  # "[" of an IPv6 host; "]", ":port"
    return ascii_lower(userinfo + at + before) + host_key(host) + ascii_lower(after)


def parse_url_line(line: str) -> str:
    """One line of a URL list -> its match key.

    Raises:
        RequestError: not an ``http(s)://host...`` URL.
    """
    url = line.strip()
    if any(c.isspace() for c in url):
        raise RequestError(f"not a URL: {url!r}")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise RequestError(f"not a URL: {url!r} ({exc})") from None
    host = _authority_host(parts.netloc)
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise RequestError(f"not an http(s) URL: {url!r}")
    domain_key(host)
    return url_key(url)


def parse_domain_line(line: str) -> str:
    """One line of a domain list -> its IDNA, lowercased form.

    Raises:
        RequestError: not a bare host name (a URL, a path, a wildcard...).
    """
    return domain_key(line.strip())


def parse_doc_id_line(line: str) -> str:
    """One line of a doc_id list, checked for the form of a doc_id.

    Raises:
        RequestError: neither a UUID nor a 40-digit sha1 hex.
    """
    doc_id = line.strip()
    if not _DOC_ID_RE.match(doc_id):
        raise RequestError(f"not a doc_id: {doc_id!r}")
    return doc_id


def request_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) of a request file's content: blank lines and ``#`` comments skipped."""
    out = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line and not line.startswith("#"):
            out.append((number, line))
    return out


def in_domains(domain: str, domains: frozenset[str]) -> str:
    """The listed domain that ``domain`` is, or is a subdomain of; '' if none."""
    if not domain or not domains:
        return ""
    labels = domain.split(".")
    for i in range(len(labels)):
        suffix = ".".join(labels[i:])
        if suffix in domains:
            return suffix
    return ""


class Request(NamedTuple):
    """What a takedown (or a blocklist) lists, already in match-key form."""

    urls: frozenset[str] = frozenset()
    domains: frozenset[str] = frozenset()
    doc_ids: frozenset[str] = frozenset()

    @property
    def empty(self) -> bool:
        return not (self.urls or self.domains or self.doc_ids)

    def reason(self, doc_id: str, url: str) -> str:
        """Why a document matches (``doc_id``, ``url`` or ``domain:<listed domain>``), or ''."""
        if doc_id and doc_id in self.doc_ids:
            return "doc_id"
        if self.urls and url_key(url) in self.urls:
            return "url"
        listed = in_domains(document_domain(url), self.domains)
        return f"domain:{listed}" if listed else ""

    def matched(self, documents: Iterable[tuple[str, str]]) -> Request:
        """The part of this request that matches at least one of ``documents`` (doc_id, url):
        each listed key on its own, so a key that matches nothing is left out."""
        urls: set[str] = set()
        domains: set[str] = set()
        doc_ids: set[str] = set()
        for doc_id, url in documents:
            if doc_id in self.doc_ids:
                doc_ids.add(doc_id)
            if self.urls:
                key = url_key(url)
                if key in self.urls:
                    urls.add(key)
            if self.domains:
                labels = document_domain(url).split(".")
                suffixes = (".".join(labels[i:]) for i in range(len(labels)))
                domains.update(s for s in suffixes if s in self.domains)
        return Request(frozenset(urls), frozenset(domains), frozenset(doc_ids))

    def without(self, other: Request) -> Request:
        """The keys of this request that ``other`` does not list."""
        return Request(
            self.urls - other.urls, self.domains - other.domains, self.doc_ids - other.doc_ids
        )

    def named(self) -> list[str]:
        """Every key, named for a message: ``url <key>``, ``domain <key>``, ``doc_id <id>``."""
        return (
            [f"url {u}" for u in sorted(self.urls)]
            + [f"domain {d}" for d in sorted(self.domains)]
            + [f"doc_id {i}" for i in sorted(self.doc_ids)]
        )

    def merged(self, other: Request) -> Request:
        return Request(
            self.urls | other.urls, self.domains | other.domains, self.doc_ids | other.doc_ids
        )


def parse_request(
    urls: Iterable[str] = (), domains: Iterable[str] = (), doc_ids: Iterable[str] = ()
) -> Request:
    """Lines (already split) -> a ``Request``.

    Raises:
        RequestError: a malformed line (the message quotes it).
    """
    return Request(
        frozenset(parse_url_line(u) for u in urls),
        frozenset(parse_domain_line(d) for d in domains),
        frozenset(parse_doc_id_line(i) for i in doc_ids),
    )
