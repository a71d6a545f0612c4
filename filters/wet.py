"""Streaming WET reader: TFDS ``split_wet_file``, page for page, without its failure modes.

What TFDS does (C4_SPEC §1.2): decode the whole gzip as strict UTF-8 with universal newlines,
``strip()`` every line, drop empty lines, start a record at each line equal to ``WARC/1.0``, read
the four header fields by prefix on any line of the record (the last one wins), and keep every
line not starting with ``WARC``, ``CONTENT-`` or ``Content-`` as text, joined with ``"\\n"``.
We give the same pages and the same ``split-wet-file`` counters (checked against TFDS itself).

What we do differently, and why:

* Records are cut out of the decompressed **bytes** first (at lines that strip to ``WARC/1.0``)
  and each is decoded on its own, so a bad byte costs one record (``invalid_utf8``) instead of
  the whole file, and memory is bounded by ``max_record_bytes`` (default 64 MiB decompressed),
  not by the file. A bigger record is dead-lettered (``record_too_large``) and skipped while
  streaming; TFDS's 190,000-character page limit would drop it anyway.
* Broken input never raises. Everything readable is yielded, then: ``truncated_gzip`` (the
  stream ends inside a member), ``corrupt_gzip`` (bad deflate data or CRC; reading resumes at the
  next member header, so in Common Crawl's one-member-per-record layout one record is lost),
  ``trailing_garbage`` (bytes after the last member that are not zero padding), ``not_wet``
  (no ``WARC/1.0`` line at all) and ``empty_file`` (nothing but whitespace). For a broken
  member, the record that started before it is kept whole and what the member gave is the
  dead letter's excerpt.

Identity of a record (INTERFACE.md "Identifiers"): ``record_offset`` is the offset, in the file as
stored, of the gzip member in which the record starts, when the record starts that member (Common
Crawl's layout: seek there and gunzip to get the record). Where a record starts inside a member
(a single-stream gzip, several records per member) or the file is plain WET, it is the offset of
the record's first byte in the decompressed stream, which for plain WET is the stored offset.

TFDS quirks kept on purpose, so our counters equal the reference's:

* The ``warcinfo`` record has no URL and is reported as ``filtered:no_url``.
* Anything before the first ``WARC/1.0`` line (a fragment's tail, or only blank lines) is a
  record of its own in 3.x (TFDS validates it because it is not at line 0), usually
  ``filtered:no_url``. 2.x counts nothing for blank lines there (and crashes on text there; we
  parse that text as a record, like 3.x).

Deliberate departures from TFDS's counters: an empty (or whitespace-only) file is one
``DeadLetter("empty_file")`` where TFDS 3.x counts ``filtered:no_url``; input with no
``WARC/1.0`` line at all is one ``DeadLetter("not_wet")`` where TFDS treats the whole file as
one record (usually ``filtered:no_url``) or crashes on its bytes.
"""

from __future__ import annotations

import hashlib
import posixpath
import zlib
from collections.abc import Callable, Generator, Iterator
from typing import Any, BinaryIO, NamedTuple, cast

from filters.records import DeadLetter, Dropped, Page
from filters.spec import C4Rules
from filters.urls import normalize_url

STAGE = "split-wet-file"
DEFAULT_MAX_RECORD_BYTES = 64 * 1024 * 1024
EXCERPT_CHARS = 200

# Dead-letter reasons: short and stable, other stages and dashboards key on them.
REASON_INVALID_UTF8 = "invalid_utf8"
REASON_TRUNCATED_GZIP = "truncated_gzip"
REASON_CORRUPT_GZIP = "corrupt_gzip"
REASON_TRAILING_GARBAGE = "trailing_garbage"
REASON_RECORD_TOO_LARGE = "record_too_large"
REASON_NOT_WET = "not_wet"
REASON_EMPTY_FILE = "empty_file"

