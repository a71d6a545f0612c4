"""The forget ledger (``DIR/forget/ledger.json``): its format, and what it blocks at ingest.

Pure: no Beam, no I/O. ``c4 forget`` writes the ledger (``pipeline/forget/store.py``); ``c4
build`` reads it and drops, while reading, every page the ledger says was forgotten, so a
rebuild never brings a forgotten document back (``pipeline/build_ledger.py``).

The ledger holds match keys and digests, never a text: the URL keys, domains and doc_ids asked
for, and of each removed document its doc_id, the sha256 of its text, its source record and the
sha256 of its URL key (``url_sha256``). The last one is what lets a forgotten doc_id block its
page's URL: a rebuild from another crawl gives the same page another doc_id, the same URL key.
A hash, not the URL: a doc_id request named no URL, and the ledger should not spell one out.
Ledgers written before ``url_sha256`` existed stay readable (the key reads as empty).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from filters.lineage import document_domain, in_domains, url_key

# Every key of ledger.json, each a sorted list of strings.
KEYS = ("urls", "domains", "doc_ids", "sha256", "records", "url_sha256")
# The keys a build blocks by (``sha256`` and ``records`` serve verify and dead letters).
BLOCKING = ("urls", "domains", "doc_ids", "url_sha256")
# A page the ledger drops at ingest, counted (a drop reason: stats.json stays balanced).
INGEST_COUNTER = "forget/filtered:ledger"


class LedgerError(ValueError):
    """A ledger file that is not a ledger (the message says what is wrong)."""


def url_key_sha256(url: str) -> str:
    """sha256 hex of a URL's match key (``filters.lineage.url_key``), UTF-8."""
    return hashlib.sha256(url_key(url).encode("utf-8")).hexdigest()


def ledger_text(content: Mapping[str, Iterable[str]]) -> str:
    """ledger.json's bytes for ``content`` (every key of ``KEYS``, sorted lists): stable."""
    data = {key: sorted(set(content.get(key, ()))) for key in KEYS}
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def parse_ledger(text: str) -> dict[str, frozenset[str]]:
    """ledger.json's content, every key of ``KEYS`` present (absent ones empty).

    Raises:
        LedgerError: not JSON, not an object, or a key that is not a list of strings.
    """
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise LedgerError(f"not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise LedgerError("not a JSON object")
    content = {}
    for key in KEYS:
        values = data.get(key, [])
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise LedgerError(f"{key!r} is not a list of strings")
        content[key] = frozenset(values)
    # URL keys stored by an older rule (filters/lineage.py: keys are fixed points) made current.
    content["urls"] = frozenset(url_key(u) for u in content["urls"])
    return content


@dataclass(frozen=True)
class LedgerBlock:
    """What a build drops at ingest because the forget ledger lists it."""

    urls: frozenset[str] = frozenset()
    domains: frozenset[str] = frozenset()
    doc_ids: frozenset[str] = frozenset()
    url_sha256: frozenset[str] = frozenset()

    @classmethod
    def of(cls, content: Mapping[str, Iterable[str]]) -> LedgerBlock:
        return cls(*(frozenset(content.get(key, ())) for key in BLOCKING))

    @property
    def items(self) -> int:
        """Entries applied: URL keys, domains and doc_ids (the URL hashes stand for doc_ids)."""
        return len(self.urls) + len(self.domains) + len(self.doc_ids)

    def reason(self, doc_id: str, url: str) -> str:
        """Why the ledger blocks a page (``doc_id``, ``url``, ``forgotten doc_id's url``,
        ``domain``), or '' if it does not."""
        if doc_id and doc_id in self.doc_ids:
            return "doc_id"
        if self.urls or self.url_sha256:
            key = url_key(url)
            if key in self.urls:
                return "url"
            if self.url_sha256:
                digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
                if digest in self.url_sha256:
                    return "forgotten doc_id's url"
        if self.domains and in_domains(document_domain(url), self.domains):
            return "domain"
        return ""


@dataclass(frozen=True)
class CarriedLedger:
    """The forget ledger a build applies at ingest and writes into its output.

    Attributes:
        text: the ledger.json written into the new output (``ledger_text``).
        source: where it was read (``DIR/forget/ledger.json`` or ``--forget_ledger``'s file).
        block: what it drops at ingest.
    """

    text: str
    source: str
    block: LedgerBlock


# What a user asked to forget, and a ledger counts as its items; the rest are digests.
ITEMS = ("urls", "domains", "doc_ids")


def missing(
    ledger: Mapping[str, Iterable[str]],
    other: Mapping[str, Iterable[str]],
    keys: Iterable[str] = KEYS,
) -> int:
    """How many entries of ``ledger`` under ``keys`` ``other`` does not hold."""
    return sum(len(set(ledger.get(k, ())) - set(other.get(k, ()))) for k in keys)
