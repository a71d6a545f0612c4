"""tests/data: every file is the one MANIFEST.tsv pins and has its row in the README, and nothing
the suite, the benchmarks or the build runs reads data from outside the repository."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from tests.conftest import C4_SAMPLE, EDGE_WET, REAL_WET, REPO, TEST_DATA

MANIFEST = TEST_DATA / "MANIFEST.tsv"
README = TEST_DATA / "README.md"
# The two files that describe the others.
DESCRIBING = {"MANIFEST.tsv", "README.md"}


def _manifest() -> dict[str, tuple[int, str]]:
    lines = MANIFEST.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "path\tbytes\tsha256"
    rows = {}
    for line in lines[1:]:
        path, size, sha256 = line.split("\t")
        assert path not in rows, f"{path} listed twice"
        rows[path] = (int(size), sha256)
    return rows


def _files_on_disk() -> set[str]:
    return {
        p.relative_to(TEST_DATA).as_posix()
        for p in TEST_DATA.rglob("*")
        if p.is_file() and p.relative_to(TEST_DATA).as_posix() not in DESCRIBING
    }


def test_every_file_is_listed_in_the_manifest_and_every_listed_file_exists():
    listed = set(_manifest())
    on_disk = _files_on_disk()
    assert on_disk - listed == set(), "files missing from tests/data/MANIFEST.tsv"
    assert listed - on_disk == set(), "MANIFEST.tsv lists files that are not in tests/data"


def test_every_file_has_the_manifest_bytes_and_sha256():
    for path, (size, sha256) in _manifest().items():
        data = (TEST_DATA / path).read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (size, sha256), path


def test_every_file_has_a_readme_row_with_its_bytes_and_sha256():
    rows = {}
    for line in README.read_text(encoding="utf-8").splitlines():
        if m := re.match(r"\| `([^`]+)` \|", line):
            rows[m.group(1)] = line
    for path, (size, sha256) in _manifest().items():
        assert path in rows, f"tests/data/README.md has no row for {path}"
        cells = [c.strip() for c in rows[path].split("|")]
        assert f"`{sha256}`" in cells, f"README row of {path} lacks its sha256"
        assert any(c.startswith(f"{size:,}") for c in cells), f"README row of {path}: bytes"
    assert set(rows) <= set(_manifest()), "README rows for files that are not in tests/data"


def test_the_suite_reads_the_vendored_files():
    # What tests/conftest.py hands out: the 5 WET files, the 11 broken ones, the C4 sample.
    assert [p.name for p in REAL_WET] == [
        "CC-MAIN-2014-35.npm-warc.warc.wet.gz",
        "CC-MAIN-2016-50.excerpt-25.warc.wet.gz",
        "CC-MAIN-2016-50.excerpt-5.warc.wet.gz",
        "CC-MAIN-2024-22.whirlwind.warc.wet.gz",
        "CC-MAIN-2026-12.excerpt-262.warc.wet.gz",
    ]
    assert len(EDGE_WET) == 11
    listed = set(_manifest())
    for path in [*REAL_WET, *EDGE_WET, C4_SAMPLE]:
        assert path.relative_to(TEST_DATA).as_posix() in listed


# Files that run code or configure it: none may reach beside the repository for data.
_CODE_SUFFIXES = {".py", ".sh", ".toml", ".cfg", ".ini"}
_CODE_NAMES = {"Makefile", "run"}
_SKIP_DIRS = {
    ".git",
    ".venv",
    ".cache",
    "c4-output",
    "node_modules",
    "__pycache__",
    "build",
    "dist",
}
# Spelled in pieces so that a grep of the tree for these strings finds no hit in this file.
_OUTSIDE = re.compile("|".join([r"\.\./" + "shared", "C4_" + "SHARED", "shared" + "/data"]))


def _code_files() -> list[Path]:
    found = []
    for root, dirs, files in os.walk(REPO):
        dirs[:] = [
            d
            for d in dirs
            if d not in _SKIP_DIRS
            and not d.endswith(".egg-info")
            and (d == ".ci" or not d.startswith("."))
        ]
        for name in files:
            path = Path(root) / name
            if path.suffix in _CODE_SUFFIXES or name in _CODE_NAMES:
                found.append(path)
    return found


def test_no_code_reads_data_from_beside_the_repository():
    this = Path(__file__).resolve()
    files = [p for p in _code_files() if p.resolve() != this]
    assert REPO / "Makefile" in files and REPO / ".ci" / "run" in files
    offenders = []
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if _OUTSIDE.search(line):
                offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert offenders == [], "\n".join(offenders)
