"""A threaded HTTP proxy in front of the GCS emulator that can be told to misbehave.

The emulator (``gcp-storage-emulator``) has no permission model and never fails, so what real
GCS answers a caller without credentials (401) or without the right to write (403), and the
faults of a flaky network, come from here: every request is forwarded to the emulator unless a
rule added with ``fail`` matches it first.

    proxy.fail("401")                                   # every request: no credentials
    proxy.fail("403", methods={"POST", "PUT"})          # reads pass, writes are denied
    proxy.fail("503", times=1)                          # the next request only, then normal
    proxy.fail("reset", path=r"/upload/")               # uploads: the connection is reset
    proxy.fail("pass", methods={"POST"}, times=1)       # ... but the next upload (rules added
                                                        #     later are matched first)

Faults (``FAULTS``): ``401``, ``403``, ``404``, ``429``, ``500``, ``503`` (a GCS-style JSON
error), ``reset`` (the request read, then a TCP reset without an answer). A rule matches a
request by method and by a regular expression searched in its path (with the query string);
``times`` limits how many requests it fails. More faults (truncated bodies, stalls, generation
preconditions answered 412) are one more branch of ``_Handler._fault``. ``requests`` records
``(method, path)`` of every request, failed or forwarded.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import struct
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

# The JSON API's error reasons, as GCS sends them.
_STATUS = {
    "401": (401, "required", "Anonymous caller does not have storage.objects.create access."),
    "403": (403, "forbidden", "caller does not have storage.objects.create access to the bucket."),
    "404": (404, "notFound", "The specified bucket does not exist."),
    "429": (429, "rateLimitExceeded", "The rate of change requests exceeds the rate limit."),
    "500": (500, "backendError", "Backend Error"),
    "503": (503, "backendError", "Service Unavailable"),
}
# "pass" forwards the request as if no rule matched: it exempts requests from later rules.
FAULTS = (*_STATUS, "reset", "pass")
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

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def fail(
        self,
        fault: str,
        methods: Iterable[str] | None = None,
        path: str = "",
        times: int | None = None,
    ) -> Rule:
        """Add a rule (matched before those added earlier are)."""
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; one of {FAULTS}")
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
        fault = self.server.fault_for(self.command, self.path)
        if fault is not None and fault != "pass":
            self._fault(fault)
            return
        self._forward(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

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

    def _forward(self, body: bytes) -> None:
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
        self.send_response(answer.status, answer.reason)
        for key, value in answer.getheaders():
            if key.lower() not in _HOP:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


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
