"""The compiled core: C kernels for the hot loops, or pure Python where they are missing.

``filters/_native.c`` compiles (``setup.py``, an optional extension) into ``filters._native``,
the twin of six pure-Python functions that remain the specification:

- ``filters.clean._clean_lines`` (``clean_page``'s line rules),
- ``filters.wet._split_record_py`` (a WET record's header lines and text),
- ``filters.wet._fields_py`` (a record's bytes decoded, split and its header fields read),
- ``filters.dedup._line_hashes_py`` (the md5 dedup key of every line),
- ``filters.badwords._has_word_py`` (3.x's page bad-word search, spaced languages),
- ``filters.sentences.SentenceSplitter._at_least_py`` (whether punkt finds ``n`` sentences).

The tests run both on every real WET record and C4 document, every code point and a property
fuzz, and require equal results (tests/filters/test_native.py, test_native_wet.py,
test_sentences_native.py).

``native`` is the compiled module, or ``None``: the module did not build on this machine (no C
compiler or Python headers), or ``C4_PURE_PYTHON=1`` asks for the pure path. Then the pure
functions run, with the same output, and one warning line says so (once per process).
"""

from __future__ import annotations

import logging
import os
from types import ModuleType

PURE_ENV = "C4_PURE_PYTHON"
# filters/_native.c's NATIVE_API: raised with any change to the kernels' signatures or meaning,
# so that a module built from an older source is not used (make setup rebuilds it).
NATIVE_API = 4

native: ModuleType | None
_why: str
if os.environ.get(PURE_ENV, "") not in ("", "0"):
    native, _why = None, f"{PURE_ENV} is set"
else:
    try:
        from filters import _native as native
    except ImportError:  # not built here: no C compiler or headers, or an install without it
        native, _why = None, "filters._native is not built here"
    else:
        if getattr(native, "API", None) != NATIVE_API:
            native, _why = None, "filters._native is stale: `make setup` rebuilds it"

if native is None:
    logging.getLogger(__name__).warning(
        "c4: compiled core unavailable (%s); running the pure-Python core: same output, slower",
        _why,
    )

COMPILED = native is not None
