"""Builds with ``--record_drops`` on the real WET samples, and the pages they read, for the drops
and trace tests.

Besides ``tests/data/wet``, one more input: a WET file with one page longer than TFDS's 190,000
characters (none of the samples has one), made of real records only: the headers of the first
page of the 262-record excerpt (a new record id) and the texts of its pages, joined.
"""

from __future__ import annotations

import gzip
import re
import uuid
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from filters.records import Dropped, Page
from filters.spec import TFDS_MAX_PAGE_LENGTH, resolve_rules
from filters.urls import normalize_url
from filters.wet import iter_wet_path
from pipeline.cli import main
from pipeline.io.commit import output_files
from tests.conftest import REAL_WET

EXCERPT_262 = next(p for p in REAL_WET if "excerpt-262" in p.name)
LONG_URL = "http://long.example.org/all-the-pages"


def inputs(tmp: Path) -> dict[str, str]:
    """The real samples by short name (``npm``, ``25``, ``5``, ``whirlwind``), the 262-record
    one respelled (``262``, ``respelled_wet``) and the long page (``long``)."""
    names = {"npm-warc": "npm", "excerpt-25.": "25", "excerpt-5.": "5", "whirlwind": "whirlwind"}
    found = {short: str(p) for p in REAL_WET for part, short in names.items() if part in p.name}
    found["262"] = str(respelled_wet(tmp / "CC-MAIN-2026-12.respelled.warc.wet.gz")[0])
    found["long"] = str(long_page_wet(tmp / "CC-MAIN-long.warc.wet.gz"))
    assert len(found) == 6
    return found


def long_page_wet(path: Path) -> Path:
    """``path``: a warcinfo record and one conversion record of more than 190,000 characters."""
    rules = resolve_rules()
    pages = [p for p in iter_wet_path(str(EXCERPT_262), rules) if isinstance(p, Page)]
    text, used = "", 0
    while len(text) <= TFDS_MAX_PAGE_LENGTH:
        text += pages[used % len(pages)].text + "\n"
        used += 1
    record_id = uuid.uuid5(uuid.NAMESPACE_URL, LONG_URL)
    body = text.encode("utf-8")
    head = (
        "WARC/1.0\r\nWARC-Type: conversion\r\n"
        f"WARC-Target-URI: {LONG_URL}\r\n"
        f"WARC-Date: {pages[0].timestamp}\r\n"
        f"WARC-Record-ID: <urn:uuid:{record_id}>\r\n"
        f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    info = b"WARC/1.0\r\nWARC-Type: warcinfo\r\nContent-Length: 0\r\n\r\n\r\n\r\n"
    path.write_bytes(
        gzip.compress(info, mtime=0) + gzip.compress(head + body + b"\r\n\r\n", mtime=0)
    )
    return path


# Conversion records of the 262-record excerpt, (given the URL of, whose URL): pages c4 en keeps.
RESPELLED = ((44, 45), (71, 72), (81, 82), (91, 92))


def respelled_wet(path: Path) -> tuple[Path, list[tuple[str, str]]]:
    """The 262-record excerpt, with the first page of each ``RESPELLED`` pair given the second's
    URL respelled (https, ``www.``, a ``utm_`` query: one normalized URL), as a crawl that
    fetched a page twice under two spellings gives: real records, and URL dedup's keeper rule
    decides (the newer one)."""
    data = gzip.decompress(EXCERPT_262.read_bytes())
    members = re.split(rb"(?=WARC/1\.0\r\n)", data)
    uri = re.compile(rb"WARC-Target-URI: ([^\r\n]*)\r\n")
    conversions = [i for i, m in enumerate(members) if b"WARC-Type: conversion" in m]
    moved = []
    for first, second in RESPELLED:
        target, source = conversions[first], conversions[second]
        found = uri.search(members[source])
        assert found is not None
        url = found.group(1).decode()
        host_path = url.split("://", 1)[1].removeprefix("www.")
        spelled = f"https://www.{host_path}" + ("" if "?" in host_path else "?utm_source=c4")
        line = b"WARC-Target-URI: " + spelled.encode() + b"\r\n"
        members[target] = uri.sub(lambda _, line=line: line, members[target], 1)
        assert normalize_url(spelled) == normalize_url(url)
        moved.append((spelled, url))
    path.write_bytes(b"".join(gzip.compress(m, mtime=0) for m in members if m))
    return path, moved


def build(out: Path, inputs: list[str], *extra: str) -> Path:
    """``c4 build --record_drops`` of ``inputs`` into ``out`` (``extra``: more flags)."""
    assert main(["build", "--input", *inputs, "--output", str(out), "--record_drops", *extra]) == 0
    return out


def drops(out: Path) -> list[dict[str, Any]]:
    """Every row of ``out/drops/``, file by file."""
    rows: list[dict[str, Any]] = []
    for path in sorted((out / "drops").glob("part-*.parquet")):
        rows.extend(pq.read_table(path).to_pylist())
    return rows


def kept(out: Path) -> list[dict[str, Any]]:
    """The kept documents (the Parquet rows: text and provenance)."""
    rows: list[dict[str, Any]] = []
    for path in sorted((out / "parquet").glob("*/*.parquet")):
        rows.extend(pq.read_table(path).to_pylist())
    return rows


def records(inputs: list[str], version: str = "3.1.0") -> dict[tuple[str, int], Page | Dropped]:
    """Every page and dropped record of ``inputs`` as the parser reads them, by source record."""
    rules = resolve_rules("en", version)
    out: dict[tuple[str, int], Page | Dropped] = {}
    for index, path in enumerate(inputs):
        for item in iter_wet_path(path, rules, file_index=index):
            if isinstance(item, Page | Dropped):
                out[(item.source_file, item.record_offset)] = item
    return out


def tree(out: Path) -> dict[str, bytes]:
    """The committed files of a DIR by relative path, but ``run.json``."""
    return {
        rel: Path(path).read_bytes()
        for rel, path in output_files(str(out)).items()
        if rel != "run.json"
    }
