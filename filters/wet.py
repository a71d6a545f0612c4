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
  stream ends inside a member), ``corrupt_gzip`` (a damaged member or stretch of the file),
  ``trailing_garbage`` (bytes after the last member that hold no member and are not zero
  padding), ``not_wet`` and ``empty_file`` (nothing but whitespace). For a broken member, the
  record that started before it is kept whole and what the member gave is the dead letter's
  excerpt.
* After damage, reading resumes at the next intact gzip member that starts a ``WARC/1.0``
  record (``_scan_damage``), so every intact member after it is read. The damaged stretch is one
  dead letter per record start found in it (a member whose gzip header is damaged but whose data
  still starts a record, or a whole header whose data cannot be read): in Common Crawl's
  one-record-per-member layout, one per lost record. Each says which bytes of the file it stands
  for (``lost_bytes``, and ``detail``: the byte range, what is damaged, the ``WARC-Record-ID``
  read from the damaged bytes). This costs nothing on clean input: the search runs after damage.
* Not WET, not read as WET: a record whose ``WARC-Type`` is not ``conversion`` or ``warcinfo``
  (a WARC's ``response``/``request``/``metadata`` records, a WAT's JSON ``metadata``), another
  WARC version, or no ``WARC/1.0`` line at all is one ``not_wet`` dead letter, and the rest of
  the file is not read (its bytes are counted). TFDS would clean a WARC response's HTML as text.
* A stream that fails (a download that broke off past its retries) ends the file there: what
  arrived is read to the end, the last whole record too, then the failure is raised.

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
import io
import posixpath
import re
import zlib
from collections.abc import Callable, Generator, Iterator
from typing import Any, BinaryIO, NamedTuple, cast

from filters.kernels import native
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
# Not a TFDS rule: a record of another type means the file is no WET file (module doc).
_WARC_TYPE_KEY = "WARC-Type:"
_WET_TYPES = frozenset(("conversion", "warcinfo"))
_FIELD_KEYS = frozenset(
    k[:-1]
    for k in (
        _URL_KEY,
        _DATE_KEY,
        _TYPE_KEY,
        _LENGTH_KEY,
        _RECORD_ID_KEY,
        _DIGEST_KEY,
        _WARC_TYPE_KEY,
    )
)
_FIRST_WINS = frozenset((_RECORD_ID_KEY[:-1], _DIGEST_KEY[:-1], _WARC_TYPE_KEY[:-1]))
_RECORD_ID = re.compile(rb"WARC-Record-ID:[ \t]*(<[^>\r\n]{1,200}>)")
_USE_WET = " \N{EM DASH} use a WET file"
_NO_RECORD = "no WARC/1.0 record"

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
# Looking for a member that starts a record after damage: compressed bytes tried per candidate
# and what is inflated of it (enough for a record's header block, which names it).
_PROBE_IN = 16 * 1024
_PROBE_OUT = 4 * 1024
_PROBE_STEP = 64
# How far into a file that does not start with a gzip header to look for damaged gzip.
_HEAD_SEARCH = 64 * 1024
# What a damaged piece is (``DeadLetter.detail``, after its byte range).
_BAD_HEADER = "gzip header damaged"
_BAD_MEMBER_DATA = "gzip member damaged"
_NO_MEMBER = "no gzip member starts here"
_GARBAGE = "bytes after the last gzip member"
_PADDING = ""  # the reason of a ``_SourceError`` that is zero padding, no damage

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


class ForeignRecord(ValueError):
    """A WARC record that is not WET's (``WARC-Type`` other than ``conversion``/``warcinfo``).

    ``parse_record`` raises it; a reader stops at it and dead-letters the file as ``not_wet``.
    """

    def __init__(self, warc_type: str, content_type: str) -> None:
        super().__init__(f"WARC-Type {warc_type}: not a WET record")
        self.warc_type = warc_type
        self.content_type = content_type
        # Set by the reader: where the record is and what it begins with.
        self.offset = 0
        self.stored_from = 0
        self.data = b""


def _excerpt(data: bytes | bytearray) -> str:
    return bytes(data[: EXCERPT_CHARS * 4]).decode("utf-8", errors="replace")[:EXCERPT_CHARS]


