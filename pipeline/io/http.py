"""Streaming downloads (``https://``, ``gs://``) that survive throttling, resets and truncated
bodies.

Common Crawl throttles (429, or S3's ``503 SlowDown``) and drops connections under load; a
Dataflow job with hundreds of workers sees that on every run. ``HttpFetcher.open(url)`` returns a
read-only stream of the file as stored (no content decoding, so gzip member offsets stay those
of the file) that, when a request fails, waits (exponential backoff with jitter, or the
server's ``Retry-After``) and resumes where it stopped with a ``Range`` request, so the reader
above never sees the failure and never gets a byte twice. Past the retries, ``FetchError``
carries a short reason for the dead-letter output, and the file's size where it is known
(``Content-Length``, else a ``HEAD``), so the dead letter says how many bytes were lost.

A body that ends with no ``Content-Length`` to check it against is checked with a ``HEAD``: a
download cut short there is resumed like any other, not taken for a shorter file.

A ``gs://`` object is fetched the same way, from the JSON API's media endpoint
(``pipeline.io.gcs``: the emulator's under ``STORAGE_EMULATOR_HOST``, with the job's credentials
on GCS), so one policy (``--download_attempts``, the backoff) and one kind of dead letter serve
every remote source; its size, where a request must ask, comes from the object's metadata, else
from the listing that named it at launch.

At most ``FetchPolicy.max_concurrent`` requests are open at once in a process, whatever the
number of threads and DoFn instances in it: the slots are a process-wide semaphore. A stream
holds its slot from ``open`` until it is closed or exhausted.
"""

from __future__ import annotations

import email.utils
import http.client
import io
import json
import os
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import urllib3
from urllib3.exceptions import HTTPError as Urllib3Error

from pipeline.io import gcs

# Worth retrying: throttling, timeouts and server errors; anything else (404, 403) is final.
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_RANGE_TOTAL = re.compile(r"bytes (\d+)-\d+/(\d+|\*)")
_S3_CODE = re.compile(rb"<Code>([A-Za-z]+)</Code>")
# GCS's JSON errors: {"error": {"errors": [{"reason": "backendError", ...}], ...}}
_GCS_REASON = re.compile(rb'"reason"\s*:\s*"([A-Za-z]+)"')
_ERROR_BODY_BYTES = 1024
REASON_PREFIX = "download_failed"
# A HEAD only asks for a size: it must not hold up a download that failed already.
HEAD_TIMEOUT_S = 10.0
# The defaults of ``FetchPolicy.base_delay_s`` and ``read_timeout_s``, in seconds, where a test
# (or an operator) needs them shorter than a crawl does; the flags cover the rest.
BACKOFF_ENV = "C4_DOWNLOAD_BACKOFF_S"
READ_TIMEOUT_ENV = "C4_DOWNLOAD_READ_TIMEOUT_S"
# Where a dead letter says the expected size came from.
SIZE_FROM_SERVER = "the server"
SIZE_FROM_LISTING = "the listing"


def _env_seconds(name: str, default: float) -> float:
    """A positive number of seconds from the environment, else ``default``."""
    try:
        value = float(os.environ.get(name) or default)
    except ValueError:
        return default
    return value if value > 0 else default


@dataclass(frozen=True)
class FetchPolicy:
    """How downloads behave; picklable, so a DoFn can carry it to the workers.

    Attributes:
        max_concurrent: requests open at once per worker process.
        max_attempts: tries of one request before giving up; the count restarts whenever
            bytes arrive, so a long download on a flaky link keeps resuming.
        base_delay_s: first backoff; doubles per failure up to ``max_delay_s`` (default 1, or
            ``C4_DOWNLOAD_BACKOFF_S``).
        max_delay_s: longest wait, also the cap on a server's ``Retry-After``.
        connect_timeout_s: seconds to open a connection.
        read_timeout_s: seconds without a byte before the connection counts as broken (default
            120, or ``C4_DOWNLOAD_READ_TIMEOUT_S``).
        impersonate: the account ``gs://`` requests act as (``--impersonate_service_account``,
            ``pipeline.io.gcs.impersonation_of``); "" for the credentials themselves.
    """

    max_concurrent: int = 4
    max_attempts: int = 8
    base_delay_s: float = field(default_factory=lambda: _env_seconds(BACKOFF_ENV, 1.0))
    max_delay_s: float = 60.0
    connect_timeout_s: float = 30.0
    read_timeout_s: float = field(default_factory=lambda: _env_seconds(READ_TIMEOUT_ENV, 120.0))
    impersonate: str = ""

    def __post_init__(self) -> None:
        if self.max_concurrent < 1 or self.max_attempts < 1:
            raise ValueError("max_concurrent and max_attempts must be at least 1")

    def backoff(self, failures: int, rng: random.Random) -> float:
        """Seconds to wait after the ``failures``-th failure in a row: half fixed, half jitter.

        The jitter keeps workers throttled at the same moment from retrying in lockstep.
        """
        ceiling = min(self.max_delay_s, self.base_delay_s * 2 ** (failures - 1))
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


