"""Dump what TFDS's own ``split_wet_file`` makes of WET files, as JSON lines (test oracle).

Runs under the reference venv (``make reference``'s; ``tests/reference/pins.py``), never under ours:
it imports the unmodified TFDS code (3.1.0) or loads the saved 2.2.0 ``c4_utils.py`` by path, calls
its ``split_wet_file`` and prints one JSON object per input file::

    {"file": ..., "pages": [{url, text, timestamp, content_type, content_length}, ...],
     "counters": {...}, "error": null | "ExceptionType: message"}

Pages yielded before an exception are kept, so a test can see how far TFDS got.

Usage: python tfds_split_wet_dump.py --version 3.1.0|2.2.0 [--src-dir DIR] FILE.gz...

Our tests call ``run_reference`` (importable from our venv: nothing heavy is imported at module
level), which runs this script once per version and caches its output under ``.cache/``.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Run as a script by the reference venv too: the repository root is not on its path.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.reference import pins

REFERENCE_HOME = pins.home()
REFERENCE_PYTHON = REFERENCE_HOME / "venv" / "bin" / "python"
# Beside the reference install (shared by every checkout), keyed by this script, the pins and
# each file's bytes.
CACHE_DIR = pins.home() / "wet_reference"


def run_reference(paths: list[Path], version: str) -> dict[str, dict]:
    """TFDS ``split_wet_file`` on each path -> ``{path name: row}``.

    Each file's row is cached on its own (key: this script, the version, the file's name and
    content), and all missing files go through one subprocess: TensorFlow's import dominates.
    """
    script = hashlib.sha256(Path(__file__).read_bytes()).digest()
    caches = {}
    for path in paths:
        key = hashlib.sha256(script + pins.fingerprint().encode() + version.encode())
        key.update(path.name.encode() + b"\0")
        key.update(path.read_bytes())
        caches[path] = CACHE_DIR / version / f"{key.hexdigest()[:32]}.json"
    missing = [path for path, cache in caches.items() if not cache.exists()]
    if missing:
        if not REFERENCE_PYTHON.exists():
            raise FileNotFoundError(
                f"reference venv missing: {REFERENCE_PYTHON}; run make reference"
            )
        out = subprocess.run(
            [str(REFERENCE_PYTHON), __file__, "--version", version, *map(str, missing)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        # split("\n"), not splitlines(): the JSON holds raw U+2028, U+0085 and the like.
        rows = [line for line in out.split("\n") if line]
        assert len(rows) == len(missing), out[-2000:]
        for path, row in zip(missing, rows, strict=True):
            cache = caches[path]
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(f".{os.getpid()}.tmp")  # xdist workers may race here
            tmp.write_text(row, encoding="utf-8")
            tmp.replace(cache)
    return {path.name: json.loads(caches[path].read_text(encoding="utf-8")) for path in paths}


def _load_utils(version: str, src_dir: str):
    if version.startswith("3."):
        from tensorflow_datasets.text import c4_utils

        return c4_utils
    path = os.path.join(src_dir, "tfds2.0.0_c4v2.2.0_c4_utils.py")
    spec = importlib.util.spec_from_file_location("legacy_c4_utils_220", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _as_row(page, version: str) -> dict:
    if version.startswith("3."):
        return {
            "url": page.url,
            "text": page.text,
            "timestamp": page.timestamp,
            "content_type": page.content_type,
            "content_length": page.content_length,
        }
    _, feats = page
    return {
        "url": feats["url"],
        "text": feats["text"],
        "timestamp": feats["timestamp"],
        "content_type": feats["content-type"],
        "content_length": feats["content-length"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--version", required=True)
    parser.add_argument(
        "--src-dir",
        default=str(pins.legacy_src_dir()),
    )
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    utils = _load_utils(args.version, args.src_dir)
    for path in args.files:
        counters: collections.Counter = collections.Counter()

        def inc(name, amount=1, counters=counters):
            counters[name] += amount

        pages, error = [], None
        try:
            for page in utils.split_wet_file(path, counter_inc_fn=inc):
                pages.append(_as_row(page, args.version))
        except Exception as exc:  # the oracle records TFDS's failure, whatever it is
            error = f"{type(exc).__name__}: {exc}"
        row = {"file": path, "pages": pages, "counters": dict(counters), "error": error}
        sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
