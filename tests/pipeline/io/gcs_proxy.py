"""A threaded HTTP proxy in front of the GCS emulator that can be told to misbehave.

The emulator (``gcp-storage-emulator``) has no permission model, never fails and ignores
generation preconditions, so what real GCS answers a caller without credentials (401) or without
the right to write (403), the faults of a flaky network, and the 412 of a violated precondition
come from here: every request is forwarded to the emulator unless a rule added with ``fail``
matches it first.

    proxy.fail("401")                                   # every request: no credentials
    proxy.fail("403", methods={"POST", "PUT"})          # reads pass, writes are denied
    proxy.fail("503", times=1)                          # the next request only, then normal
    proxy.fail("reset", path=r"/upload/")               # uploads: the connection is reset
    proxy.fail("pass", methods={"POST"}, times=1)       # ... but the next upload (rules added
                                                        #     later are matched first)
    proxy.fail("truncate", path=r"/download/", times=1) # half the next download's body
    proxy.fail("truncate:5000", path=r"/x[.]wet")        # never a byte past offset 5000
    proxy.fail("stall:3", path=r"/download/", times=1)  # nothing for 3 s, then the answer

Faults (``FAULTS``, and the two with an argument):

- ``401``, ``403``, ``404``, ``412``, ``429``, ``500``, ``503``: that status with a GCS-style
  JSON error (``429`` with ``Retry-After: 0``);
- ``reset``: the request read, then a TCP reset without an answer;
- ``truncate``: the emulator's answer with its full ``Content-Length``, half of its body, then
  the connection closed; ``truncate:N``: the body cut at byte ``N`` of the object instead (a
  ``206`` answer to a ``Range`` request is cut where the object's byte N falls, so a download
  resumed past N gets no byte more: the object "always truncates" there);
- ``stall:S``: nothing for ``S`` seconds, then the emulator's answer (a client whose read
  timeout is shorter has given up and retried by then);
- ``pass``: forwarded as if no rule matched (it exempts requests from later rules).

A rule matches a request by method and by a regular expression searched in its path (with the
query string); ``times`` limits how many requests it fails. ``requests`` records
``(method, path)`` of every request, failed or forwarded; ``refused`` those answered 412.

**Generation preconditions** are enforced as GCS enforces them (``check_preconditions``):
``ifGenerationMatch``, ``ifGenerationNotMatch``, ``ifMetagenerationMatch``,
``ifMetagenerationNotMatch`` on the object a request writes or reads, and the ``ifSource...``
ones on a copy's or rewrite's source. ``ifGenerationMatch=0`` means "only if there is no live
object": of two uploads with it, exactly one creates the object and the other gets 412
``conditionNotMet`` (``google.api_core.exceptions.PreconditionFailed``). Covered: simple,
multipart and resumable uploads (a resumable upload's conditions, given when it starts, are
checked again at each of its chunks), compose, copy, rewrite, delete, metadata patch and reads.
Every request that writes, and every one with a precondition, is checked and forwarded under one
lock (``preconditions``), so a check and the change it guards are one step; a precondition on an
object that does not exist fails, except ``ifGenerationMatch=0`` on a request that creates one
(a read, patch or delete of a missing object gets the emulator's 404). Not covered: batch
requests (``/batch/storage/v1``, forwarded unchecked) and the XML API's ``x-goog-if-*`` headers.
``generation(bucket, name)`` gives an object's live generation (0: none).
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import struct
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

# The JSON API's error reasons, as GCS sends them.
_STATUS = {
    "401": (401, "required", "Anonymous caller does not have storage.objects.create access."),
    "403": (403, "forbidden", "caller does not have storage.objects.create access to the bucket."),
    "404": (404, "notFound", "The specified bucket does not exist."),
    "412": (412, "conditionNotMet", "At least one of the pre-conditions you specified failed"),
    "429": (429, "rateLimitExceeded", "The rate of change requests exceeds the rate limit."),
    "500": (500, "backendError", "Backend Error"),
    "503": (503, "backendError", "Service Unavailable"),
}
# The objects a JSON API request names, by path (names percent-encoded): a copy's or rewrite's
# source and destination, a compose's destination, an object's metadata, media or deletion, and
# uploads (``/o`` alone: the name in the query or in the request's JSON metadata).
_API = r"(?:/upload|/download)?(?:/storage/v1)?"
_COPY_PATH = re.compile(
    rf"^{_API}/b/(?P<src_bucket>[^/]+)/o/(?P<src>.+?)/(?:copyTo|rewriteTo)/b/"
    r"(?P<bucket>[^/]+)/o/(?P<name>.+)$"
)
_COMPOSE_PATH = re.compile(rf"^{_API}/b/(?P<bucket>[^/]+)/o/(?P<name>.+)/compose$")
_OBJECT_PATH = re.compile(rf"^{_API}/b/(?P<bucket>[^/]+)/o(?:/(?P<name>.+))?$")
# Preconditions on the object a request writes or reads, and on a copy's source.
CONDITIONS = (
    "ifGenerationMatch",
    "ifGenerationNotMatch",
    "ifMetagenerationMatch",
    "ifMetagenerationNotMatch",
)
SOURCE_CONDITIONS = tuple("ifSource" + c[len("if") :] for c in CONDITIONS)
# "pass" forwards the request as if no rule matched: it exempts requests from later rules.
FAULTS = (*_STATUS, "reset", "truncate", "pass")
# Faults with an argument: "stall:<seconds>", "truncate:<object offset>".
_ARGUMENT = re.compile(r"^(?:stall:\d+(?:\.\d+)?|truncate:\d+)$")
# Headers a proxy does not pass on (hop-by-hop) or sets itself.
_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "host"})


@dataclass
class Rule:
    """One fault for the requests it matches (``times`` of them, or all when None)."""

    fault: str
    methods: frozenset[str] | None
    path: re.Pattern[str]
    times: int | None

    def take(self, method: str, path: str) -> bool:
        """Whether this rule fails the request (and counts it)."""
        if self.times is not None and self.times <= 0:
            return False
        if self.methods is not None and method not in self.methods:
            return False
        if not self.path.search(path):
            return False
        if self.times is not None:
            self.times -= 1
        return True


class GcsProxy(ThreadingHTTPServer):
    """The proxy: ``url`` is what ``STORAGE_EMULATOR_HOST`` should name."""

    daemon_threads = True

    def __init__(self, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.rules: list[Rule] = []
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.preconditions = threading.Lock()  # a generation check and its request: one step
        self.refused: list[tuple[str, str]] = []  # requests answered 412
        # Resumable uploads started with preconditions: upload_id -> (bucket, name, conditions).
        self.sessions: dict[str, tuple[str, str, dict[str, int]]] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet about clients that hung up (a stall, a truncation); loud about the rest."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def fail(
        self,
        fault: str,
        methods: Iterable[str] | None = None,
        path: str = "",
        times: int | None = None,
    ) -> Rule:
        """Add a rule (matched before those added earlier are)."""
        if fault not in FAULTS and not _ARGUMENT.match(fault):
            raise ValueError(f"unknown fault {fault!r}; one of {FAULTS}, stall:S, truncate:N")
        rule = Rule(fault, frozenset(methods) if methods else None, re.compile(path), times)
        with self.lock:
            self.rules.insert(0, rule)
        return rule

    def clear(self) -> None:
        """No fault any more: every request is forwarded."""
        with self.lock:
            self.rules.clear()

    def fault_for(self, method: str, path: str) -> str | None:
        with self.lock:
            self.requests.append((method, path))
            for rule in self.rules:
                if rule.take(method, path):
                    return rule.fault
        return None

    def live(self, bucket: str, name: str) -> tuple[int, int] | None:
        """The (generation, metageneration) of the live object, None if there is none."""
        host, port = self.upstream
        upstream = http.client.HTTPConnection(host, port, timeout=60)
        try:
            upstream.request(
                "GET", f"/storage/v1/b/{quote(bucket, safe='')}/o/{quote(name, safe='')}"
            )
            answer = upstream.getresponse()
            data = answer.read()
        finally:
            upstream.close()
        if answer.status != 200:
            return None
        found = json.loads(data)
        return int(found["generation"]), int(found.get("metageneration") or 1)

    def generation(self, bucket: str, name: str) -> int:
        """The live object's generation, 0 if there is none (what ``ifGenerationMatch`` tests)."""
        live = self.live(bucket, name)
        return live[0] if live else 0