class FetchError(IOError):
    """A download that failed for good; ``reason`` is what the dead letter records.

    ``offset``: bytes received before the failure; ``expected``: the file's size, if known;
    ``size_from``: who gave that size (``SIZE_FROM_SERVER``, ``SIZE_FROM_LISTING``);
    ``status``: the HTTP status of a final refusal (404, 403...), None after retries.
    """

    def __init__(
        self,
        reason: str,
        offset: int = 0,
        expected: int | None = None,
        size_from: str = SIZE_FROM_SERVER,
        status: int | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.offset = offset
        self.expected = expected
        self.size_from = size_from
        self.status = status


class _Retryable(Exception):
    """One failed request that may succeed when tried again."""

    def __init__(self, what: str, retry_after: float | None = None) -> None:
        super().__init__(what)
        self.what = what
        self.retry_after = retry_after


_SLOTS_LOCK = threading.Lock()
# Process-wide on purpose: Beam runs many DoFn instances and threads per worker process, and the
# cap must bound all of their requests together.
_SLOTS: dict[int, threading.BoundedSemaphore] = {}


def _slots(max_concurrent: int) -> threading.BoundedSemaphore:
    with _SLOTS_LOCK:
        slots = _SLOTS.get(max_concurrent)
        if slots is None:
            slots = _SLOTS[max_concurrent] = threading.BoundedSemaphore(max_concurrent)
        return slots


def _retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds (delta or HTTP date), ``None`` if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it wraps: urllib3 keeps the socket error in ``args`` or ``reason``."""
    chain: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo and len(chain) < 16:
        seen = todo.pop(0)
        if seen in chain:
            continue
        chain.append(seen)
        nested = [seen.__cause__, seen.__context__, getattr(seen, "reason", None), *seen.args]
        todo.extend(e for e in nested if isinstance(e, BaseException))
    return chain


def _describe(exc: BaseException) -> str:
    """A short, stable name for a failed request (``connection broken: ConnectionResetError``)."""
    causes = _causes(exc)
    if any(isinstance(e, http.client.IncompleteRead) for e in causes):
        return "truncated body"
    for cause in causes:
        if isinstance(cause, OSError) and not isinstance(cause, Urllib3Error):
            return f"connection broken: {type(cause).__name__}"
    return f"connection broken: {type(causes[-1]).__name__}"


class HttpStream(io.RawIOBase):
    """The bytes of one URL or ``gs://`` object, resumed across failures; see the module
    docstring.

    Attributes:
        retries: failed requests that were retried.
        position: bytes delivered so far (the offset in the file as stored).
    """

    def __init__(self, fetcher: HttpFetcher, url: str, listed_size: int | None = None) -> None:
        super().__init__()
        self._fetcher = fetcher
        self._url = url
        self._listed_size = listed_size  # what a listing at launch said, if it said
        self._response: Any = None
        self._length: int | None = None
        self._slot: threading.BoundedSemaphore | None = None
        self._failures = 0
        self._done = False
        self.retries = 0
        self.position = 0

    def readable(self) -> bool:
        return True

    @property
    def size(self) -> int | None:
        """The file's size as the server gave it (``Content-Length``), once known."""
        return self._length

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes (all the rest for -1 or ``None``); ``b""`` at the end."""
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(1 << 20), b""))
        while not self._done and size:
            try:
                if self._response is None:
                    self._connect()
                data = self._read_some(size)
            except _Retryable as failure:
                self._fail(failure)
                continue
            if data:
                self.position += len(data)
                self._failures = 0
            return data
        return b""

    def close(self) -> None:
        self._finish()
        super().close()

    def connect(self) -> None:
        """Make the first request now (retrying), so a refused file fails at ``open``.

        Raises:
            FetchError: the server refused the file for good, or every attempt failed.
        """
        while self._response is None and not self._done:
            try:
                self._connect()
            except _Retryable as failure:
                self._fail(failure)

    def _acquire(self) -> None:
        if self._slot is None:
            slot = _slots(self._fetcher.policy.max_concurrent)
            slot.acquire()
            self._slot = slot

    def _finish(self) -> None:
        """End of the download (done, failed or closed): free the connection and the slot."""
        self._done = True
        self._drop_response()
        if self._slot is not None:
            self._slot.release()
            self._slot = None

    def _drop_response(self) -> None:
        if self._response is not None:
            self._response.release_conn()
            self._response = None

    def _connect(self) -> None:
        """One request from ``position`` on; raises ``_Retryable`` or ``FetchError``."""
        self._acquire()
        headers = {"Accept-Encoding": "identity"}
        if self.position:
            headers["Range"] = f"bytes={self.position}-"
        try:
            response = self._fetcher.request(self._url, headers)
        except Urllib3Error as exc:
            raise _Retryable(_describe(exc)) from None
        except gcs.CredentialsError as exc:
            if exc.transient:
                raise _Retryable(str(exc)) from None
            self._give_up(f"{exc} {self._url}")
        status = response.status
        if status in (200, 206):
            self._response = response
            self._start_body(response)
            return
        if status == 416 and self._length is not None and self.position >= self._length:
            response.release_conn()
            self._finish()
            return
        what = f"HTTP {status}"
        try:
            body = response.read(_ERROR_BODY_BYTES)
        except Urllib3Error:
            body = b""
        response.release_conn()
        code = _S3_CODE.search(body) or _GCS_REASON.search(body)
        if code:
            what += f" {code.group(1).decode('ascii')}"
        if status in RETRY_STATUSES:
            raise _Retryable(what, _retry_after(response.headers.get("Retry-After")))
        self._give_up(f"{what} {self._url}", status)

    def _start_body(self, response: Any) -> None:
        """Learn the total length; skip what we have if the server ignored our ``Range``."""
        if response.status == 206:
            match = _RANGE_TOTAL.match(response.headers.get("Content-Range", ""))
            if match is None or int(match.group(1)) != self.position:
                self._drop_response()
                raise _Retryable("HTTP 206 with an unexpected Content-Range")
            if match.group(2) != "*":
                self._length = int(match.group(2))
            return
        length = response.headers.get("Content-Length")
        if length is not None and length.isdigit():
            self._length = int(length)
        skip = self.position
        while skip:
            try:
                chunk = response.read(min(skip, 1 << 20))
            except Urllib3Error as exc:
                self._drop_response()
                raise _Retryable(_describe(exc)) from None
            if not chunk:
                self._drop_response()
                raise _Retryable("body shorter than the bytes already read")
            skip -= len(chunk)

    def _read_some(self, size: int) -> bytes:
        """Bytes from the open response; ``b""`` at the true end."""
        try:
            data: bytes = self._response.read(size)
        except Urllib3Error as exc:
            self._drop_response()
            raise _Retryable(_describe(exc)) from None
        if data:
            return data
        self._drop_response()
        if self._length is None:  # nothing to check the end against: ask the server
            self._length = self._fetcher.size_of(self._url)
            if self._length is not None and self._length < self.position:
                self._length = None  # a HEAD that does not describe this body
        if self._length is not None and self.position < self._length:
            raise _Retryable(f"truncated body at byte {self.position} of {self._length}")
        self._finish()
        return b""

    def _fail(self, failure: _Retryable) -> None:
        """Count a failed request: wait and let ``read`` retry, or give up."""
        self._drop_response()
        self._failures += 1
        policy = self._fetcher.policy
        if self._failures >= policy.max_attempts:
            self._give_up(f"{failure.what} after {self._failures} attempts {self._url}")
        self.retries += 1
        delay = policy.backoff(self._failures, self._fetcher.rng)
        if failure.retry_after is not None:
            delay = max(delay, min(failure.retry_after, policy.max_delay_s))
        # The slot is kept while waiting: a throttled file must not let another one start.
        self._fetcher.sleep(delay)

    def _give_up(self, what: str, status: int | None = None) -> None:
        self._finish()
        if self._length is None:
            self._length = self._fetcher.size_of(self._url)
        reason = f"{REASON_PREFIX}: {what}"
        if self._length is None and self._listed_size is not None:
            raise FetchError(reason, self.position, self._listed_size, SIZE_FROM_LISTING, status)
        raise FetchError(reason, self.position, self._length, SIZE_FROM_SERVER, status)


class HttpFetcher:
    """Opens URLs and ``gs://`` objects as resumable streams under ``policy``; one per DoFn
    instance (not picklable).

    Args:
        policy: retries, backoff, timeouts and the per-process cap on open requests.
        sleep: how to wait between attempts (``time.sleep``).
    """

    def __init__(self, policy: FetchPolicy, sleep: Callable[[float], None] = time.sleep) -> None:
        self.policy = policy
        self.sleep = sleep
        self.rng = random.Random()
        self._pool = urllib3.PoolManager(
            maxsize=policy.max_concurrent,
            timeout=urllib3.Timeout(connect=policy.connect_timeout_s, read=policy.read_timeout_s),
            # Our loop retries (with resume); urllib3 only follows redirects.
            retries=urllib3.Retry(total=None, connect=0, read=0, status=0, other=0, redirect=5),
        )

    def request(self, url: str, headers: dict[str, str]) -> Any:
        """One GET of ``url`` (or of a ``gs://`` object's media), body not yet read
        (``preload_content=False``), content not decoded.

        Raises:
            pipeline.io.gcs.CredentialsError: a ``gs://`` object, and no credentials for it.
        """
        if url.startswith(gcs.GCS_SCHEME):
            url = gcs.media_url(url)
            # As stored, like GcsIO's raw download: to a client that does not accept gzip, GCS
            # would serve an object stored with Content-Encoding: gzip decompressed (no Range).
            headers = {**headers, "Accept-Encoding": "gzip"}
        if gcs.is_api_url(url):  # the credentials go to GCS's JSON API, never elsewhere
            headers = {**headers, **gcs.auth_headers(url, self.policy.impersonate)}
        return self._pool.request(
            "GET", url, headers=headers, preload_content=False, decode_content=False
        )

    def size_of(self, url: str) -> int | None:
        """``url``'s size by one request (no retries): a ``HEAD``'s ``Content-Length``, a
        ``gs://`` object's metadata; None when the answer gives none."""
        if gcs.is_api_url(url):  # an API answer (a listing page, metadata): not a file
            return None
        wait = min(HEAD_TIMEOUT_S, self.policy.read_timeout_s)
        options: dict[str, Any] = {
            "timeout": urllib3.Timeout(connect=wait, read=wait),
            "retries": urllib3.Retry(total=None, connect=0, read=0, status=0, redirect=5),
        }
        try:
            if url.startswith(gcs.GCS_SCHEME):
                where = gcs.metadata_url(url)
                answer = self._pool.request(
                    "GET",
                    where,
                    headers=gcs.auth_headers(where, self.policy.impersonate),
                    **options,
                )
                size = str(json.loads(answer.data).get("size")) if answer.status == 200 else ""
                return int(size) if size.isdigit() else None
            response = self._pool.request(
                "HEAD", url, headers={"Accept-Encoding": "identity"}, **options
            )
        except (Urllib3Error, gcs.CredentialsError, ValueError, AttributeError):
            return None
        length = response.headers.get("Content-Length", "")
        response.release_conn()
        return int(length) if response.status == 200 and length.isdigit() else None

    def open(self, url: str, listed_size: int | None = None) -> HttpStream:
        """A stream of ``url``'s bytes (an ``https://`` URL or a ``gs://`` object); the first
        request is made here. ``listed_size``: the size a listing gave at launch, for the dead
        letter of a file whose size no answer gives.

        Raises:
            FetchError: the server refused the file for good, or every attempt failed.
        """
        stream = HttpStream(self, url, listed_size)
        stream.connect()
        return stream

    def get_bytes(self, url: str) -> bytes:
        """The whole body of ``url`` (a listing file).

        Raises:
            FetchError: as ``open``.
        """
        with self.open(url) as stream:
            return stream.read()