class _SourceError(NamedTuple):
    """The stored stream is damaged from ``offset`` to ``end`` (reading resumed at ``end``).

    ``in_stream``: the damage is a gzip member that broke while inflating; what it gave before
    breaking was handed over as data (the reader salvages it). Otherwise ``excerpt`` is what
    could be read of the damaged piece (its own record start, or its raw bytes). ``window`` is
    the stored offset of the compressed input in which inflating failed (the damage lies in the
    ``_FEED_SIZE`` bytes from there), or -1.
    """

    reason: str
    offset: int
    end: int = -1
    window: int = -1
    excerpt: bytes = b""
    detail: str = ""
    in_stream: bool = False


class _Member(NamedTuple):
    """A gzip member starts here: stored offset ``offset``."""

    offset: int


Read = Callable[[int], bytes]
Chunks = Generator[bytes | _Member | _SourceError, None, None]


def _plain_chunks(head: bytes, read: Read) -> Chunks:
    if head:
        yield head
    while block := read(_READ_SIZE):
        yield block


def _gzip_chunks(head: bytes, read: Read) -> Chunks:
    """Inflate member after member, announcing each member's stored offset before its bytes.

    Damage (a member that fails to inflate, bytes where a member should start) is reported as
    ``_SourceError`` pieces, then reading resumes at the next gzip member that starts a WARC
    record (``_scan_damage``): every intact member after the damage is read.

    The inflater gets at most ``_FEED_SIZE`` bytes per call: at a member's end it copies all the
    input it was given past that end into ``unused_data``, so handing it the whole read block
    would copy the rest of the block once per member (Common Crawl's members are a few KB).
    """
    pending = head  # compressed bytes; pending[pos:] not yet handed to a decompressor
    pos = 0
    base = 0  # stored offset of pending[0]
    eof = False
    padding = -1  # stored offset where the zero bytes being skipped began
    while True:
        if len(pending) - pos < len(_MEMBER_MAGIC) and not eof:
            block = read(_READ_SIZE)
            eof = not block
            base += pos
            pending, pos = pending[pos:] + block, 0
            continue
        if pos == len(pending):
            if padding >= 0:
                yield _SourceError(_PADDING, padding, end=base + pos)
            return
        if pending[pos] == 0 and (padding >= 0 or base + pos > 0):
            # Zero padding between or after members is legal gzip (the gzip module skips it);
            # before the first member it is not.
            if padding < 0:
                padding = base + pos
            rest = pending[pos:].lstrip(b"\x00")
            base += len(pending) - len(rest)
            pending, pos = rest, 0
            continue
        if not pending.startswith(_GZIP_MAGIC, pos):
            # Bytes where a member should start: damage (or garbage after the last member).
            start = padding if padding >= 0 else base + pos
            padding = -1
            pending, base, eof = yield from _scan_damage(
                pending[pos:], base + pos, eof, read, start
            )
            pos = 0
            continue
        if padding >= 0:
            yield _SourceError(_PADDING, padding, end=base + pos)
            padding = -1
        start = base + pos
        yield _Member(start)
        inflater = _decompressobj(wbits=31)
        view = memoryview(pending)
        while True:
            fed = view[pos : pos + _FEED_SIZE]
            try:
                out = inflater.decompress(fed, _INFLATE_CHUNK)
                while True:
                    if out:
                        yield out
                    # At a member's end CPython keeps the rest in both unconsumed_tail and
                    # unused_data; another call would append it to unused_data again. An
                    # inflater stopped by the chunk limit can hold output with no
                    # unconsumed_tail (ISA-L buffers input it has taken): ask until it gives less.
                    if inflater.eof or not (inflater.unconsumed_tail or len(out) == _INFLATE_CHUNK):
                        break
                    out = inflater.decompress(inflater.unconsumed_tail, _INFLATE_CHUNK)
            except _INFLATE_ERRORS:
                # A failed call gives nothing: if it was the member's first, read its start
                # in small steps for the dead letter (the record's header names it).
                kind, record, _ = (
                    _probe(bytes(fed[:_PROBE_IN]), 0) if base + pos == start else (0, b"", 0)
                )
                broken = _SourceError(
                    REASON_CORRUPT_GZIP,
                    start,
                    window=base + pos,
                    excerpt=record,
                    detail=_BAD_HEADER if kind == _BAD_HEADER_RECORD else _BAD_MEMBER_DATA,
                    in_stream=True,
                )
                del fed, view  # the scan reslices pending
                skip = start + 1 - base
                if skip < 0:  # the member began in an earlier block: search from here
                    skip = 0
                pending, base, eof = yield from _scan_damage(
                    pending[skip:], base + skip, eof, read, start, broken
                )
                pos = 0
                break
            if inflater.eof:
                pos += len(fed) - len(inflater.unused_data)
                break
            pos += len(fed)
            if pos < len(pending):
                continue
            window = base + pos - len(fed)
            base += len(pending)
            pending, pos = (b"" if eof else read(_READ_SIZE)), 0
            view = memoryview(pending)
            if not pending:
                try:  # output the inflater still holds for the part of the member that did arrive
                    if rest := inflater.flush():
                        yield rest
                except _INFLATE_ERRORS:
                    pass
                yield _SourceError(
                    REASON_TRUNCATED_GZIP,
                    start,
                    end=base,
                    window=window,
                    detail="the file ends inside this gzip member",
                    in_stream=True,
                )
                return


