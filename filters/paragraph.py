"""mC4's paragraph filter: a page needs at least three lines of at least 200 characters.

C4_SPEC §2 (TFDS ``paragraph_filter``, 3.x ``multilingual`` only), applied before dedup and
language ID. TFDS always takes the three longest lines, whatever ``min_paragraphs`` says; that quirk
is kept so non-default arguments behave as TFDS's own tests expect.
"""

from __future__ import annotations

import heapq

NAMESPACE = "paragraph-filter"
MIN_PARAGRAPHS = 3
MIN_PARAGRAPH_LEN = 200


def paragraph_filter(
    text: str,
    min_paragraphs: int = MIN_PARAGRAPHS,
    min_paragraph_len: int = MIN_PARAGRAPH_LEN,
    line_delimiter: str = "\n",
) -> tuple[bool, str]:
    """Whether a page has enough long "paragraphs" (lines), and the counter that says so.

    Args:
        text: the page text (lines joined with ``line_delimiter``).
        min_paragraphs: the minimum number of lines.
        min_paragraph_len: the length the third-longest line must reach.
        line_delimiter: what separates lines; ``str.split`` semantics, not ``splitlines``.

    Returns:
        ``(keep, reason)`` with ``reason`` ``"passed"`` or ``"filtered"`` in ``paragraph-filter``.
    """
    lines = text.split(line_delimiter)
    if len(lines) < min_paragraphs:
        return False, "filtered"
    if min(heapq.nlargest(3, map(len, lines))) < min_paragraph_len:
        return False, "filtered"
    return True, "passed"
