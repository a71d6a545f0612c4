"""Types of ``filters._native`` (``filters/_native.c``); see ``filters/kernels.py``."""

from collections.abc import Callable, Sequence

API: int

def clean_lines(
    text: str,
    max_word_length: int,
    badwords: Callable[[str], bool] | None,
    citations: Callable[[str, str], str],
) -> tuple[str | None, list[str], int, int, int, int, int]: ...
def split_wet_record(record: str, prefixes: tuple[str, ...]) -> tuple[list[str], str]: ...
def line_hashes(text: str, bytes_rule: bool) -> list[bytes]: ...
def word_list(words: Sequence[str]) -> object: ...
def has_word(word_list: object, text: str) -> bool: ...
def md5(data: bytes) -> bytes: ...
def wet_record(
    data: bytes | bytearray | memoryview, start: int, end: int
) -> tuple[str, str, str, str, str, str, str | None, str] | None: ...
def punkt_at_least(
    text: str,
    n: int,
    decide: Callable[[str], bool],
    abbrev_types: set[str],
    collocation_firsts: frozenset[str],
    collocations: set[tuple[str, str]],
) -> bool: ...
