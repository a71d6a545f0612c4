"""mC4 paragraph filter: TFDS's own cases and the 200-character, three-line rule."""

from __future__ import annotations

from filters.paragraph import NAMESPACE, paragraph_filter

TEXT = "This line is long enough to be a paragraph.\nThis one is not.\nThis one is. I promise!\n"


def test_tfds_cases():
    # TFDS always compares the third-longest line, whatever min_paragraphs says.
    assert paragraph_filter(TEXT, min_paragraphs=2, min_paragraph_len=20) == (False, "filtered")
    assert paragraph_filter(TEXT, min_paragraphs=3, min_paragraph_len=20) == (False, "filtered")
    more = TEXT + "If we add this paragraph, the page should pass."
    assert paragraph_filter(more, min_paragraphs=3, min_paragraph_len=20) == (True, "passed")


def test_defaults_need_three_lines_of_200_characters():
    long_line = "x" * 200
    assert paragraph_filter("\n".join([long_line] * 3)) == (True, "passed")
    assert paragraph_filter("\n".join([long_line] * 2 + ["x" * 199])) == (False, "filtered")
    assert paragraph_filter("\n".join([long_line] * 2)) == (False, "filtered")
    assert paragraph_filter("\n".join(["short"] * 10 + [long_line] * 3)) == (True, "passed")
    assert paragraph_filter("") == (False, "filtered")


def test_lines_are_split_on_newline_only():
    long_line = "x" * 200
    assert paragraph_filter("\u2028".join([long_line] * 3)) == (False, "filtered")
    assert paragraph_filter("\r\n".join([long_line] * 3)) == (True, "passed")
    assert NAMESPACE == "paragraph-filter"
