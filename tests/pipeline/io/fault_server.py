"""A real HTTP server on 127.0.0.1 that serves files and injects one fault per request.

``server.files[path] = bytes`` serves a file (honouring ``Range``); ``server.faults[path]`` is a
list of faults consumed one per request, after which the file is served normally:

- ``429``: Too Many Requests with ``Retry-After: 0``;
- ``503``: S3's ``503 SlowDown`` XML error;
- ``reset``: the headers and half the body, then a TCP reset (``SO_LINGER`` 0);
- ``truncate``: ``Content-Length`` of the whole file, half the body, then a clean close;
- ``404``: Not Found (also what an unknown path gets);
- ``ignore_range``: the whole file with status 200 even when a ``Range`` was asked for;
- ``slow``: the file, sent slowly (lets concurrent requests overlap);
- ``throttle:<seconds>``: the file, its body spread evenly over that many seconds;
- ``cut:<n>``: ``Content-Length`` of the whole file, its first ``n`` bytes, then a clean close;
- ``cut_unsized:<n>``: no ``Content-Length`` (the body ends at the close), the first ``n`` bytes.

``HEAD`` answers the file's ``Content-Length`` (recorded in ``heads``, consumes no fault).
It counts requests in flight (``max_in_flight``), records every request's ``Range`` and, in
``finished``, when each complete body was sent (``(path, time.monotonic())``).
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SLOW_DELAY_S = 0.2


class FaultServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files: dict[str, bytes] = {}
        self.faults: dict[str, list[str]] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.heads: list[str] = []
        self.finished: list[tuple[str, float]] = []
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def next_fault(self, path: str) -> str | None:
        with self.lock:
            queue = self.faults.get(path)
            return queue.pop(0) if queue else None

    def requests_for(self, path: str) -> list[str | None]:
        with self.lock:
            return [r for p, r in self.requests if p == path]


class _Handler(BaseHTTPRequestHandler):
    server: FaultServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_HEAD(self) -> None:
        path = self.path.split("?")[0]
        data = self.server.files.get(path)
        with self.server.lock:
            self.server.heads.append(path)
        self.send_response(200 if data is not None else 404)
        self.send_header("Content-Length", str(len(data) if data is not None else 0))
        self.end_headers()

    def do_GET(self) -> None:
        server = self.server
        path = self.path.split("?")[0]
        with server.lock:
            server.requests.append((path, self.headers.get("Range")))
            server.in_flight += 1
            server.max_in_flight = max(server.max_in_flight, server.in_flight)
        self._counted = True
        try:
            self._serve(path, server.next_fault(path))
        finally:
            self._leave()

    def _leave(self) -> None:
        """Stop counting this request as in flight (once).

        Called before the last bytes go out: the client finishes (and may start its next request)
        as soon as it has them, possibly before this handler thread returns.
        """
        if self._counted:
            self._counted = False
            with self.server.lock:
                self.server.in_flight -= 1

    def _serve(self, path: str, fault: str | None) -> None:
        data = self.server.files.get(path)
        if fault == "404" or data is None:
            self._error(404, b"not found")
        elif fault == "429":
            self._error(429, b"slow down", {"Retry-After": "0"})
        elif fault == "503":
            body = b"<Error><Code>SlowDown</Code><Message>Reduce your request rate.</Message>"
            self._error(503, body + b"</Error>")
        elif fault and fault.startswith(("cut:", "cut_unsized:")):
            kind, _, size = fault.partition(":")
            self.send_response(200)
            if kind == "cut":
                self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data[: int(size)])
            self.close_connection = True
        elif fault in ("reset", "truncate"):
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            if fault == "reset":
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
            self.close_connection = True
        else:
            throttle = fault.partition(":")[2] if fault and fault.startswith("throttle:") else 0
            self._file(path, data, fault == "ignore_range", fault == "slow", float(throttle))

    def _error(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _file(
        self, path: str, data: bytes, ignore_range: bool, slow: bool, throttle_s: float
    ) -> None:
        start = 0
        asked = self.headers.get("Range")
        if asked and not ignore_range:
            start = int(asked.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                self._error(416, b"", {"Content-Range": f"bytes */{len(data)}"})
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        body = data[start:]
        if slow:
            half = len(body) // 2
            self.wfile.write(body[:half])
            self.wfile.flush()
            time.sleep(SLOW_DELAY_S)
            body = body[half:]
        if throttle_s:  # 20 even pieces, the last one after the whole delay
            step = max(1, -(-len(body) // 20))
            while body:
                time.sleep(throttle_s / 20)
                if len(body) <= step:
                    break
                self.wfile.write(body[:step])
                self.wfile.flush()
                body = body[step:]
        self._leave()
        self.wfile.write(body)
        with self.server.lock:
            self.server.finished.append((path, time.monotonic()))


@contextmanager
def fault_server() -> Iterator[FaultServer]:
    """A started server, shut down on exit."""
    server = FaultServer()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
