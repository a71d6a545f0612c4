"""Downloads ahead: remote input files fetched in background threads while others are parsed.

A DoFn that opens a remote file when the file's element reaches it downloads one file at a time:
a slow (throttled) file stalls every file after it, and no download overlaps the parsing of
another file. ``Prefetcher`` starts each remote file's download in a thread of its own as soon as
the element is handed over, at most ``width`` files at once (``--max_concurrent_downloads``),
each into an unlinked temporary file; the DoFn reads the files in the order their downloads end,
so a slow one is read last, not first. When one download is left and nothing else is, it is read
while it arrives (``DownloadStream`` follows the file as it grows), as a plain stream would be.

The stream a reader gets behaves as the source would have: the same bytes, then the same
failure (an ``pipeline.io.http.FetchError`` after a download broke off past its retries, say),
and the source's ``retries`` and ``size`` where it has them. Which file is read first depends
on the network; what is built does not (every output of ``c4 build`` is ordered by its own keys).

Disk: at most ``width`` files at a time are held, plus the one being read (a Common Crawl WET
file is about 150 MB compressed), in ``tempfile``'s directory (``TMPDIR``).
"""

from __future__ import annotations

import io
import os
import tempfile
import threading
from collections.abc import Callable
from typing import Any

# Bytes copied from a source per read.
CHUNK_BYTES = 1 << 20

Opener = Callable[[str], Any]


def _size_of(source: Any) -> int | None:
    """A source's size where it states one as an int (``HttpStream.size``)."""
    size = getattr(source, "size", None)
    return size if isinstance(size, int) and not isinstance(size, bool) else None


class _Download:
    """One file being fetched into an unlinked temporary file, and what became of it."""

    def __init__(self, path: str) -> None:
        self.path = path
        fd, name = tempfile.mkstemp(prefix="c4-download-")
        os.unlink(name)  # gone from the directory now, from the disk once the fd is closed
        self.fd = fd
        self.cond = threading.Condition()
        self.written = 0
        self.done = False
        self.opened = False  # the source opened (a failure to open is raised at ``take``)
        self.error: BaseException | None = None
        self.retries = 0
        self.size: int | None = None
        self.abandoned = False  # no one will read it: stop, and free the file when done

    def release(self) -> None:
        """Close the file once both the fetch has ended and no reader needs it."""
        with self.cond:
            if self.done and self.abandoned and self.fd >= 0:
                os.close(self.fd)
                self.fd = -1


class DownloadStream(io.RawIOBase):
    """A prefetched file, read while or after it downloads; see the module docstring.

    Attributes:
        retries: failed requests the source retried (an HTTP download's), once it is done.
    """

    def __init__(self, download: _Download) -> None:
        super().__init__()
        self._download = download
        self._position = 0

    def readable(self) -> bool:
        return True

    @property
    def retries(self) -> int:
        return self._download.retries

    @property
    def size(self) -> int | None:
        """The file's size as the source gave it (an HTTP ``Content-Length``), if known."""
        return self._download.size

    def tell(self) -> int:
        return self._position

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes (-1: the rest); ``b""`` at the end; the source's failure after
        its last byte."""
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(CHUNK_BYTES), b""))
        download = self._download
        with download.cond:
            while download.written <= self._position and not download.done:
                download.cond.wait()
            available = download.written - self._position
            if not available:
                if download.error is not None:
                    raise download.error
                return b""
        data = os.pread(download.fd, min(size, available), self._position)
        self._position += len(data)
        return data

    def close(self) -> None:
        if not self.closed:
            self._download.abandoned = True
            self._download.release()
        super().close()


class Prefetcher:
    """Fetches up to ``width`` files at once in background threads; see the module docstring.

    Args:
        opener: ``path -> binary stream`` of the source (it may raise, at once or while read).
        width: files fetched, or fetched and not yet taken, at once.
    """

    def __init__(self, opener: Opener, width: int) -> None:
        if width < 1:
            raise ValueError("width must be at least 1")
        self._opener = opener
        self._width = width
        self._lock = threading.Condition()
        self._downloads: dict[str, _Download] = {}  # not yet taken
        self._finished: list[str] = []  # their keys, in the order their downloads ended

    def __len__(self) -> int:
        with self._lock:
            return len(self._downloads)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._downloads

    def full(self) -> bool:
        """``width`` files are being fetched or wait to be taken: take one before starting more."""
        return len(self) >= self._width

    def start(self, key: str, path: str) -> None:
        """Begin fetching ``path`` under ``key`` (unique among the files not yet taken)."""
        download = _Download(path)
        with self._lock:
            if key in self._downloads:
                raise ValueError(f"{key!r} is being fetched already")
            self._downloads[key] = download
        threading.Thread(
            target=self._fetch, args=(key, download), name=f"prefetch-{key}", daemon=True
        ).start()

    def ready(self) -> str | None:
        """The key of a file whose download has ended (the earliest), else None."""
        with self._lock:
            return self._finished[0] if self._finished else None

    def next(self) -> str | None:
        """The key of the file to read next: the first whose download has ended, waiting for one
        if need be; the last one left while it still arrives; None when none is left."""
        with self._lock:
            while not self._finished:
                if len(self._downloads) <= 1:
                    return next(iter(self._downloads), None)
                self._lock.wait()
            return self._finished[0]

    def take(self, key: str) -> DownloadStream:
        """The file under ``key`` as a stream, now owned by the caller (close it).

        Raises:
            Exception: what opening the source raised, if it failed to open.
        """
        with self._lock:
            download = self._downloads.pop(key)
            if key in self._finished:
                self._finished.remove(key)
        if download.done and not download.opened and download.error is not None:
            download.abandoned = True
            download.release()
            raise download.error
        if not download.opened:  # still opening: wait, so that a refused file fails here
            with download.cond:
                while not download.opened and not download.done:
                    download.cond.wait()
            if not download.opened and download.error is not None:
                download.abandoned = True
                download.release()
                raise download.error
        return DownloadStream(download)

    def close(self) -> None:
        """Abandon every file not taken (their downloads stop at their next read)."""
        with self._lock:
            downloads = list(self._downloads.values())
            self._downloads.clear()
            self._finished.clear()
        for download in downloads:
            download.abandoned = True
            download.release()

    def _fetch(self, key: str, download: _Download) -> None:
        try:
            source = self._opener(download.path)
        except Exception as exc:
            self._end(key, download, exc)
            return
        with download.cond:
            download.opened = True
            download.size = _size_of(source)
            download.cond.notify_all()
        error: BaseException | None = None
        try:
            with source:
                while not download.abandoned and (block := source.read(CHUNK_BYTES)):
                    view = memoryview(block)
                    while view:
                        view = view[os.write(download.fd, view) :]
                    with download.cond:
                        download.written += len(block)
                        download.cond.notify_all()
                download.retries = int(getattr(source, "retries", 0))
                download.size = _size_of(source)
        except Exception as exc:  # raised to the reader after the bytes that did arrive
            download.retries = int(getattr(source, "retries", 0))
            error = exc
        self._end(key, download, error)

    def _end(self, key: str, download: _Download, error: BaseException | None) -> None:
        with download.cond:
            download.error = error
            download.done = True
            download.cond.notify_all()
        with self._lock:
            if key in self._downloads and self._downloads[key] is download:
                self._finished.append(key)
                self._lock.notify_all()
        download.release()
