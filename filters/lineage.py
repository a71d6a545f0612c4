"""Lineage and takedown rules: content digests, the URL/domain/doc_id matching of ``c4 forget``.

Pure: no Beam, no I/O. INTERFACE.md "Matching for forget": a URL matches by C4's
``normalize_url`` with the host lowercased; a domain matches itself and every subdomain,
lowercased and IDNA-encoded; a doc_id matches exactly. The same rules serve ``c4 build
--blocklist_urls/--blocklist_domains`` (drop while reading), ``c4 trace`` and ``c4 forget``, so the
three always agree on what a line of a request means.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import NamedTuple
from urllib.parse import urlsplit

from filters.urls import normalize_url

# WARC-Record-ID UUIDs, or the sha1 hex of ``source_file:record_offset`` (INTERFACE.md).
_DOC_ID_RE = re.compile(
    r"^(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-f]{40})$"
)
_LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_HOST_END_RE = re.compile(r"[/?#]")
_SCHEME_HOST_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*")


class RequestError(ValueError):
    """A line of a takedown or blocklist file that cannot be read (its file and line say where)."""


def content_digest(text: str) -> str:
    """sha256 hex of the UTF-8 text: how a forgotten text is remembered without keeping it."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def domain_key(host: str) -> str:
    """A host as domains are compared: lowercased, no trailing dot, no port, IDNA (punycode).

    Raises:
        RequestError: not a host name (empty label, bad characters, IDNA refuses it).
    """
    host = host.strip().lower().rstrip(".")
    if not host or any(c in host for c in "/ \t@?#[]"):
        raise RequestError(f"not a domain: {host!r}")
    host = host.split(":", 1)[0]
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise RequestError(f"not a domain: {host!r} ({exc})") from None
    labels = ascii_host.split(".")
    if not all(_LABEL_RE.match(label) for label in labels):
        raise RequestError(f"not a domain: {host!r}")
    return ascii_host


def url_host(url: str) -> str:
    """The host of a URL as written (scheme optional), '' when it has none."""
    try:
        parts = urlsplit(url if "://" in url else "//" + url)
        return parts.hostname or ""
    except ValueError:
        return ""


def document_domain(url: str) -> str:
    """The domain of a document's URL for lineage and matching ('' if it has no usable host)."""
    try:
        return domain_key(url_host(url))
    except RequestError:
        return ""


def url_key(url: str) -> str:
    """C4's ``normalize_url`` with the host lowercased: the key a URL request matches by.

    Scheme and host are lowercased first too, so ``HTTPS://WWW.Example.com`` loses its
    ``www.`` as ``http://www.example.com`` does (hosts are case-insensitive, paths are not).
    """
    url = _SCHEME_HOST_RE.sub(lambda m: m.group(0).lower(), url.strip(), count=1)
    normalized = normalize_url(url)
    cut = _HOST_END_RE.search(normalized)
    end = cut.start() if cut else len(normalized)
    return normalized[:end].lower() + normalized[end:]


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
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise RequestError(f"not an http(s) URL: {url!r}")
    domain_key(parts.hostname)
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
