"""is_valid_length: TFDS drops pages longer than 1.9e5 characters."""

from __future__ import annotations

from filters.length import LEGACY_COUNTER_NAMES, NAMESPACE, is_valid_length


def test_boundary_is_190000_characters():
    assert is_valid_length("x" * 190_000) == (True, "passed")
    assert is_valid_length("x" * 190_001) == (False, "filtered")
    assert is_valid_length("") == (True, "passed")


def test_length_is_in_characters_not_bytes():
    assert is_valid_length("é" * 190_000) == (True, "passed")  # 380,000 UTF-8 bytes


def test_counter_names():
    assert NAMESPACE == "too-long-filter"
    assert LEGACY_COUNTER_NAMES["2.2.0"]["filtered"] == "filtered-page-contenttoolong"
    assert LEGACY_COUNTER_NAMES["1.0.0"]["filtered"] == "filtered-url-contenttoolong"