# The TFDS constants (c4_utils.py), same strings and same matching (str.startswith).
_PAGE_DELIMITER = "WARC/1.0"
_URL_KEY = "WARC-Target-URI:"
_DATE_KEY = "WARC-Date:"
_TYPE_KEY = "Content-Type:"
_LENGTH_KEY = "Content-Length:"
_METADATA_PREFIXES = ("WARC", "CONTENT-", "Content-")
# Provenance only (not TFDS features): the first occurrence is the header's.
_RECORD_ID_KEY = "WARC-Record-ID:"
_DIGEST_KEY = "WARC-Block-Digest:"
_FIELD_KEYS = frozenset(
    k[:-1] for k in (_URL_KEY, _DATE_KEY, _TYPE_KEY, _LENGTH_KEY, _RECORD_ID_KEY, _DIGEST_KEY)
)
_FIRST_WINS = frozenset((_RECORD_ID_KEY[:-1], _DIGEST_KEY[:-1]))

_DELIMITER_BYTES = _PAGE_DELIMITER.encode("ascii")
_GZIP_MAGIC = b"\x1f\x8b"
_MEMBER_MAGIC = b"\x1f\x8b\x08"  # magic + deflate, what a resync looks for
_READ_SIZE = 1 << 20
# Compressed bytes handed to the inflater per call (see ``_gzip_chunks``).
_FEED_SIZE = 64 * 1024
# Upper bound on what one zlib call may inflate: keeps a gzip bomb from allocating gigabytes.
_INFLATE_CHUNK = 4 << 20
# While skipping an oversized record, how much of its tail is kept to find the next line start.
_SKIP_TAIL = 64 * 1024

Item = Page | Dropped | DeadLetter

# Deflate is deflate: ISA-L inflates to the same bytes as zlib, about twice as fast. zlib stays
# the fallback where the wheel is missing.
_decompressobj: Callable[..., Any]
try:
    from isal import isal_zlib

    _decompressobj = isal_zlib.decompressobj
    _INFLATE_ERRORS: tuple[type[Exception], ...] = (
        zlib.error,
        cast(type[Exception], isal_zlib.error),
    )
except ImportError:  # pragma: no cover - isal is a dependency; this keeps a bare install working
    _decompressobj = zlib.decompressobj
    _INFLATE_ERRORS = (zlib.error,)


def source_file_name(path: str) -> str:
    """The stable name of a WET file: from ``crawl-data/`` on, else the base name.

    A local copy and a ``gs://`` or ``https://`` path of the same Common Crawl file agree.
    """
    marker = "crawl-data/"
    at = path.find(marker)
    while at > 0 and path[at - 1] != "/":
        at = path.find(marker, at + 1)
    if at >= 0:
        return path[at:]
    return posixpath.basename(path.replace("\\", "/").rstrip("/"))


def make_doc_id(record_id: str, source_file: str, record_offset: int) -> str:
    """The record id without ``<urn:uuid:`` and ``>``; without one, sha1 hex of ``file:offset``.

    The fallback hashes ``f"{source_file}:{record_offset}"`` (INTERFACE.md "Identifiers").
    """
    uuid = record_id.strip().removeprefix("<").removesuffix(">").strip()
    uuid = uuid.removeprefix("urn:uuid:")
    if uuid:
        return uuid
    return hashlib.sha1(f"{source_file}:{record_offset}".encode()).hexdigest()


def _excerpt(data: bytes | bytearray) -> str:
    return bytes(data[: EXCERPT_CHARS * 4]).decode("utf-8", errors="replace")[:EXCERPT_CHARS]


class _SourceError(NamedTuple):
    """The compressed stream could not be read past ``offset`` (as stored)."""

    reason: str
    offset: int


class _Member(NamedTuple):
    """A gzip member starts here: stored offset ``offset``."""

    offset: int


def _plain_chunks(head: bytes, stream: BinaryIO) -> Iterator[bytes | _Member | _SourceError]:
    if head:
        yield head
    while block := stream.read(_READ_SIZE):
        yield block