# What ``_probe`` finds.
_NOTHING, _RESUME, _BAD_HEADER_RECORD, _BAD_MEMBER = range(4)


class _Candidates:
    """Where a gzip member may start in ``data``: ``1f 8b 08`` with at most one byte damaged.

    Three fast searches (``1f 8b``, ``8b 08`` one byte later, ``1f ? 08``), each remembered until
    passed, instead of one slow regular expression.
    """

    _ONE_OFF = re.compile(rb"\x1f.\x08", re.DOTALL)

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._next = [-1, -1, -1]  # next hit of each search, -1: not searched yet from there
        self._from = [0, 0, 0]

    def next(self, at: int) -> int:
        """The first candidate at ``at`` or after, -1 if none."""
        data, hits = self._data, self._next
        for i in range(3):
            if hits[i] >= at or (hits[i] == -2 and self._from[i] <= at):
                continue
            self._from[i] = at
            if i == 0:
                hit = data.find(b"\x1f\x8b", at)
            elif i == 1:  # the 1f before it damaged
                hit = data.find(b"\x8b\x08", at + 1)
                hit = hit - 1 if hit > 0 else -1
            else:
                match = self._ONE_OFF.search(data, at)
                hit = match.start() if match else -1
            hits[i] = hit if hit >= 0 else -2
        found = [h for h in hits if h >= 0]
        return min(found) if found else -1


def _inflate_start(data: bytes, wbits: int) -> bytes:
    """What the start of ``data`` inflates to (at most ``_PROBE_OUT`` bytes), up to an error.

    Fed in small steps: zlib gives nothing of a call that fails, and the damage may be a few
    dozen bytes after the record's header.
    """
    inflater = zlib.decompressobj(wbits=wbits)
    out = b""
    for at in range(0, len(data), _PROBE_STEP):
        try:
            out += inflater.decompress(data[at : at + _PROBE_STEP], _PROBE_OUT - len(out))
        except zlib.error:
            break
        if len(out) >= _PROBE_OUT or inflater.eof:
            break
    return out


def _starts_record(out: bytes) -> bool:
    return out.lstrip(b" \t\r\n").startswith(_DELIMITER_BYTES)


def _whole_header(window: bytes) -> bool:
    """``window`` starts with a plausible 10-byte gzip header: magic, deflate, no reserved
    flag, a known ``XFL`` and ``OS`` (about one in 10**10 random positions passes)."""
    return (
        len(window) >= 10
        and window.startswith(_MEMBER_MAGIC)
        and not window[3] & 0xE0
        and window[8] in (0, 2, 4)
        and (window[9] <= 13 or window[9] == 255)
    )


def _probe(data: bytes, at: int) -> tuple[int, bytes, int]:
    """What starts at ``data[at]``: ``(kind, what its data begins with, where that data starts
    after ``at``)``.

    ``_RESUME``: an intact gzip member starting a WARC record, where reading resumes;
    ``_BAD_HEADER_RECORD``: a record whose gzip header is damaged (its deflate data, read past a
    10-byte header with ``FLG`` 0 as Common Crawl's, or one with a byte lost or added, starts a
    WARC record); ``_BAD_MEMBER``: a whole gzip header whose data does not give a record start
    (one lost record in Common Crawl's layout); ``_NOTHING``.
    """
    window = data[at : at + _PROBE_IN]
    if window.startswith(_MEMBER_MAGIC):
        out = _inflate_start(window, 31)
        if _starts_record(out):
            return _RESUME, out, 10
    for header in (10, 9, 11):
        out = _inflate_start(window[header:], -15)
        if _starts_record(out):
            return _BAD_HEADER_RECORD, out, header
    if _whole_header(window):
        return _BAD_MEMBER, _inflate_start(window[10:], -15), 10
    return _NOTHING, b"", 0


