"""Deterministic WET corpora of any size, resampled from the real records in tests/data.

Synthetic-from-real: every page is a real page (a Common Crawl WET conversion record from
``tests/data/wet/``, or now and then a real C4 document from ``tests/data/c4/``) whose lines are
lightly perturbed so they stay unique, plus controlled rates of

* duplicate lines: a line replaced by one from a fixed pool of real lines (boilerplate-like
  repeats, the input of cross-document line dedup), and
* duplicate URLs: a page given an earlier page's URL in another spelling that ``normalize_url``
  folds (scheme, ``www.``, trailing ``/``, ``?utm_``), with another or the same ``WARC-Date``.

Records look like Common Crawl's: a ``warcinfo`` record, then ``conversion`` records with
``WARC-Target-URI``, ``WARC-Date``, unique ``WARC-Record-ID``/``WARC-Refers-To`` UUIDs,
``WARC-Block-Digest``, ``Content-Type: text/plain`` and an exact ``Content-Length``; one gzip
member per record, ``\\r\\n`` header lines. Same arguments give a byte-identical file.

    python benchmarks/corpus.py --mb 85 --seed 0 -o /tmp/corpus-85.warc.wet.gz
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import json
import os
import random
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parent.parent
# The vendored real data (tests/data/README.md); the same files the tests read.
TEST_DATA = REPO / "tests" / "data"
WET_DIR = TEST_DATA / "wet"
C4_SAMPLE = TEST_DATA / "c4" / "c4-en.olmo-sample-1000.json.gz"

DEFAULT_DUP_LINE_RATE = 0.03
DEFAULT_DUP_URL_RATE = 0.02
DEFAULT_C4_SHARE = 0.1
BOILERPLATE_POOL = 2000
# The crawl window the dates are drawn from (C4's CC-MAIN-2019-18 ran over about ten days).
_EPOCH_2019_04_18 = 1555545600
_WINDOW_SECONDS = 10 * 86400


@dataclass(frozen=True)
class Source:
    """A real page: URL, body lines, its word vocabulary, and its identified language header."""

    url: str
    lines: tuple[str, ...]
    vocabulary: tuple[str, ...]
    language: str


def _members(data: bytes) -> Iterator[bytes]:
    """The records of a decompressed WET file, cut at ``WARC/1.0`` lines."""
    marker = b"WARC/1.0\r\n"
    starts = []
    pos = data.find(marker)
    while pos != -1:
        if pos == 0 or data[pos - 1 : pos] == b"\n":
            starts.append(pos)
        pos = data.find(marker, pos + 1)
    for a, b in zip(starts, [*starts[1:], len(data)], strict=True):
        yield data[a:b]


def _source_from_record(record: bytes) -> Source | None:
    head, sep, body = record.partition(b"\r\n\r\n")
    if not sep:
        return None
    headers = {}
    for line in head.decode("utf-8", "replace").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        headers[name.strip()] = value.strip()
    if headers.get("WARC-Type") != "conversion" or not headers.get("WARC-Target-URI"):
        return None
    try:
        text = body.rstrip(b"\r\n").decode("utf-8")
    except UnicodeDecodeError:
        return None
    lines = tuple(text.split("\n"))
    return _source(
        headers["WARC-Target-URI"], lines, headers.get("WARC-Identified-Content-Language", "")
    )


def _source(url: str, lines: tuple[str, ...], language: str) -> Source:
    words = sorted({w for line in lines for w in line.split()})
    return Source(url, lines, tuple(words), language)


def load_sources(
    wet_dir: Path = WET_DIR, c4_sample: Path = C4_SAMPLE
) -> tuple[list[Source], list[Source]]:
    """The real pages to resample: WET conversion records, and C4 documents (may be empty)."""
    wet = []
    for path in sorted(wet_dir.glob("*.warc.wet.gz")):
        with gzip.open(path, "rb") as f:
            data = f.read()
        for record in _members(data):
            src = _source_from_record(record)
            if src is not None and any(src.lines):
                wet.append(src)
    c4 = []
    if c4_sample.is_file():
        with gzip.open(c4_sample, "rt", encoding="utf-8") as f:
            for line in f:
                doc = json.loads(line)
                c4.append(_source(doc["url"], tuple(doc["text"].split("\n")), "eng"))
    if not wet:
        raise SystemExit(f"no WET records found under {wet_dir}")
    return wet, c4


def _perturb(line: str, vocabulary: tuple[str, ...], rng: random.Random) -> str:
    """Replace two inner words by words of the same page, so the line stays real-looking.

    The last word (which carries the end mark clean_page tests) is never touched; lines of fewer
    than three words stay as they are.
    """
    words = line.split(" ")
    inner = [i for i, w in enumerate(words[:-1]) if w]
    if len(inner) < 2 or not vocabulary:
        return line
    for i in rng.sample(inner, 2):
        words[i] = vocabulary[rng.randrange(len(vocabulary))]
    return " ".join(words)


def _url_variant(url: str, rng: random.Random) -> str:
    """Another spelling of ``url`` that C4's ``normalize_url`` maps to the same key."""
    parts = urlsplit(url)
    scheme, netloc, path, query = parts.scheme, parts.netloc, parts.path, parts.query
    choice = rng.randrange(4)
    if choice == 0:
        scheme = "https" if scheme == "http" else "http"
    elif choice == 1:
        netloc = netloc[4:] if netloc.startswith("www.") else f"www.{netloc}"
    elif choice == 2 and not query:
        path = path.rstrip("/") + "/"
    elif not query:
        query = "utm_source=feed"
    return urlunsplit((scheme, netloc, path, query, ""))