def _gzip_chunks(head: bytes, stream: BinaryIO) -> Iterator[bytes | _Member | _SourceError]:
    """Inflate member after member, announcing each member's stored offset before its bytes.

    A corrupt member is reported, then reading resumes at the next gzip header after it: with
    Common Crawl's one member per record, one bad member costs one record, not the file.

    The inflater gets at most ``_FEED_SIZE`` bytes per call: at a member's end it copies all the
    input it was given past that end into ``unused_data``, so handing it the whole read block
    would copy the rest of the block once per member (Common Crawl's members are a few KB).
    """
    pending = head  # compressed bytes; pending[pos:] not yet handed to a decompressor
    pos = 0
    base = 0  # stored offset of pending[0]
    eof = False
    resyncing = False  # a header found by searching that fails at once was no member: silent
    while True:
        if len(pending) - pos < len(_MEMBER_MAGIC) and not eof:
            block = stream.read(_READ_SIZE)
            eof = not block
            base += pos
            pending, pos = pending[pos:] + block, 0
            continue
        if pos == len(pending):
            return
        if pending[pos] == 0:
            # Zero padding between or after members is legal gzip (the gzip module skips it).
            rest = pending[pos:].lstrip(b"\x00")
            base += len(pending) - len(rest)
            pending, pos = rest, 0
            continue
        if not pending.startswith(_GZIP_MAGIC, pos):
            yield _SourceError(REASON_TRAILING_GARBAGE, base + pos)
            return
        start = base + pos
        yield _Member(start)
        inflater = _decompressobj(wbits=31)
        produced = False
        view = memoryview(pending)
        while True:
            fed = view[pos : pos + _FEED_SIZE]
            try:
                out = inflater.decompress(fed, _INFLATE_CHUNK)
                while True:
                    if out:
                        produced = True
                        yield out
                    # At a member's end CPython keeps the rest in both unconsumed_tail and
                    # unused_data; another call would append it to unused_data again. An
                    # inflater stopped by the chunk limit can hold output with no
                    # unconsumed_tail (ISA-L buffers input it has taken): ask until it gives less.
                    if inflater.eof or not (inflater.unconsumed_tail or len(out) == _INFLATE_CHUNK):
                        break
                    out = inflater.decompress(inflater.unconsumed_tail, _INFLATE_CHUNK)
            except _INFLATE_ERRORS:
                if produced or not resyncing:
                    yield _SourceError(REASON_CORRUPT_GZIP, start)
                resyncing = True
                skip = max(0, start + 1 - base)
                pending, base, eof = _next_member(pending[skip:], base + skip, stream, eof)
                pos = 0
                break
            if inflater.eof:
                resyncing = False
                pos += len(fed) - len(inflater.unused_data)
                break
            pos += len(fed)
            if pos < len(pending):
                continue
            base += len(pending)
            pending, pos = (b"" if eof else stream.read(_READ_SIZE)), 0
            view = memoryview(pending)
            if not pending:
                try:  # output the inflater still holds for the part of the member that did arrive
                    if rest := inflater.flush():
                        produced = True
                        yield rest
                except _INFLATE_ERRORS:
                    pass
                if produced or not resyncing:
                    yield _SourceError(REASON_TRUNCATED_GZIP, start)
                return


def _next_member(pending: bytes, base: int, stream: BinaryIO, eof: bool) -> tuple[bytes, int, bool]:
    """Skip to the next gzip member header: ``(pending from it, its stored offset, eof)``."""
    while True:
        at = pending.find(_MEMBER_MAGIC)
        if at >= 0:
            return pending[at:], base + at, eof
        keep = len(_MEMBER_MAGIC) - 1  # a header may straddle two reads
        base += max(0, len(pending) - keep)
        pending = pending[-keep:]
        block = b"" if eof else stream.read(_READ_SIZE)
        if not block:
            return b"", base + len(pending), True
        pending += block


