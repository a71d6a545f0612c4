"""Remote inputs download in parallel, within ``--max_concurrent_downloads``: a throttled file
does not hold up the others, and what is built does not depend on which file arrived first.

Real ``c4 build`` on the DirectRunner, real HTTP server on 127.0.0.1 (fault_server.py), real
threads and temporary files for ``pipeline.io.prefetch``.
"""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.io.http import FetchError, FetchPolicy, HttpFetcher
from pipeline.io.prefetch import Prefetcher
from tests.conftest import REAL_WET, output_tree
from tests.pipeline.io.fault_server import FaultServer, fault_server

THROTTLE_S = 3.0
# What a build writes that depends on its input's contents only (config.json, run.json and the
# report name the inputs' URLs, which hold the server's port).
DATA = ("c4/", "parquet/", "lineage/", "dead_letter/", "stats.json")


def serve_eight(server: FaultServer) -> list[str]:
    urls = []
    for i in range(8):
        server.files[f"/{i}.warc.wet.gz"] = REAL_WET[i % len(REAL_WET)].read_bytes()
        urls.append(f"{server.url}/{i}.warc.wet.gz")
    return urls


def build(tmp: Path, name: str, throttle: bool) -> tuple[dict[str, bytes], list[str], float, int]:
    """The data files of a build of 8 files over HTTP, the server's finish order, the wall time
    and the most requests the server had open at once."""
    out = tmp / name
    with fault_server() as server:
        urls = serve_eight(server)
        if throttle:
            server.faults["/0.warc.wet.gz"] = [f"throttle:{THROTTLE_S}"]
        start = time.monotonic()
        assert main(["build", "--input", *urls, "--output", str(out)]) == 0
        wall = time.monotonic() - start
        order = [path for path, _ in sorted(server.finished, key=lambda f: f[1])]
        most = server.max_in_flight
    files = {rel: p.read_bytes() for rel, p in output_tree(out).items() if rel.startswith(DATA)}
    return files, order, wall, most


@pytest.mark.slow
def test_a_throttled_file_finishes_last_and_the_build_is_the_same(tmp_path: Path) -> None:
    throttled, order, wall, most = build(tmp_path, "throttled", throttle=True)
    plain, _, _, _ = build(tmp_path, "plain", throttle=False)
    # The other 7 downloads ended before the throttled one (server log), within the cap.
    assert order[-1] == "/0.warc.wet.gz" and sorted(order[:-1]) == [
        f"/{i}.warc.wet.gz" for i in range(1, 8)
    ]
    assert most <= 4  # --max_concurrent_downloads
    assert wall > THROTTLE_S
    # Byte for byte the build of the same files arriving in another order.
    assert any(name.endswith(".parquet") for name in plain) and "stats.json" in plain
    assert throttled == plain


def test_at_most_width_downloads_at_once(tmp_path: Path) -> None:
    with fault_server() as server:
        urls = serve_eight(server)
        for i in range(8):
            server.faults[f"/{i}.warc.wet.gz"] = ["slow"]
        fetcher = HttpFetcher(FetchPolicy(max_concurrent=8))
        downloads = Prefetcher(fetcher.open, width=3)
        got: dict[str, bytes] = {}
        for i, url in enumerate(urls):
            while downloads.full():
                key = downloads.next()
                assert key is not None
                with downloads.take(key) as stream:
                    got[key] = stream.read()
            downloads.start(str(i), url)
        while (key := downloads.next()) is not None:
            with downloads.take(key) as stream:
                got[key] = stream.read()
        assert server.max_in_flight == 3
    assert got == {str(i): server.files[f"/{i}.warc.wet.gz"] for i in range(8)}


class _Broken(io.RawIOBase):
    """A source that gives ``data`` then fails."""

    def __init__(self, data: bytes, error: Exception) -> None:
        self._data = io.BytesIO(data)
        self._error = error

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        block = self._data.read(size)
        if not block:
            raise self._error
        return block


def test_a_source_fails_in_the_reader_as_it_would_have_failed_in_place() -> None:
    refused = FetchError("download_failed: HTTP 404 x", 0)
    broken = FetchError("download_failed: truncated body", 5, 10)

    def opener(path: str) -> io.RawIOBase:
        if path == "refused":
            raise refused
        return _Broken(b"12345", broken)

    downloads = Prefetcher(opener, width=2)
    downloads.start("a", "refused")
    downloads.start("b", "broken")
    seen = []
    while (key := downloads.next()) is not None:
        try:
            with downloads.take(key) as stream:
                seen.append((key, stream.read(3), stream.read(10)))
                stream.read(1)
        except FetchError as exc:
            seen.append((key, exc))
    assert sorted(seen, key=lambda s: s[0]) == [("a", refused), ("b", b"123", b"45"), ("b", broken)]


def test_the_last_file_is_read_while_it_arrives() -> None:
    gate = threading.Event()

    class Slow(io.RawIOBase):
        def __init__(self) -> None:
            self._parts = [b"first ", b"second"]

        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            if len(self._parts) == 1:
                gate.wait(10)
            return self._parts.pop(0) if self._parts else b""

    downloads = Prefetcher(lambda path: Slow(), width=4)
    downloads.start("only", "x")
    assert downloads.next() == "only"  # not finished, but nothing else is left
    with downloads.take("only") as stream:
        assert stream.read(100) == b"first "
        gate.set()
        assert stream.read(100) == b"second"
        assert stream.read(100) == b""