def _unique_url(url: str, index: int) -> str:
    parts = urlsplit(url)
    path = f"/{index:07x}{parts.path if parts.path.startswith('/') else '/' + parts.path}"
    return urlunsplit(
        (parts.scheme or "http", parts.netloc or "example.com", path, parts.query, "")
    )


def _timestamp(seconds: int) -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _uuid(seed: int, index: int, kind: str) -> str:
    digest = hashlib.sha256(f"{seed}:{index}:{kind}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def _record(headers: list[tuple[str, str]], body: bytes) -> bytes:
    head = "\r\n".join(["WARC/1.0", *(f"{k}: {v}" for k, v in headers)])
    return head.encode("utf-8") + b"\r\n\r\n" + body + b"\r\n\r\n"


def _member(record: bytes) -> bytes:
    # mtime=0 and no file name: the bytes depend on the record only.
    return gzip.compress(record, compresslevel=6, mtime=0)


def generate(
    target_bytes: int,
    seed: int = 0,
    dup_line_rate: float = DEFAULT_DUP_LINE_RATE,
    dup_url_rate: float = DEFAULT_DUP_URL_RATE,
    c4_share: float = DEFAULT_C4_SHARE,
    sources: tuple[list[Source], list[Source]] | None = None,
) -> Iterator[bytes]:
    """Gzip members (one record each) until ``target_bytes`` of decompressed WET are produced."""
    rng = random.Random(seed)
    wet, c4 = sources if sources is not None else load_sources()
    pool_lines = [line for src in wet + c4 for line in src.lines if len(line) >= 20]
    boilerplate = [pool_lines[rng.randrange(len(pool_lines))] for _ in range(BOILERPLATE_POOL)]
    info_body = (
        "Software-Info: c4-pipeline benchmarks/corpus.py\r\n"
        f"isPartOf: synthetic-from-real (seed {seed})\r\n"
        "description: pages resampled from tests/data/ (Common Crawl WET and C4 samples)\r\n"
    ).encode()
    info = _record(
        [
            ("WARC-Type", "warcinfo"),
            ("WARC-Date", _timestamp(_EPOCH_2019_04_18)),
            ("WARC-Filename", f"synthetic-{seed}.warc.wet.gz"),
            ("WARC-Record-ID", f"<urn:uuid:{_uuid(seed, 0, 'info')}>"),
            ("Content-Type", "application/warc-fields"),
            ("Content-Length", str(len(info_body))),
        ],
        info_body,
    )
    produced = len(info)
    yield _member(info)
    earlier: list[tuple[str, str]] = []
    index = 0
    while produced < target_bytes:
        index += 1
        src = (
            c4[rng.randrange(len(c4))]
            if c4 and rng.random() < c4_share
            else wet[rng.randrange(len(wet))]
        )
        date = _timestamp(_EPOCH_2019_04_18 + rng.randrange(_WINDOW_SECONDS))
        if earlier and rng.random() < dup_url_rate:
            prev_url, prev_date = earlier[rng.randrange(len(earlier))]
            url = _url_variant(prev_url, rng)
            if rng.random() < 0.25:
                date = prev_date  # a timestamp tie: 3.1.0 keeps the first in input order
        else:
            url = _unique_url(src.url, index)
            earlier.append((url, date))
        lines = []
        for line in src.lines:
            if rng.random() < dup_line_rate:
                lines.append(boilerplate[rng.randrange(len(boilerplate))])
            else:
                lines.append(_perturb(line, src.vocabulary, rng))
        body = "\n".join(lines).encode("utf-8")
        digest = base64.b32encode(hashlib.sha1(body).digest()).decode("ascii")
        headers = [
            ("WARC-Type", "conversion"),
            ("WARC-Target-URI", url),
            ("WARC-Date", date),
            ("WARC-Record-ID", f"<urn:uuid:{_uuid(seed, index, 'record')}>"),
            ("WARC-Refers-To", f"<urn:uuid:{_uuid(seed, index, 'refers')}>"),
            ("WARC-Block-Digest", f"sha1:{digest}"),
        ]
        if src.language:
            headers.append(("WARC-Identified-Content-Language", src.language))
        headers += [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
        record = _record(headers, body)
        produced += len(record)
        yield _member(record)


def write_corpus(path: Path, mb: float, seed: int = 0, **kwargs: float) -> int:
    """Write a corpus of about ``mb`` MB (10^6 bytes) of decompressed WET; return that size."""
    total = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        for member in generate(int(mb * 1_000_000), seed, **kwargs):  # type: ignore[arg-type]
            f.write(member)
    os.replace(tmp, path)
    with gzip.open(path, "rb") as g:
        for block in iter(lambda: g.read(1 << 20), b""):
            total += len(block)
    return total


def split_corpus(path: Path, parts: int, out_dir: Path) -> list[Path]:
    """``path`` cut into ``parts`` WET files of about equal size, records in order.

    The same records in the same input order, as a crawl comes (many files): what a runner with
    several workers can read in parallel. Each record stays one gzip member.
    """
    # gzip.open streams the members; gzip.decompress is quadratic in their number on 3.11.
    with gzip.open(path, "rb") as f:
        records = list(_members(f.read()))
    out_dir.mkdir(parents=True, exist_ok=True)
    total = sum(map(len, records))
    paths, chunk, size = [], [], 0
    for record in records:
        chunk.append(record)
        size += len(record)
        if size >= total * (len(paths) + 1) / parts and len(paths) < parts - 1:
            paths.append(_write_part(out_dir, path, len(paths), chunk))
            chunk = []
    paths.append(_write_part(out_dir, path, len(paths), chunk))
    return paths


def _write_part(out_dir: Path, path: Path, index: int, records: list[bytes]) -> Path:
    name = path.name.replace(".warc.wet.gz", f".part{index:03d}.warc.wet.gz")
    part = out_dir / name
    part.write_bytes(b"".join(_member(r) for r in records))
    return part


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=float, required=True, help="decompressed WET MB (10^6 bytes)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--output", type=Path, required=True)
    ap.add_argument("--dup_line_rate", type=float, default=DEFAULT_DUP_LINE_RATE)
    ap.add_argument("--dup_url_rate", type=float, default=DEFAULT_DUP_URL_RATE)
    ap.add_argument("--c4_share", type=float, default=DEFAULT_C4_SHARE)
    args = ap.parse_args(argv)
    size = write_corpus(
        args.output,
        args.mb,
        args.seed,
        dup_line_rate=args.dup_line_rate,
        dup_url_rate=args.dup_url_rate,
        c4_share=args.c4_share,
    )
    print(
        f"{args.output}: {size:,} bytes of WET, {args.output.stat().st_size:,} gzipped",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