def _damaged_gzip(head: bytes) -> bool:
    """Whether a file that does not start with a gzip header is gzip damaged at its start: a
    record starts in a gzip member in its first bytes (WET text hardly has bytes 1f or 8b)."""
    candidates = _Candidates(head[:_HEAD_SEARCH])
    at = 0  # its first byte may be lost: no candidate there, but a header of 9 bytes
    while at >= 0:
        if _probe(head, at)[0] in (_RESUME, _BAD_HEADER_RECORD):
            return True
        at = candidates.next(at + 1)
    return False


def _ended(piece: _SourceError, end: int) -> _SourceError:
    """``piece`` ending at ``end``; raw bytes in its excerpt are its own only."""
    if piece.detail in (_NO_MEMBER, _GARBAGE):
        return piece._replace(end=end, excerpt=piece.excerpt[: end - piece.offset])
    return piece._replace(end=end)


def _scan_damage(
    pending: bytes, base: int, eof: bool, read: Read, start: int, first: _SourceError | None = None
) -> Generator[_SourceError, None, tuple[bytes, int, bool]]:
    """Report the damaged stretch from stored offset ``start``; find where reading resumes.

    ``pending`` (stored offset ``base``) is where the search begins. The stretch ends at the
    next intact gzip member whose data starts with a ``WARC/1.0`` line, or at the end of the
    input. It is cut into pieces at every record start found in it (a member whose header is
    damaged but whose data still begins a WARC record), one ``_SourceError`` each, so every
    record that can be told apart is counted; bytes that cannot be told apart stay in the piece
    before them. ``first`` is the piece at ``start`` when it is known already (a member that
    broke while inflating). Returns ``(pending, base, eof)`` from the member found (or empty).
    """
    at = 0
    claimed = -1  # where the data of the last record start found begins: found once only
    if first is None:  # no member at pending[0]: a record whose gzip header is damaged?
        while len(pending) < _PROBE_IN and not eof:
            more = read(_READ_SIZE)
            eof = not more
            pending += more
        kind, record, data_at = _probe(pending, 0)
        if kind == _BAD_HEADER_RECORD:
            first = _SourceError(REASON_CORRUPT_GZIP, start, excerpt=record, detail=_BAD_HEADER)
            claimed = base + data_at
        else:
            raw = pending[: EXCERPT_CHARS * 4]
            first = _SourceError(REASON_CORRUPT_GZIP, start, excerpt=raw, detail=_NO_MEMBER)
        at = 1
    else:
        claimed = start + 10  # a broken member's data, Common Crawl's header being 10 bytes
    piece = first
    candidates = _Candidates(pending)
    while True:
        hit = candidates.next(at)
        if hit < 0 or (hit + _PROBE_IN > len(pending) and not eof):
            if eof and hit < 0:
                end = base + len(pending)
                if piece.detail == _NO_MEMBER:  # nothing but bytes that are no member, to the end
                    piece = piece._replace(reason=REASON_TRAILING_GARBAGE, detail=_GARBAGE)
                yield _ended(piece, end)
                return b"", end, True
            # Read on, keeping what a candidate at or after ``at`` needs.
            keep = hit if hit >= 0 else max(at, len(pending) - 2)
            block = b"" if eof else read(_READ_SIZE)
            eof = not block
            base += keep
            pending, at = pending[keep:] + block, 0
            candidates = _Candidates(pending)
            continue
        kind, record, data_at = _probe(pending, hit)
        if kind == _NOTHING or base + hit + data_at == claimed:
            at = hit + 1
            continue
        claimed = base + hit + data_at
        yield _ended(piece, base + hit)
        if kind == _RESUME:
            return pending[hit:], base + hit, eof
        detail = _BAD_HEADER if kind == _BAD_HEADER_RECORD else _BAD_MEMBER_DATA
        piece = _SourceError(REASON_CORRUPT_GZIP, base + hit, excerpt=record, detail=detail)
        at = hit + 1


