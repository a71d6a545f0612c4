"""The fault proxy in front of the GCS emulator (``tests/pipeline/io/gcs_proxy.py``): truncated
bodies, stalls, and generation preconditions enforced as GCS enforces them.

Real emulator, real proxy, the real ``google-cloud-storage`` client where it has the call, raw
HTTP where the test needs to see the bytes on the wire.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
import uuid
from urllib.parse import quote, urlsplit

import google.cloud.storage as storage
import pytest
from google.api_core.exceptions import NotFound, PreconditionFailed

from tests.pipeline.io.gcs_proxy import GcsProxy, holds

DATA = bytes(range(256)) * 40  # 10,240 bytes


def _bucket() -> storage.Bucket:
    client = storage.Client.create_anonymous_client()
    client.project = "test"
    return client.create_bucket(f"proxy-{uuid.uuid4().hex[:10]}")


def _get(
    proxy: GcsProxy, bucket: str, name: str, headers: dict[str, str] | None = None, timeout=10.0
) -> tuple[int, int, bytes]:
    """(status, Content-Length, body bytes received) of a media download through the proxy."""
    parts = urlsplit(proxy.url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    try:
        conn.request(
            "GET",
            f"/download/storage/v1/b/{bucket}/o/{quote(name, safe='')}?alt=media",
            headers=headers or {},
        )
        answer = conn.getresponse()
        length = int(answer.getheader("Content-Length") or -1)
        try:
            body = answer.read()
        except http.client.IncompleteRead as exc:
            body = exc.partial
        return answer.status, length, body
    finally:
        conn.close()


def test_truncate_sends_half_the_body_then_closes(gcs_proxy: GcsProxy) -> None:
    bucket = _bucket()
    bucket.blob("a/x.wet.gz").upload_from_string(DATA)
    gcs_proxy.fail("truncate", path=r"/download/", times=1)
    assert _get(gcs_proxy, bucket.name, "a/x.wet.gz") == (200, len(DATA), DATA[: len(DATA) // 2])
    assert _get(gcs_proxy, bucket.name, "a/x.wet.gz") == (200, len(DATA), DATA)  # once only


def test_truncate_at_an_offset_holds_for_ranges_too(gcs_proxy: GcsProxy) -> None:
    bucket = _bucket()
    bucket.blob("x").upload_from_string(DATA)
    gcs_proxy.fail("truncate:3000", path=r"/download/")
    assert _get(gcs_proxy, bucket.name, "x") == (200, len(DATA), DATA[:3000])
    status, length, body = _get(gcs_proxy, bucket.name, "x", {"Range": "bytes=1000-"})
    assert (status, length, body) == (206, len(DATA) - 1000, DATA[1000:3000])
    # A download resumed past the cut never gets a byte more: it "always truncates".
    assert _get(gcs_proxy, bucket.name, "x", {"Range": "bytes=3000-"})[2] == b""


def test_stall_holds_the_answer_then_sends_it(gcs_proxy: GcsProxy) -> None:
    bucket = _bucket()
    bucket.blob("x").upload_from_string(DATA)
    gcs_proxy.fail("stall:1.5", path=r"/download/", times=2)
    started = time.monotonic()
    with pytest.raises((socket.timeout, TimeoutError)):  # a client that waits less gives up
        _get(gcs_proxy, bucket.name, "x", timeout=0.3)
    assert time.monotonic() - started < 1.0
    started = time.monotonic()
    assert _get(gcs_proxy, bucket.name, "x") == (200, len(DATA), DATA)
    assert time.monotonic() - started >= 1.5


def test_unknown_faults_are_refused(gcs_proxy: GcsProxy) -> None:
    for fault in ("stall", "stall:x", "truncate:-1", "418"):
        with pytest.raises(ValueError, match="unknown fault"):
            gcs_proxy.fail(fault)


def test_if_generation_match_0_creates_only_once(gcs_proxy: GcsProxy) -> None:
    bucket = _bucket()
    assert gcs_proxy.generation(bucket.name, "lock") == 0
    blob = bucket.blob("lock")
    blob.upload_from_string(b"one", if_generation_match=0)
    assert gcs_proxy.generation(bucket.name, "lock") == blob.generation
    with pytest.raises(PreconditionFailed):
        bucket.blob("lock").upload_from_string(b"two", if_generation_match=0)
    with pytest.raises(PreconditionFailed):  # a media (non-multipart) upload too
        bucket.blob("lock").upload_from_string(
            b"two", if_generation_match=(blob.generation or 0) + 1
        )
    assert bucket.blob("lock").download_as_bytes() == b"one"
    # The right generation replaces it; then the old generation no longer matches.
    bucket.blob("lock").upload_from_string(b"three", if_generation_match=blob.generation)
    with pytest.raises(PreconditionFailed):
        bucket.blob("lock").upload_from_string(b"four", if_generation_match=blob.generation)
    assert bucket.blob("lock").download_as_bytes() == b"three"
    assert len(gcs_proxy.refused) == 3


def test_of_racing_creators_exactly_one_wins(gcs_proxy: GcsProxy) -> None:
    bucket = _bucket()
    won: list[int] = []
    lost: list[int] = []
    gate = threading.Barrier(8)

    def create(n: int) -> None:
        gate.wait()
        try:
            bucket.blob("lock").upload_from_string(str(n).encode(), if_generation_match=0)
            won.append(n)
        except PreconditionFailed:
            lost.append(n)

    threads = [threading.Thread(target=create, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(won) == 1 and len(lost) == 7
    assert bucket.blob("lock").download_as_bytes() == str(won[0]).encode()


def test_delete_and_patch_preconditions(gcs_proxy: GcsProxy) -> None:
    bucket = _bucket()
    blob = bucket.blob("x")
    blob.upload_from_string(b"x")
    generation = blob.generation or 0
    with pytest.raises(PreconditionFailed):
        bucket.blob("x").delete(if_generation_match=generation + 1)
    with pytest.raises(PreconditionFailed):
        bucket.blob("x").delete(if_generation_not_match=generation)
    blob.metadata = {"k": "v"}
    with pytest.raises(PreconditionFailed):
        blob.patch(if_metageneration_match=7)
    blob.patch(if_metageneration_match=blob.metageneration)
    assert bucket.get_blob("x").metadata == {"k": "v"}
    bucket.blob("x").delete(if_generation_match=generation)
    with pytest.raises(NotFound):  # a missing object is the emulator's 404, not a 412
        bucket.blob("x").delete(if_generation_match=generation)


def test_copy_compose_and_rewrite_destinations(gcs_proxy: GcsProxy) -> None:
    bucket = _bucket()
    source = bucket.blob("src")
    source.upload_from_string(b"abc")
    bucket.blob("dst").upload_from_string(b"old")
    with pytest.raises(PreconditionFailed):
        bucket.copy_blob(source, bucket, "dst", if_generation_match=0)
    with pytest.raises(PreconditionFailed):
        bucket.copy_blob(source, bucket, "new", if_source_generation_match=1)
    bucket.copy_blob(source, bucket, "new", if_generation_match=0)
    assert bucket.blob("new").download_as_bytes() == b"abc"
    with pytest.raises(PreconditionFailed):
        bucket.blob("dst").compose([source, source], if_generation_match=0)
    bucket.blob("both").compose([source, source], if_generation_match=0)
    assert bucket.blob("both").download_as_bytes() == b"abcabc"
    with pytest.raises(PreconditionFailed):
        bucket.blob("dst").rewrite(source, if_generation_match=0)
    assert bucket.blob("dst").download_as_bytes() == b"old"


def test_a_resumable_upload_checks_its_preconditions_at_each_chunk(gcs_proxy: GcsProxy) -> None:
    bucket = _bucket()
    session = bucket.blob("big").create_resumable_upload_session(if_generation_match=0)
    bucket.blob("big").upload_from_string(b"someone else")  # between start and data
    parts = urlsplit(session)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    conn.request("PUT", f"{parts.path}?{parts.query}", body=DATA)
    assert conn.getresponse().status == 412
    conn.close()
    assert bucket.blob("big").download_as_bytes() == b"someone else"
    assert [m for m, p in gcs_proxy.refused] == ["PUT"]  # the session's URL names the proxy
    # Without a competitor the same kind of upload goes through.
    blob = bucket.blob("big2")
    blob.chunk_size = 256 * 1024
    payload = DATA * 60  # 614,400 bytes: three chunks
    blob.upload_from_string(payload, if_generation_match=0)
    assert bucket.blob("big2").download_as_bytes() == payload
    with pytest.raises(PreconditionFailed):
        blob.upload_from_string(payload, if_generation_match=0)


@pytest.mark.parametrize(
    ("condition", "value", "live", "creates", "expected"),
    [
        ("ifGenerationMatch", 0, None, True, True),
        ("ifGenerationMatch", 0, (5, 1), True, False),
        ("ifGenerationMatch", 5, (5, 1), False, True),
        ("ifGenerationMatch", 5, None, False, False),
        ("ifGenerationNotMatch", 0, None, True, False),
        ("ifGenerationNotMatch", 0, (5, 1), False, True),
        ("ifMetagenerationMatch", 2, (5, 2), False, True),
        ("ifMetagenerationNotMatch", 2, (5, 2), False, False),
        ("ifSourceGenerationMatch", 5, (5, 1), False, True),
    ],
)
def test_holds(
    condition: str, value: int, live: tuple[int, int] | None, creates: bool, expected: bool
) -> None:
    assert holds(condition, value, live, creates) is expected
