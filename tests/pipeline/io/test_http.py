"""pipeline.io.http against a real server on 127.0.0.1 injecting each fault."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from pipeline.io.http import FetchError, FetchPolicy, HttpFetcher
from tests.conftest import REAL_WET
from tests.pipeline.io.fault_server import FaultServer, fault_server

FAST = FetchPolicy(max_concurrent=4, max_attempts=4, base_delay_s=0.01, max_delay_s=0.05)
DATA = REAL_WET[0].read_bytes()


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with fault_server() as s:
        s.files["/f.wet.gz"] = DATA
        yield s


def fetch(server: FaultServer, policy: FetchPolicy = FAST) -> tuple[bytes, int]:
    with HttpFetcher(policy).open(server.url + "/f.wet.gz") as stream:
        # Small reads, as a parser reads: a failure in mid-body must resume, not restart.
        chunks = iter(lambda: stream.read(1000), b"")
        return b"".join(chunks), stream.retries


def test_plain_download(server: FaultServer) -> None:
    assert fetch(server) == (DATA, 0)
    assert server.requests_for("/f.wet.gz") == [None]


@pytest.mark.parametrize("fault", ["429", "503"])
def test_throttled_then_served(server: FaultServer, fault: str) -> None:
    server.faults["/f.wet.gz"] = [fault, fault]
    assert fetch(server) == (DATA, 2)
    assert server.requests_for("/f.wet.gz") == [None, None, None]


def test_truncated_body_resumes_where_it_stopped(server: FaultServer) -> None:
    server.faults["/f.wet.gz"] = ["truncate"]
    assert fetch(server) == (DATA, 1)
    # The second request asks only for what is missing.
    assert server.requests_for("/f.wet.gz") == [None, f"bytes={len(DATA) // 2}-"]


def test_reset_body_resumes(server: FaultServer) -> None:
    server.faults["/f.wet.gz"] = ["reset"]
    assert fetch(server) == (DATA, 1)
    # A reset may discard bytes the client had not read yet: it resumes from what it got.
    first, second = server.requests_for("/f.wet.gz")
    assert first is None
    assert second is None or 0 < int(second[6:-1]) <= len(DATA) // 2


def test_resume_when_the_server_ignores_range(server: FaultServer) -> None:
    server.faults["/f.wet.gz"] = ["truncate", "ignore_range"]
    assert fetch(server) == (DATA, 1)


def test_permanent_404_fails_at_once(server: FaultServer) -> None:
    server.faults["/f.wet.gz"] = ["404"]
    with pytest.raises(FetchError) as failure:
        fetch(server)
    assert failure.value.reason.startswith("download_failed: HTTP 404 ")
    assert len(server.requests_for("/f.wet.gz")) == 1


def test_gives_up_after_the_attempts(server: FaultServer) -> None:
    server.faults["/f.wet.gz"] = ["503"] * 10
    with pytest.raises(FetchError) as failure:
        fetch(server)
    assert failure.value.reason.startswith("download_failed: HTTP 503 SlowDown after 4 attempts")
    assert len(server.requests_for("/f.wet.gz")) == 4


def test_gives_up_on_a_body_that_keeps_breaking(server: FaultServer) -> None:
    server.faults["/f.wet.gz"] = ["truncate"] + ["503"] * 10
    with pytest.raises(FetchError) as failure:
        fetch(server)
    # Failures after the first half arrived: the error carries where it stopped.
    assert failure.value.offset == len(DATA) // 2
    assert "after 4 attempts" in failure.value.reason


def test_connection_refused_is_retried_then_fails() -> None:
    with fault_server() as s:
        url = s.url
    with pytest.raises(FetchError) as failure:
        HttpFetcher(FAST).open(url + "/gone.wet.gz")
    assert failure.value.reason.startswith("download_failed: connection broken: ")


def test_backoff_grows_with_jitter_and_a_cap() -> None:
    import random

    policy = FetchPolicy(base_delay_s=1.0, max_delay_s=8.0)
    rng = random.Random(0)
    waits = [policy.backoff(n, rng) for n in (1, 2, 3, 4, 5, 6)]
    for n, wait in zip((1, 2, 3, 4, 5, 6), waits, strict=True):
        ceiling = min(8.0, 2.0 ** (n - 1))
        assert ceiling / 2 <= wait <= ceiling
    assert len({round(w, 6) for w in waits}) == len(waits)


def test_concurrency_cap_is_a_real_bound(server: FaultServer) -> None:
    cap = 2
    for i in range(8):
        server.files[f"/{i}.wet.gz"] = DATA
        server.faults[f"/{i}.wet.gz"] = ["slow"]
    # Each thread has its own fetcher, as each DoFn instance does: the cap is per process.
    policy = FetchPolicy(max_concurrent=cap, base_delay_s=0.01)
    results: list[bytes] = []

    def get(i: int) -> None:
        results.append(HttpFetcher(policy).get_bytes(f"{server.url}/{i}.wet.gz"))

    threads = [threading.Thread(target=get, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [DATA] * 8
    assert server.max_in_flight == cap