def holds(condition: str, value: int, live: tuple[int, int] | None, creates: bool) -> bool:
    """Whether one precondition (``ifGenerationMatch``... or its ``ifSource...`` form) holds for
    an object whose live (generation, metageneration) is ``live`` (None: no live object), on a
    request that would create the object if it is absent (``creates``)."""
    metageneration = "Metageneration" in condition
    if live is None:
        return creates and not metageneration and "NotMatch" not in condition and value == 0
    current = live[1] if metageneration else live[0]
    return current != value if "NotMatch" in condition else current == value


def _conditions(query: dict[str, list[str]], names: tuple[str, ...]) -> dict[str, int]:
    return {name: int(query[name][0]) for name in names if name in query}


class _Handler(BaseHTTPRequestHandler):
    server: GcsProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _handle(self) -> None:
        body = self._body()
        self._resumable: tuple[str, str, dict[str, int]] | None = None
        fault = self.server.fault_for(self.command, self.path)
        cut: int | None = None
        if fault is not None and fault.startswith("stall:"):
            time.sleep(float(fault.partition(":")[2]))
        elif fault is not None and fault.startswith("truncate"):
            cut = int(fault.partition(":")[2] or -1)
        elif fault is not None and fault != "pass":
            self._fault(fault)
            return
        try:
            if self.command in ("GET", "HEAD") and "if" not in urlsplit(self.path).query:
                self._forward(body, cut)
                return
            with self.server.preconditions:
                if not self.check_preconditions(body):
                    with self.server.lock:
                        self.server.refused.append((self.command, self.path))
                    self._fault("412")
                    return
                self._forward(body, cut)
        except (BrokenPipeError, ConnectionResetError):  # a client that gave up (a stall)
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

    def check_preconditions(self, body: bytes) -> bool:
        """Whether the request's preconditions hold (see the module docstring); a resumable
        upload started with preconditions is remembered, to check them at each chunk."""
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        upload_id = query.get("upload_id", [""])[0]
        if upload_id:
            with self.server.lock:
                session = self.server.sessions.get(upload_id)
            if session is None:
                return True
            bucket, name, conditions = session
            live = self.server.live(bucket, name)
            return all(holds(c, v, live, True) for c, v in conditions.items())
        checks: list[tuple[str, str, dict[str, int], bool]] = []
        copy = _COPY_PATH.match(parts.path)
        compose = _COMPOSE_PATH.match(parts.path)
        found = copy or compose or _OBJECT_PATH.match(parts.path)
        if found is None:
            return True
        bucket, name = unquote(found["bucket"]), unquote(found["name"] or "")
        creates = bool(copy or compose) or not name  # an upload names its object elsewhere
        name = name or query.get("name", [""])[0] or self._upload_name(body)
        checks.append((bucket, name, _conditions(query, CONDITIONS), creates))
        if copy:
            source = (unquote(copy["src_bucket"]), unquote(copy["src"]))
            checks.append((*source, _conditions(query, SOURCE_CONDITIONS), False))
        if query.get("uploadType") == ["resumable"] and checks[0][2]:
            self._resumable = (bucket, name, checks[0][2])  # kept once the emulator answers
        for bucket, name, conditions, creates in checks:
            if not conditions:
                continue
            live = self.server.live(bucket, name)
            if live is None and not creates:
                continue  # the emulator's 404
            if not all(holds(c, v, live, creates) for c, v in conditions.items()):
                return False
        return True

    def _fault(self, fault: str) -> None:
        if fault == "reset":
            # SO_LINGER 0: close() sends a RST, as a dropped connection does.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        status, reason, message = _STATUS[fault]
        payload = json.dumps(
            {
                "error": {
                    "code": status,
                    "message": message,
                    "errors": [{"message": message, "domain": "global", "reason": reason}],
                }
            }
        ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        if fault == "429":
            self.send_header("Retry-After", "0")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _upload_name(self, body: bytes) -> str:
        """The object name in an upload's JSON metadata: a resumable upload's body, or the
        metadata part of a multipart one."""
        if self.headers.get_content_type() == "application/json":
            return str(json.loads(body or b"{}").get("name", ""))
        boundary = str(self.headers.get_param("boundary") or "")
        if not boundary:
            return ""
        for part in body.split(b"--" + boundary.encode()):
            head, _, content = part.partition(b"\r\n\r\n")
            if b"application/json" in head.lower():
                return str(json.loads(content.strip() or b"{}").get("name", ""))
        return ""

    def _forward(self, body: bytes, cut: int | None = None) -> None:
        """The emulator's answer; with ``cut`` (a ``truncate`` fault), its full Content-Length
        but only part of its body: up to the object's byte ``cut``, or half for -1."""
        host, port = self.server.upstream
        upstream = http.client.HTTPConnection(host, port, timeout=60)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
            headers["Host"] = f"{host}:{port}"
            upstream.request(self.command, self.path, body=body or None, headers=headers)
            answer = upstream.getresponse()
            data = answer.read()
        finally:
            upstream.close()
        if "json" in (answer.getheader("Content-Type") or ""):
            # The emulator names itself in links (an object's mediaLink, selfLink): a client
            # that follows them must come through here too.
            data = data.replace(f"http://{host}:{port}".encode(), self.server.url.encode())
        location = answer.getheader("Location") or ""
        if self._resumable is not None and answer.status == 200 and "upload_id=" in location:
            upload_id = parse_qs(urlsplit(location).query)["upload_id"][0]
            with self.server.lock:
                self.server.sessions[upload_id] = self._resumable
        self.send_response(answer.status, answer.reason)
        for key, value in answer.getheaders():
            if key.lower() == "location":  # a resumable upload's session: through us too
                value = value.replace(f"http://{host}:{port}", self.server.url, 1)
            if key.lower() not in _HOP:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        if cut is not None:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command == "HEAD":
            return
        if cut is None:
            self.wfile.write(data)
            return
        start = 0
        ranged = re.match(r"bytes (\d+)-", answer.getheader("Content-Range") or "")
        if answer.status == 206 and ranged:
            start = int(ranged.group(1))
        keep = len(data) // 2 if cut < 0 else max(0, min(len(data), cut - start))
        self.wfile.write(data[:keep])
        self.wfile.flush()
        self.close_connection = True


@contextmanager
def gcs_proxy(upstream: str) -> Iterator[GcsProxy]:
    """A running proxy to ``upstream`` (the emulator's URL), stopped on exit."""
    proxy = GcsProxy(upstream)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.shutdown()
        proxy.server_close()
        thread.join(timeout=10)