class WetReader:
    """Iterates one WET stream as ``Page | Dropped | DeadLetter``; see ``iter_wet``.

    ``bytes_read`` (decompressed bytes consumed so far) is there for throughput figures.
    """

    def __init__(
        self,
        stream: BinaryIO,
        source_file: str,
        rules: C4Rules,
        file_index: int = 0,
        max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
        close_stream: bool = False,
    ) -> None:
        self.source_file = source_file
        self.rules = rules
        self.file_index = file_index
        self.max_record_bytes = max_record_bytes
        self.bytes_read = 0
        self._stream = stream
        self._close_stream = close_stream
        self._require_timestamp = rules.require_timestamp  # a property: read once, not per record
        # Splitter state: buf always starts at the current record, whose decompressed offset is
        # base; scan is where the delimiter search resumes in buf.
        self._buf = bytearray()
        self._base = 0
        self._scan = 0
        self._seen_delimiter = False
        self._skipping = False  # the current record went over max_record_bytes
        self._reported = False  # a broken gzip member has been dead-lettered
        self._pre_start = 0  # where the text before the first delimiter starts
        self._members: dict[int, int] = {}  # decompressed offset -> stored offset, member starts
        self._items = self._run_and_close()

    def __iter__(self) -> WetReader:
        return self

    def __next__(self) -> Item:
        return next(self._items)

    def close(self) -> None:
        """Stop early; the stream is closed too if the reader owns it (``iter_wet_path``)."""
        self._items.close()

    def __enter__(self) -> WetReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run_and_close(self) -> Generator[Item, None, None]:
        try:
            yield from self._run()
        finally:  # on exhaustion, or when an abandoned reader is closed or collected
            if self._close_stream:
                self._stream.close()

    def _run(self) -> Iterator[Item]:
        head = self._stream.read(_READ_SIZE)
        while 0 < len(head) < len(_GZIP_MAGIC) and (more := self._stream.read(_READ_SIZE)):
            head += more  # a stream may return short reads; the magic needs two bytes
        if head.startswith(_GZIP_MAGIC):
            chunks = _gzip_chunks(head, self._stream)
        else:
            chunks = _plain_chunks(head, self._stream)
        error: _SourceError | None = None
        last_member = -1
        nonblank = False
        for chunk in chunks:
            if isinstance(chunk, _Member):
                self._members[self.bytes_read] = chunk.offset
                last_member = self.bytes_read
            elif isinstance(chunk, _SourceError):
                if chunk.reason == REASON_CORRUPT_GZIP:  # reading resumes at the next member
                    yield from self._salvage(chunk, last_member)
                else:
                    error = chunk
            else:
                self.bytes_read += len(chunk)
                nonblank = nonblank or bool(chunk.strip())
                self._buf += chunk
                yield from self._cut(final=False)
                yield from self._check_size()
        yield from self._cut(final=True)
        yield from self._finish(error, last_member, nonblank)

    def _cut(self, final: bool) -> Iterator[Item]:
        """Emit every record that ends before a ``WARC/1.0`` line now in the buffer."""
        buf = self._buf
        while (hit := buf.find(_DELIMITER_BYTES, self._scan)) >= 0:
            start = _delimiter_line(buf, hit, final)
            if start is None:  # the line's end has not arrived yet
                self._scan = hit
                return
            self._scan = hit + len(_DELIMITER_BYTES)
            if start >= 0:
                yield from self._emit(start)
        self._scan = max(self._scan, len(buf) - len(_DELIMITER_BYTES) + 1)

    def _emit(self, cut: int) -> Iterator[Item]:
        """The current record is ``buf[:cut]``; a new one starts at ``cut``."""
        data = self._buf[:cut]
        if not self._seen_delimiter:
            self._seen_delimiter = True
            if self._skipping:
                yield self._dead(REASON_RECORD_TOO_LARGE, self._offset(self._pre_start), b"")
            elif cut > 0 and (self._require_timestamp or data.strip()):
                # TFDS 3.x validates what precedes the first delimiter (it is not at line 0);
                # 2.x counts nothing for blank lines there.
                yield self._record(data, self._pre_start)
        elif not self._skipping and cut > 0:  # cut == 0 only right after a broken member
            yield self._record(data, self._base)
        self._skipping = False
        del self._buf[:cut]  # O(1): bytearray drops its head without moving the rest
        self._base += cut
        self._scan -= cut
        if len(self._members) > 64:
            for key in [k for k in self._members if k < self._base]:
                del self._members[key]

    def _check_size(self) -> Iterator[Item]:
        """Dead-letter a record over the cap once, then keep only a tail until the next one."""
        buf = self._buf
        if not self._skipping and len(buf) > self.max_record_bytes:
            self._skipping = True
            if self._seen_delimiter:  # before any delimiter, wait: it may not be WET at all
                yield self._dead(REASON_RECORD_TOO_LARGE, self._offset(self._base), buf)
        if self._skipping and len(buf) > _SKIP_TAIL:
            drop = len(buf) - _SKIP_TAIL
            del buf[:drop]
            self._base += drop
            self._scan = max(0, self._scan - drop)

    def _finish(
        self, error: _SourceError | None, last_member: int, nonblank: bool
    ) -> Iterator[Item]:
        if error is not None and error.reason == REASON_TRUNCATED_GZIP:
            yield from self._salvage(error, last_member)
            return
        if not self._seen_delimiter:
            if self._reported:
                pass  # a broken member was dead-lettered already: that is the file's story
            elif error is not None:
                yield self._dead(error.reason, error.offset, self._buf)
            elif self._skipping or nonblank:
                yield self._dead(REASON_NOT_WET, 0, self._buf)
            else:
                yield self._dead(REASON_EMPTY_FILE, 0, self._buf)
            return
        if not self._skipping and self._buf:
            yield self._record(self._buf, self._base)
        if error is not None:
            yield self._dead(error.reason, error.offset, b"")

    def _salvage(self, error: _SourceError, last_member: int) -> Iterator[Item]:
        """The member starting at ``last_member`` broke: keep what precedes it, report the rest.

        What came before that member is whole (Common Crawl: one record per member), so the
        record in the buffer up to there is parsed; what the broken member gave is dead-lettered.
        """
        buf = self._buf
        if self._seen_delimiter and not self._skipping and self._base < last_member:
            whole = last_member - self._base
            yield self._record(buf[:whole], self._base)
            del buf[:whole]
            self._base = last_member
        yield self._dead(error.reason, self._offset(self._base), buf)
        self._reported = True
        del buf[:]
        self._base = self._pre_start = self.bytes_read
        self._scan = 0
        self._skipping = False

    def _offset(self, start: int) -> int:
        """Stored offset of a record starting at decompressed offset ``start`` (module doc)."""
        return self._members.get(start, start)

    def _dead(self, reason: str, offset: int, data: bytes | bytearray) -> DeadLetter:
        return DeadLetter(
            stage=STAGE,
            source_file=self.source_file,
            record_offset=offset,
            reason=reason,
            excerpt=_excerpt(data),
        )

    def _record(self, data: bytes | bytearray, start: int) -> Item:
        offset = self._offset(start)
        try:
            decoded = data.decode("utf-8")
        except UnicodeDecodeError:
            return self._dead(REASON_INVALID_UTF8, offset, data)
        return _parse(decoded, self.source_file, offset, self._require_timestamp, self.file_index)


