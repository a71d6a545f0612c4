"""The ``realnewslike`` domain filter: keep pages from the RealNews (Grover) news domains.

C4_SPEC §1.10. ``tldextract`` splits the URL; ``domain + "." + suffix`` must be a key of Grover's
``domain_to_allowed_subdomains.json`` (rowanz/grover @38f7184, Apache-2.0, shipped unmodified in
``filters/data/realnews``). A ``true`` value allows every subdomain; a list allows only the
subdomains it names (``""`` being the bare domain).

Which URL to pass is the caller's choice and differs by version: 3.x passes the normalized URL
(scheme and ``www.`` already gone), 2.2.0 the raw URL, so ``www`` is a subdomain there.

The public suffix list is tldextract's bundled snapshot, read offline: no URL to fetch and no cache
directory, so no worker ever touches the network or the disk for it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: 0.3 s that builds of other configs need not pay
    import tldextract

REALNEWS_DOMAINS_PATH = (
    Path(__file__).resolve().parent / "data" / "realnews" / "domain_to_allowed_subdomains.json"
)
NAMESPACE = "realnews-domain-filter"
# 2.2.0 counted the same decisions under other names (namespace ``is-realnews-domain``).
LEGACY_NAMESPACE = "is-realnews-domain"
LEGACY_COUNTER_NAMES: dict[str, dict[str, str]] = {
    "3.1.0": {n: n for n in ("passed", "filtered:bad_domain", "filtered:bad_subdomain")},
    "2.2.0": {
        "passed": "realnews-domain",
        "filtered:bad_domain": "filtered-url-invaliddomain",
        "filtered:bad_subdomain": "filtered-url-invalidsubdomain",
    },
}

RealNewsDomains = Mapping[str, "bool | list[str]"]


def offline_extractor() -> tldextract.TLDExtract:
    """A ``TLDExtract`` on the suffix list bundled with tldextract, with no fetch and no cache."""
    import tldextract

    return tldextract.TLDExtract(cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True)


def load_realnews_domains(path: Path = REALNEWS_DOMAINS_PATH) -> dict[str, bool | list[str]]:
    """Grover's domain table: registered domain to ``True`` or its allowed subdomains."""
    with path.open(encoding="utf-8") as f:
        domains: dict[str, bool | list[str]] = json.load(f)
    return domains


class RealNewsFilter:
    """``is_realnews_domain`` with its table and suffix list loaded once."""

    def __init__(
        self,
        domains: RealNewsDomains | None = None,
        extractor: tldextract.TLDExtract | None = None,
    ) -> None:
        self._domains = load_realnews_domains() if domains is None else domains
        self._extract = offline_extractor() if extractor is None else extractor

    def decide(self, url: str) -> tuple[bool, str]:
        """Whether ``url`` is on an allowed (sub)domain, and the ``realnews-domain-filter`` counter.

        Returns:
            ``(True, "passed")``, ``(False, "filtered:bad_domain")`` or
            ``(False, "filtered:bad_subdomain")``.
        """
        ext = self._extract(url)
        main_domain = ext.domain + "." + ext.suffix
        if main_domain not in self._domains:
            return False, "filtered:bad_domain"
        allowed = self._domains[main_domain]
        # Only a list restricts subdomains (TFDS: ``isinstance(.., list)``); ``true`` allows all.
        if isinstance(allowed, list) and ext.subdomain not in allowed:
            return False, "filtered:bad_subdomain"
        return True, "passed"


_lock = threading.Lock()
_default: list[RealNewsFilter] = []


def default_filter() -> RealNewsFilter:
    """The shipped table and the offline suffix list, built once per process on first use."""
    if not _default:
        with _lock:
            if not _default:
                _default.append(RealNewsFilter())
    return _default[0]


def is_realnews_domain(url: str) -> tuple[bool, str]:
    """TFDS ``is_realnews_domain`` on one URL, with the shipped Grover table.

    Args:
        url: the normalized URL for 3.x, the raw URL for 2.2.0 (see the module docstring).

    Returns:
        ``(keep, reason)``; ``reason`` is the counter in namespace ``realnews-domain-filter``.
    """
    return default_filter().decide(url)