class WetReader:
    """Iterates one WET stream as ``Page | Dropped | DeadLetter``; see ``iter_wet``.

    ``bytes_read`` (decompressed bytes consumed so far) is there for throughput figures;
    ``padding_bytes`` counts the zero bytes skipped between or after gzip members (legal gzip
    padding, so neither read nor lost).
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
        self.padding_bytes = 0
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
        self._member_offset = 0  # stored offset of the latest member start
        self._plain = False  # not gzip: stored offsets are decompressed offsets
        self._stored = 0  # bytes read from the stream
        self._read_error: Exception | None = None
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
            if self._read_error is not None:
                raise self._read_error
        finally:  # on exhaustion, or when an abandoned reader is closed or collected
            if self._close_stream:
                self._stream.close()

    def _read(self, size: int) -> bytes:
        """The stream's next bytes. A stream that fails ends here: what came before the failure
        is read to the end, then the failure is raised (a download that broke off keeps its
        records)."""
        if self._read_error is not None:
            return b""
        try:
            block = self._stream.read(size)
        except Exception as exc:  # any source's failure: raised again once the rest is read
            self._read_error = exc
            return b""
        self._stored += len(block)
        return block

    def _run(self) -> Iterator[Item]:
        read = self._read
        head = read(_READ_SIZE)
        while 0 < len(head) < len(_GZIP_MAGIC) and (more := read(_READ_SIZE)):
            head += more  # a stream may return short reads; the magic needs two bytes
        if head.startswith(_GZIP_MAGIC) or _damaged_gzip(head):
            chunks = _gzip_chunks(head, read)
        else:
            self._plain = True
            chunks = _plain_chunks(head, read)
        truncated: _SourceError | None = None
        last_member = -1
        nonblank = False
        try:
            for chunk in chunks:
                if isinstance(chunk, _Member):
                    self._members[self.bytes_read] = chunk.offset
                    self._member_offset = chunk.offset
                    last_member = self.bytes_read
                elif isinstance(chunk, _SourceError):
                    if chunk.reason == _PADDING:
                        self.padding_bytes += chunk.end - chunk.offset
                    elif chunk.reason == REASON_TRUNCATED_GZIP:
                        truncated = chunk
                    else:  # reading resumes after the damage
                        yield from self._damaged(chunk, last_member)
                else:
                    self.bytes_read += len(chunk)
                    nonblank = nonblank or bool(chunk.strip())
                    self._buf += chunk
                    yield from self._cut(final=False)
                    yield from self._check_size()
            yield from self._cut(final=True)
            yield from self._finish(truncated, last_member, nonblank)
        except ForeignRecord as foreign:
            chunks.close()
            yield self._not_wet(foreign)

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
        if not self._seen_delimiter:
            self._seen_delimiter = True
            if self._skipping:
                yield self._dead(REASON_RECORD_TOO_LARGE, self._offset(self._pre_start), b"")
            elif cut > 0 and (self._require_timestamp or self._buf[:cut].strip()):
                # TFDS 3.x validates what precedes the first delimiter (it is not at line 0);
                # 2.x counts nothing for blank lines there.
                yield self._record(cut, self._pre_start)
        elif not self._skipping and cut > 0:  # cut == 0 only right after a broken member
            yield self._record(cut, self._base)
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
        self, truncated: _SourceError | None, last_member: int, nonblank: bool
    ) -> Iterator[Item]:
        if truncated is not None:
            yield from self._salvage(truncated, last_member)
            return
        if not self._seen_delimiter:
            if self._reported or self._read_error is not None:
                pass  # a damaged stretch or a failed source was reported: that is the story
            elif self._skipping or nonblank:
                detail = _NO_RECORD
                if self._buf.startswith(b"WARC/"):  # another WARC version
                    version = bytes(self._buf[:12]).split()[0].decode("ascii", "replace")
                    detail = f"{version} records{_USE_WET}"
                yield self._dead(REASON_NOT_WET, 0, self._buf, detail, self._stored)
            else:
                yield self._dead(REASON_EMPTY_FILE, 0, self._buf)
            return
        if not self._skipping and self._buf:
            yield self._record(len(self._buf), self._base)

    def _damaged(self, piece: _SourceError, last_member: int) -> Iterator[Item]:
        """A damaged stretch, whose records are lost: keep what precedes it, report it."""
        if piece.in_stream:  # a member broke: what it gave is in the buffer from last_member
            yield from self._salvage(piece, last_member)
            return
        # The last member before the damage ended whole, and with it what the buffer holds.
        yield from self._cut(final=True)
        yield from self._salvage(piece, self.bytes_read)

    def _salvage(self, error: _SourceError, cut: int) -> Iterator[Item]:
        """The input is damaged from decompressed offset ``cut``: keep what precedes it, report
        the rest.

        What came before that point is whole (Common Crawl: one record per member), so the
        record in the buffer up to there is parsed; what the broken member gave (or the damaged
        piece's own excerpt) is dead-lettered.
        """
        buf = self._buf
        # Records were cut out of the broken member's own output: it held more than one.
        several = error.in_stream and self._base > cut
        if self._seen_delimiter and not self._skipping and self._base < cut:
            whole = cut - self._base
            yield self._record(whole, self._base)
            del buf[:whole]
            self._base = cut
        offset = self._offset(self._base) if error.in_stream else error.offset
        # Lost: from the broken member's start or, where records of it were read, from the
        # compressed input the inflater failed in; up to where reading resumed.
        lost_from = error.window if several and error.window >= 0 else error.offset
        lost = max(0, error.end - lost_from)
        excerpt = error.excerpt or buf
        detail = f"bytes {lost_from}-{error.end} of the file ({lost} bytes): {error.detail}"
        if found := _RECORD_ID.search(excerpt[:_PROBE_OUT]):
            detail += f"; WARC-Record-ID {found.group(1).decode('utf-8', 'replace')}"
        yield self._dead(error.reason, offset, excerpt, detail, lost)
        self._reported = True
        del buf[:]
        self._base = self._pre_start = self.bytes_read
        self._scan = 0
        self._skipping = False

    def _not_wet(self, foreign: ForeignRecord) -> DeadLetter:
        """The dead letter of a file of other WARC records, from the first one on (unread)."""
        total = self._size()
        lost = max(0, total - foreign.stored_from)
        kind = f"WARC {foreign.warc_type} records"
        if foreign.warc_type == "metadata" and "json" in foreign.content_type:
            kind = "WAT records (WARC metadata, JSON)"
        detail = f"{kind}{_USE_WET}; bytes {foreign.stored_from}-{total} not read"
        return self._dead(REASON_NOT_WET, foreign.offset, foreign.data, detail, lost)

    def _size(self) -> int:
        """The stream's size as stored: by seeking, from its ``size`` (a download's
        Content-Length), else by reading the rest (up to a failure)."""
        stream = self._stream
        try:
            if stream.seekable():
                return int(stream.seek(0, io.SEEK_END))
        except (OSError, ValueError):
            pass
        size = getattr(stream, "size", None)
        if isinstance(size, int) and size >= 0:
            return size
        while self._read(_READ_SIZE):
            pass
        return self._stored

    def _offset(self, start: int) -> int:
        """Stored offset of a record starting at decompressed offset ``start`` (module doc)."""
        return self._members.get(start, start)

    def _dead(
        self,
        reason: str,
        offset: int,
        data: bytes | bytearray,
        detail: str = "",
        lost_bytes: int = 0,
    ) -> DeadLetter:
        return DeadLetter(
            stage=STAGE,
            source_file=self.source_file,
            record_offset=offset,
            reason=reason,
            excerpt=_excerpt(data),
            detail=detail,
            lost_bytes=lost_bytes,
        )

    def _record(self, end: int, start: int) -> Item:
        """The record ``buf[:end]``, at decompressed offset ``start``."""
        offset = self._offset(start)
        fields = _record_fields(self._buf, end)
        if fields is None:
            return self._dead(REASON_INVALID_UTF8, offset, self._buf[:end])
        try:
            return _page(fields, self.source_file, offset, self._require_timestamp, self.file_index)
        except ForeignRecord as foreign:  # the reader stops at it (``_run``)
            foreign.offset = offset
            foreign.data = bytes(self._buf[: min(end, EXCERPT_CHARS * 4)])
            known = self._plain or start in self._members
            foreign.stored_from = offset if known else self._member_offset
            raise


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


def _split_record_py(record: str) -> tuple[list[str], str]:
    """A record's (metadata lines, text) under universal newlines, ``_split_lines`` per line.

    The specification of ``filters._native.split_wet_record`` (``_split_record``).
    """
    metadata, text = _split_lines(record)
    if "\r" in text or any("\r" in line for line in metadata):
        # A \r left inside a stripped line is a lone one, a line end under universal newlines
        # (\r\n and edge \r only ever made the empty lines that are dropped anyway).
        metadata, text = _split_lines(record.replace("\r\n", "\n").replace("\r", "\n"))
    return metadata, text


def _split_record(record: str) -> tuple[list[str], str]:
    """``_split_record_py``, compiled where ``filters._native`` is built (``filters/kernels.py``).

    The compiled one splits at ``\\r`` and ``\\n`` in one pass: a stripped line can hold a ``\\r``
    only where the first pass of ``_split_record_py`` would find it and split again.
    """
    if native is None:
        return _split_record_py(record)
    return native.split_wet_record(record, _METADATA_PREFIXES)


def parse_record(
    record: str, source_file: str, record_offset: int, rules: C4Rules, file_index: int = 0
) -> Page | Dropped:
    """One decoded record (delimiter line included) -> its ``Page``, or why TFDS drops it.

    Raises:
        ForeignRecord: the record's ``WARC-Type`` is not WET's (a WARC response, a WAT record).
    """
    return _parse(record, source_file, record_offset, rules.require_timestamp, file_index)


Fields = tuple[str, str, str, str, str, str, str | None, str]
"""A record's ``(url, timestamp, content_type, content_length, record_id, block_digest,
warc_type, text)``: header values ``""`` where absent, ``warc_type`` None where absent."""


def _fields(record: str, split: Callable[[str], tuple[list[str], str]] | None = None) -> Fields:
    """A decoded record's header fields and text (split by ``split``, else ``_split_record``)."""
    metadata, text = (split or _split_record)(record)
    # In line order, so the last occurrence wins, as in TFDS. ``line.startswith("Key:")`` is
    # ``line.partition(":")[0] == "Key"``: one split and one dict lookup per metadata line.
    found: dict[str, str] = {}
    for line in metadata:
        key, colon, value = line.partition(":")
        if colon and key in _FIELD_KEYS:
            if key in _FIRST_WINS and key in found:
                continue
            found[key] = value.strip()
    return (
        found.get(_URL_KEY[:-1], ""),
        found.get(_DATE_KEY[:-1], ""),
        found.get(_TYPE_KEY[:-1], ""),
        found.get(_LENGTH_KEY[:-1], ""),
        found.get(_RECORD_ID_KEY[:-1], ""),
        found.get(_DIGEST_KEY[:-1], ""),
        found.get(_WARC_TYPE_KEY[:-1]),
        text,
    )