def _delimiter_line(buf: bytearray, hit: int, final: bool) -> int | None:
    """Where the line around ``hit`` starts if it strips to ``WARC/1.0``, else -1.

    ``None`` means the line's end is not in ``buf`` yet (and ``final`` is False). Lines end at
    ``\\n``, ``\\r\\n`` or ``\\r``, as under universal newlines.
    """
    after = hit + len(_DELIMITER_BYTES)
    # Search \r only up to the next \n: LF-only files would otherwise scan the whole buffer.
    end = buf.find(b"\n", after)
    cr = buf.find(b"\r", after, end if end >= 0 else len(buf))
    if cr >= 0:
        end = cr
    elif end < 0:
        if not final:
            return None
        end = len(buf)
    start = buf.rfind(b"\n", 0, hit) + 1
    start = buf.rfind(b"\r", start, hit) + 1 or start
    if start == hit and end == after:
        return start
    try:
        line = bytes(buf[start:end]).decode("utf-8")
    except UnicodeDecodeError:
        return -1
    return start if line.strip() == _PAGE_DELIMITER else -1


def _split_lines(record: str) -> tuple[list[str], str]:
    """Stripped non-empty lines split at ``\\n`` -> (metadata lines, text), both in line order.

    Metadata lines are the header block, and rarely body lines with a metadata prefix: the body
    is checked with three C-level searches instead of a Python test per line.
    """
    lines = list(filter(None, map(str.strip, record.split("\n"))))
    head = 0
    while head < len(lines) and lines[head].startswith(_METADATA_PREFIXES):
        head += 1
    text = "\n".join(lines[head:])
    metadata = lines[:head]
    if "\nWARC" in text or "\nCONTENT-" in text or "\nContent-" in text:
        body = lines[head:]
        metadata += [line for line in body if line.startswith(_METADATA_PREFIXES)]
        text = "\n".join([line for line in body if not line.startswith(_METADATA_PREFIXES)])
    return metadata, text


