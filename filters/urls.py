"""URL rules: C4's ``normalize_url``, the md5 keys dedup and the split are decided by.

C4_SPEC §1.3 and §1.8. The normalization is TFDS's, quirks included: the scheme regex is not
anchored (embedded URLs are rewritten too) and nothing is lowercased.
"""

from __future__ import annotations

import hashlib
import re

from filters.spec import TFDS_VALIDATION_MODULUS

_SCHEME_RE = re.compile(r"https?:\/\/(www\.)?")
_TRACKING_QUERY_RE = re.compile(r"\?(utm_|ref|feed).*")


def normalize_url(url: str) -> str:
    """TFDS ``normalize_url``: drop scheme, ``www.``, a ``?utm_/ref/feed`` query, trailing ``/``."""
    url = _SCHEME_RE.sub("", url)
    url = _TRACKING_QUERY_RE.sub("", url)
    return url.rstrip("/")


def md5_hex(text: str) -> str:
    """md5 of the UTF-8 bytes, as hex: the key of every C4 tie-break and split."""
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def split_for(normalized_url: str, has_validation: bool = True) -> str:
    """``validation`` iff ``int(md5(normalized_url), 16) % 1000 == 0``, else ``train``."""
    if has_validation and int(md5_hex(normalized_url), 16) % TFDS_VALIDATION_MODULUS == 0:
        return "validation"
    return "train"