def _fields_py(data: bytes | bytearray) -> Fields | None:
    """A record's bytes -> its ``Fields``, None where they are not strict UTF-8 (the reader's
    ``invalid_utf8``). The specification of ``filters._native.wet_record``, which decodes and
    splits in one call on the bytes (no whole-record str, no list of header lines)."""
    try:
        record = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return _fields(record, _split_record_py)


def _record_fields(buf: bytearray, end: int) -> Fields | None:
    """``_fields_py(buf[:end])``, compiled where ``filters._native`` is built."""
    if native is None:
        return _fields_py(buf[:end])
    return native.wet_record(buf, 0, end)


def _parse(
    record: str, source_file: str, record_offset: int, require_timestamp: bool, file_index: int
) -> Page | Dropped:
    return _page(_fields(record), source_file, record_offset, require_timestamp, file_index)


def _page(
    fields: Fields, source_file: str, record_offset: int, require_timestamp: bool, file_index: int
) -> Page | Dropped:
    """A record's fields -> its ``Page``, or why TFDS drops it; ``ForeignRecord`` if not WET."""
    url, timestamp, content_type, content_length, record_id, digest, warc_type, text = fields
    if warc_type is not None and warc_type not in _WET_TYPES:
        raise ForeignRecord(warc_type, content_type)
    doc_id = make_doc_id(record_id, source_file, record_offset)
    reason = ""
    if not url:
        reason = "filtered:no_url"
    elif not text:
        reason = "filtered:no_content"
    elif require_timestamp and not timestamp:
        reason = "filtered:no_timestamp"
    if reason:
        return Dropped(STAGE, reason, doc_id, url, source_file, record_offset, record_id)
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
