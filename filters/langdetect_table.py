"""The langdetect 1.0.9 data the compiled port reads (``filters/_native.c``, ``langdetect``).

The port needs, from langdetect: its 55 language profiles (each n-gram's count per language and
each language's n-gram totals), and the normalization tables of ``langdetect.utils.ngram.NGram``
(the CJK map, the Latin-1 characters it drops, the Vietnamese recompositions). Reading them from
langdetect's JSON takes ~0.23 CPU-s, more than a build's whole language load should, so they ship
in one compact file, ``data/langdetect/langdetect-1.0.9.table.zlib`` (zlib of the layout below),
built by ``build_table`` from the installed langdetect 1.0.9; the tests rebuild it and require
the same bytes. Profiles are taken in sorted name order (INTERFACE.md), as every detector here.

Layout (little-endian): ``C4LD0001``; u32 languages, each a u8 length and its ASCII name; per
language 3 x u64 ``n_words``; u32 words, each word's u64 key (its 1-3 code points, the first in
the low 21 bits), sorted; (words + 1) x u32 offsets into the pairs; per pair a u8 language index
(ascending within a word), then per pair a u32 count; u32 CJK pairs of (u32 from, u32 to); u32 +
the Latin-1 excluded code points; u32 + the Vietnamese letters; u32 + the diacritical marks; per
mark, per letter, the u32 recomposed code point.

    python -m filters.langdetect_table   # rewrites the shipped file from the installed langdetect
"""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path
from types import ModuleType

TABLE = Path(__file__).with_name("data") / "langdetect" / "langdetect-1.0.9.table.zlib"
MAGIC = b"C4LD0001"


def pack_key(word: str) -> int:
    """A 1-3 character n-gram as the port keys it: code points, 21 bits each, first lowest."""
    key = 0
    for i, ch in enumerate(word):
        key |= ord(ch) << (21 * i)
    return key


def _u32s(values: list[int]) -> bytes:
    return struct.pack(f"<I{len(values)}I", len(values), *values)


def build_table() -> bytes:
    """The table, from the installed langdetect 1.0.9 (uncompressed)."""
    import langdetect
    from langdetect.utils.ngram import NGram

    directory = Path(langdetect.__file__).parent / "profiles"
    names = sorted(
        p.name for p in directory.iterdir() if not p.name.startswith(".") and p.is_file()
    )
    profiles = [json.loads((directory / n).read_text(encoding="utf-8")) for n in names]
    counts: dict[int, dict[int, int]] = {}
    for index, profile in enumerate(profiles):
        for word, count in profile["freq"].items():
            if 1 <= len(word) <= 3:  # add_profile gives longer words no probability
                counts.setdefault(pack_key(word), {})[index] = count
    out = bytearray(MAGIC)
    out += struct.pack("<I", len(profiles))
    for profile in profiles:
        name = profile["name"].encode("ascii")
        out += struct.pack("<B", len(name)) + name
    for profile in profiles:
        out += struct.pack("<3Q", *profile["n_words"])
    keys = sorted(counts)
    out += struct.pack(f"<I{len(keys)}Q", len(keys), *keys)
    offsets, langs, freqs = [0], [], []
    for key in keys:
        for index, count in sorted(counts[key].items()):
            langs.append(index)
            freqs.append(count)
        offsets.append(len(langs))
    out += struct.pack(f"<{len(offsets)}I", *offsets)
    out += bytes(langs) + struct.pack(f"<{len(freqs)}I", *freqs)
    cjk = sorted((ord(a), ord(b)) for a, b in NGram.CJK_MAP.items())
    out += struct.pack(f"<I{2 * len(cjk)}I", len(cjk), *(v for pair in cjk for v in pair))
    out += _u32s([ord(c) for c in NGram.LATIN1_EXCLUDED])
    out += _u32s([ord(c) for c in NGram.TO_NORMALIZE_VI_CHARS])
    out += _u32s([ord(c) for c in NGram.DMARK_CLASS])
    for recomposed in NGram.NORMALIZED_VI_CHARS:
        if len(recomposed) != len(NGram.TO_NORMALIZE_VI_CHARS):
            raise ValueError("langdetect's Vietnamese tables do not line up")
        out += struct.pack(f"<{len(recomposed)}I", *map(ord, recomposed))
    return bytes(out)


def languages(table: bytes) -> list[str]:
    """The language names of a table, in its order."""
    if table[:8] != MAGIC:
        raise ValueError("not a langdetect table")
    (count,) = struct.unpack_from("<I", table, 8)
    names, at = [], 12
    for _ in range(count):
        size = table[at]
        names.append(table[at + 1 : at + 1 + size].decode("ascii"))
        at += 1 + size
    return names


def load_table() -> bytes:
    """The shipped table (uncompressed)."""
    return zlib.decompress(TABLE.read_bytes())


def compiled_model(native: ModuleType, seed: int) -> object:
    """The compiled port's model (``native.langdetect_model``): the shipped table, and the
    Mersenne Twister words of ``random.Random(seed)``, with which langdetect seeds each call."""
    import random

    return native.langdetect_model(load_table(), random.Random(seed).getstate()[1][:624])


def main() -> None:
    TABLE.parent.mkdir(parents=True, exist_ok=True)
    TABLE.write_bytes(zlib.compress(build_table(), 9))
    print(f"wrote {TABLE} ({TABLE.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
