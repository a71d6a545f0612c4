"""TFDS's ``is_valid_length`` page filter: pages longer than 190,000 characters are dropped.

C4_SPEC §1.1 step 3. The length is counted in Python characters on the raw page text, before any
cleaning, in every version.
"""

from __future__ import annotations

from filters.spec import TFDS_MAX_PAGE_LENGTH

NAMESPACE = "too-long-filter"
# 2.2.0 and 1.0.0 name the namespace and counters differently (C4_SPEC §1.11).
LEGACY_NAMESPACE = "is-valid-length"
LEGACY_COUNTER_NAMES: dict[str, dict[str, str]] = {
    "3.1.0": {"passed": "passed", "filtered": "filtered"},
    "2.2.0": {"passed": "valid-length", "filtered": "filtered-page-contenttoolong"},
    "1.0.0": {"passed": "valid-length", "filtered": "filtered-url-contenttoolong"},
}


def is_valid_length(text: str, max_length: int = TFDS_MAX_PAGE_LENGTH) -> tuple[bool, str]:
    """Whether a page is short enough to keep, and the counter that says so.

    Args:
        text: the page text as parsed from the WET record.
        max_length: TFDS's ``1.9e5``; a page of exactly this length is kept.

    Returns:
        ``(keep, reason)`` where ``reason`` is ``"passed"`` or ``"filtered"`` in namespace
        ``too-long-filter``.
    """
    if len(text) > max_length:
        return False, "filtered"
    return True, "passed"