def parse_record(
    record: str, source_file: str, record_offset: int, rules: C4Rules, file_index: int = 0
) -> Page | Dropped:
    """One decoded record (delimiter line included) -> its ``Page``, or why TFDS drops it."""
    return _parse(record, source_file, record_offset, rules.require_timestamp, file_index)


def _parse(
    record: str, source_file: str, record_offset: int, require_timestamp: bool, file_index: int
) -> Page | Dropped:
    metadata, text = _split_lines(record)
    if "\r" in text or any("\r" in line for line in metadata):
        # A \r left inside a stripped line is a lone one, a line end under universal newlines
        # (\r\n and edge \r only ever made the empty lines that are dropped anyway).
        metadata, text = _split_lines(record.replace("\r\n", "\n").replace("\r", "\n"))
    # In line order, so the last occurrence wins, as in TFDS. ``line.startswith("Key:")`` is
    # ``line.partition(":")[0] == "Key"``: one split and one dict lookup per metadata line.
    found: dict[str, str] = {}
    for line in metadata:
        key, colon, value = line.partition(":")
        if colon and key in _FIELD_KEYS:
            if key in _FIRST_WINS and key in found:
                continue
            found[key] = value.strip()
    url = found.get(_URL_KEY[:-1], "")
    timestamp = found.get(_DATE_KEY[:-1], "")
    content_type = found.get(_TYPE_KEY[:-1], "")
    content_length = found.get(_LENGTH_KEY[:-1], "")
    record_id = found.get(_RECORD_ID_KEY[:-1], "")
    digest = found.get(_DIGEST_KEY[:-1], "")
    doc_id = make_doc_id(record_id, source_file, record_offset)
    reason = ""
    if not url:
        reason = "filtered:no_url"
    elif not text:
        reason = "filtered:no_content"
    elif require_timestamp and not timestamp:
        reason = "filtered:no_timestamp"
    if reason:
        return Dropped(stage=STAGE, reason=reason, doc_id=doc_id, url=url)
    return Page(
        url=url,
        normalized_url=normalize_url(url),
        text=text,
        timestamp=timestamp,
        content_type=content_type,
        content_length=content_length,
        doc_id=doc_id,
        source_file=source_file,
        record_offset=record_offset,
        record_id=record_id,
        block_digest=digest,
        file_index=file_index,
    )


def iter_wet(
    stream: BinaryIO,
    source_file: str,
    rules: C4Rules,
    file_index: int = 0,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> WetReader:
    """Parse a WET stream (multi-member gzip, single gzip or plain) as TFDS ``split_wet_file``.

    Args:
        stream: binary stream positioned at the file's start; read sequentially, never seeked.
        source_file: the file's stable name (``source_file_name``), stored on every item.
        rules: the resolved config/version (3.x also requires a timestamp).
        file_index: position of the file in the input list, stored on every page.
        max_record_bytes: decompressed size above which a record is dead-lettered unread.

    Returns:
        An iterator of ``Page``, ``Dropped`` (TFDS's ``filtered:*`` counters, stage
        ``split-wet-file``) and ``DeadLetter`` items, in file order. It has ``.bytes_read``
        (decompressed bytes so far) and ``.close()``, and is a context manager.
    """
    return WetReader(stream, source_file, rules, file_index, max_record_bytes)


def iter_wet_path(
    path: str,
    rules: C4Rules,
    file_index: int = 0,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> WetReader:
    """``iter_wet`` on a local file, named by ``source_file_name``; closed once exhausted."""
    stream = open(path, "rb")  # noqa: SIM115 -- the reader owns it and closes it
    return WetReader(
        stream, source_file_name(path), rules, file_index, max_record_bytes, close_stream=True
    )


def missing_field_counters(page: Page) -> dict[str, int]:
    """2.2.0's informational ``split-wet-file`` counters for a page lacking a header field.

    Legacy names (3.x has no such counters). 2.2.0 counts them for every record; a ``Dropped``
    record carries no fields, so callers count pages only (no shared sample has a dropped record
    with a field missing).
    """
    fields = (
        (page.content_type, "page-nocontenttype"),
        (page.content_length, "page-nocontentlen"),
        (page.timestamp, "page-notimestamp"),
    )
    return {f"{STAGE}/{name}": 1 for value, name in fields if not value}
