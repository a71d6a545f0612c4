"""ReadWet: WET files -> pages, with every record counted and unreadable input dead-lettered.

Local files are opened through Beam's ``FileSystems``, ``https://`` and ``gs://`` ones through
``pipeline.io.http`` (streamed, retried, resumed), and parsed by ``filters.wet.iter_wet``,
which never raises on broken input: it yields ``Page``, ``Dropped`` and ``DeadLetter`` items,
each one WET record (``input/records``). Bytes of the input a dead letter could not count in
records (a damaged stretch, the rest of a failed download) are counted in ``input/lost_bytes``.

Remote files (``https://``, ``gs://``) are downloaded ahead, in parallel, at most
``--max_concurrent_downloads`` at once, and read in the order their downloads end
(``pipeline.io.prefetch``): a slow file does not hold up the others. Local files are read at once.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.window import GlobalWindows

from filters.ledger import INGEST_COUNTER, LedgerBlock
from filters.lineage import Request
from filters.records import DeadLetter, Dropped, Page
from filters.spec import C4Rules
from filters.wet import REASON_NOT_WET, STAGE, iter_wet, missing_field_counters
from pipeline.config import InputFile
from pipeline.io.expand import listed_size
from pipeline.io.gcs import connect_anonymously_if_emulated
from pipeline.io.http import FetchError, FetchPolicy, HttpFetcher, HttpStream
from pipeline.io.prefetch import DownloadStream, Prefetcher
from pipeline.io.urls import is_fetched, is_remote
from pipeline.runners import progress
from pipeline.transforms.common import CountingDoFn
from pipeline.transforms.drops import drop_record, from_dropped, unnamed
from pipeline.transforms.resume import FileDone, file_key

_LOG = logging.getLogger(__name__)
INPUT_RECORDS = "input/records"
INPUT_BYTES = "input/bytes"
# Bytes of the input, as stored, that dead letters stand for and no record count covers.
INPUT_LOST_BYTES = "input/lost_bytes"
# An https:// or gs:// input that could not be downloaded (past the retries):
# dead_letter/download.jsonl.
DOWNLOAD_STAGE = "download"
# Input files of which nothing could be read (refused, missing, failed past the retries before
# their first byte, unreadable): when that is every input, ``c4 build`` exits 1.
INPUT_FAILED_FILES = "input/failed_files"
# One input file as ReadWet hands it to its DoFn: path, file_index, source_file, and the size
# the listing at launch gave (``gs://``), else None.
Item = tuple[str, int, str, int | None]
# Pages of a blocklisted URL or domain (``c4 build --blocklist_urls/--blocklist_domains``).
BLOCKLISTED = f"{STAGE}/filtered:blocklisted"
# At most one progress line per worker process this often (a crawl has ~90,000 files).
PROGRESS_EVERY_S = 2.0


class _Progress:
    """Files and records read by this process, logged at most every ``PROGRESS_EVERY_S`` when no
    ``c4`` process watches the run (``pipeline.runners.progress``: on Dataflow, say)."""

    lock = threading.Lock()
    files = 0
    records = 0
    started = 0.0
    last_log = 0.0

    @classmethod
    def begin(cls) -> None:
        with cls.lock:
            if not cls.started:
                cls.started = time.monotonic()

    @classmethod
    def done(cls, source_file: str, records: int) -> None:
        now = time.monotonic()
        with cls.lock:
            cls.files += 1
            cls.records += records
            if now - cls.last_log < PROGRESS_EVERY_S:
                return
            cls.last_log = now
            files, total, elapsed = cls.files, cls.records, max(now - cls.started, 1e-9)
        _LOG.info(
            "read %s: %d files, %d records done in this worker (%.0f records/s)",
            source_file,
            files,
            total,
            total / elapsed,
        )


def _position(stream: Any) -> int:
    """How many compressed bytes of a file were read (0 where the stream cannot say)."""
    try:
        return int(stream.tell())
    except Exception:
        return 0


def _download_dead_letter(
    source_file: str, failure: FetchError, counts: Counter[str]
) -> DeadLetter:
    """The dead letter of a download that failed for good after ``failure.offset`` bytes; where
    the file's size is known, the bytes not received are lost (``input/lost_bytes``)."""
    received = failure.offset
    if failure.expected is None:
        detail, lost = f"{received} bytes received; the file's size is unknown", 0
    else:
        lost = max(0, failure.expected - received)
        detail = (
            f"bytes {received}-{failure.expected} of the file ({lost} bytes) not received; "
            f"its size, {failure.expected} bytes, from {failure.size_from}"
        )
    counts[INPUT_LOST_BYTES] += lost
    return DeadLetter(DOWNLOAD_STAGE, source_file, received, failure.reason, "", detail, lost)


def _until_failure(
    reader: Iterator[Page | Dropped | DeadLetter], failures: list[FetchError]
) -> Iterator[Page | Dropped | DeadLetter]:
    """``reader``'s records until a download fails for good; the failure goes to ``failures``."""
    try:
        yield from reader
    except FetchError as exc:
        failures.append(exc)


class _ReadWetFn(CountingDoFn):
    """One input file -> its pages and dead letters; its counters leave with the bundle's."""

    def __init__(
        self,
        rules: C4Rules,
        blocklist: Request | None = None,
        fetch: FetchPolicy | None = None,
        forget: LedgerBlock | None = None,
    ) -> None:
        super().__init__()
        self._rules = rules
        self._blocklist = blocklist if blocklist and not blocklist.empty else None
        self._forget = forget if forget and (forget.items or forget.url_sha256) else None
        self._fetch = fetch or FetchPolicy()
        self._fetcher: HttpFetcher | None = None
        self._downloads: Prefetcher | None = None
        self._fetching: dict[str, Item] = {}  # prefetched items by file_index
        self._listed: dict[str, int] = {}  # sizes the launch's listing gave, by path

    def setup(self) -> None:
        connect_anonymously_if_emulated()
        self._fetcher = HttpFetcher(self._fetch)

    def start_bundle(self) -> None:
        super().start_bundle()
        self._abandon_downloads()  # a failed bundle's, if any
        self._downloads = Prefetcher(self._open_source, self._fetch.max_concurrent)

    def teardown(self) -> None:
        self._abandon_downloads()

    def _abandon_downloads(self) -> None:
        if self._downloads is not None:
            self._downloads.close()
        self._downloads = None
        self._fetching = {}
        self._listed = {}

    def process(self, item: Item) -> Iterator[Page | DeadLetter | bytes]:
        """A local file is read now; a remote one starts downloading, and the files whose
        downloads have ended are read (the module docstring)."""
        if not is_remote(item[0]):
            yield from self._read_file(item)
            return
        if self._downloads is None:  # a runner that skipped start_bundle()
            self._downloads = Prefetcher(self._open_source, self._fetch.max_concurrent)
        downloads = self._downloads
        while downloads.full():
            yield from self._read_file(self._fetching.pop(str(downloads.next())))
        key = str(item[1])
        self._fetching[key] = item
        if item[3] is not None:
            self._listed[item[0]] = item[3]
        downloads.start(key, item[0])
        while (ready := downloads.ready()) is not None:
            yield from self._read_file(self._fetching.pop(ready))

    def _open(self, path: str, file_index: int) -> Any:
        """The file's prefetched download if there is one, else the source itself."""
        key = str(file_index)
        if self._downloads is not None and key in self._downloads:
            return self._downloads.take(key)  # raises the source's failure to open
        return self._open_source(path)

    def _open_source(self, path: str) -> Any:
        """``https://`` and ``gs://`` through our fetcher (retries, resume, one kind of dead
        letter), anything else through Beam."""
        if is_fetched(path):
            if self._fetcher is None:  # a runner that skipped setup()
                self._fetcher = HttpFetcher(self._fetch)
            return self._fetcher.open(path, self._listed.get(path))
        return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)

    def _read_file(self, item: Item) -> Iterator[Page | DeadLetter | bytes]:
        path, file_index, source_file = item[:3]
        counts: Counter[str] = Counter({f"{STAGE}/wet-file": 1})
        n = 0
        key = str(file_index)
        _Progress.begin()
        try:
            stream = self._open(path, file_index)
        except FetchError as exc:
            self._listed.pop(path, None)
            counts[INPUT_RECORDS] += 1
            counts[INPUT_FAILED_FILES] += 1
            counts[f"{DOWNLOAD_STAGE}/failed"] += 1
            letter = _download_dead_letter(source_file, exc, counts)  # counts its lost bytes
            self.count(counts)
            progress.file_done(key, 1, 0)
            yield letter
            return
        except Exception as exc:
            self._listed.pop(path, None)
            counts[INPUT_RECORDS] += 1
            counts[INPUT_FAILED_FILES] += 1
            self.count(counts)
            progress.file_done(key, 1, 0)
            reason, detail = f"unreadable: {type(exc).__name__}: {exc}"[:200], ""
            if not is_remote(path) and os.path.islink(path) and not os.path.exists(path):
                # Listed (pipeline.config keeps it), but its target is gone.
                reason, detail = "unreadable: dangling symlink", f"-> {os.readlink(path)}"
            yield DeadLetter(STAGE, source_file, 0, reason, "", detail)
            return
        self._listed.pop(path, None)
        failures: list[FetchError] = []
        pages = foreign = 0  # a file of WARC/WAT records alone (not_wet) is a failed input
        with stream:
            reader = iter_wet(stream, source_file, self._rules, file_index)
            for record in _until_failure(reader, failures):
                n += 1
                if isinstance(record, DeadLetter):
                    foreign += record.reason.startswith(REASON_NOT_WET)
                pages += isinstance(record, Page)  # not its warcinfo (a Dropped: no_url)
                if n % progress.POSITION_EVERY_RECORDS == 0:
                    progress.file_position(key, _position(stream))
                if isinstance(record, Page) and self._blocked(record):
                    # Before URL dedup: the build is as if the page had never been crawled.
                    counts[BLOCKLISTED] += 1
                    if self.report is not None:
                        self.report.drop({BLOCKLISTED: 1}, record.url)
                    if self.record_drops:  # c4 build --record_drops: ids, never a text
                        yield drop_record(record, {BLOCKLISTED: 1})
                elif isinstance(record, Page) and self._forgotten(record):
                    # DIR's forget ledger: counted, never shown (no URL reaches the report).
                    counts[INGEST_COUNTER] += 1
                    if self.record_drops:
                        yield unnamed(record, {INGEST_COUNTER: 1})
                elif isinstance(record, Page):
                    counts[f"{STAGE}/passed"] += 1
                    if self._rules.version == "2.2.0":
                        counts.update(missing_field_counters(record))
                    if self.report is not None:  # the report's sample of pages as read
                        self.report.raw_page(record.doc_id, record.text)
                    yield record
                elif isinstance(record, Dropped):
                    counts[f"{record.stage}/{record.reason}"] += 1
                    if self.report is not None:
                        self.report.drop({f"{record.stage}/{record.reason}": 1}, record.url)
                    if self.record_drops:
                        yield from_dropped(record, file_index)
                else:
                    counts[INPUT_LOST_BYTES] += record.lost_bytes
                    yield record
            counts[INPUT_BYTES] += int(getattr(reader, "bytes_read", 0))
            size = _position(stream)
        if isinstance(stream, HttpStream | DownloadStream):
            counts[f"{DOWNLOAD_STAGE}/retries"] += stream.retries
        for failure in failures:
            # The pages before the break are kept; the rest of the file is one dead letter.
            n += 1
            counts[f"{DOWNLOAD_STAGE}/failed"] += 1
            yield _download_dead_letter(source_file, failure, counts)
        counts[INPUT_RECORDS] += n
        if foreign and not pages:
            counts[INPUT_FAILED_FILES] += 1
        if not progress.file_done(key, n, size):
            _Progress.done(source_file, n)
        self.count(counts)

    def finish_bundle(self) -> Iterator[Any]:
        downloads = self._downloads
        while downloads is not None and (key := downloads.next()) is not None:
            for out in self._read_file(self._fetching.pop(key)):
                yield GlobalWindows.windowed_value(out)
        progress.flush()  # the bundle's last files, before the runner moves on
        yield from super().finish_bundle()

    def _blocked(self, page: Page) -> bool:
        return self._blocklist is not None and bool(self._blocklist.reason("", page.url))

    def _forgotten(self, page: Page) -> bool:
        return self._forget is not None and bool(self._forget.reason(page.doc_id, page.url))


class _MarkedReadWetFn(_ReadWetFn):
    """``_ReadWetFn`` that follows each file's last element with a ``FileDone`` marker."""

    def _read_file(self, item: Item) -> Iterator[Any]:
        yield from super()._read_file(item)
        yield from self.flush_parts()  # the file's counters go with it
        yield FileDone(file_key(item[0]))


class ReadWet(beam.PTransform):
    """``InputFile``s -> a union stream of pages, dead letters and counters; files are spread
    over workers.

    Pages matching ``blocklist`` (URLs and domains, INTERFACE.md "Matching for forget") are
    dropped here, counted ``split-wet-file/filtered:blocklisted``. ``https://`` and ``gs://``
    inputs are downloaded under ``fetch`` (retries, resume, a cap on concurrent requests per
    worker process); a file that cannot be downloaded is a ``download`` dead letter, and the job
    goes on.
    Remote files are downloaded ahead, in parallel, and read as they arrive (module docstring).
    """

    def __init__(
        self,
        inputs: tuple[InputFile, ...],
        rules: C4Rules,
        blocklist: Request | None = None,
        fetch: FetchPolicy | None = None,
        mark_files: bool = False,
        forget: LedgerBlock | None = None,
    ) -> None:
        super().__init__()
        # A gs:// file's size as the match at launch listed it: a dead letter's expected size
        # when no answer gives one (the object fails on every request).
        self._files = [(f.path, f.file_index, f.source_file, listed_size(f.path)) for f in inputs]
        self._rules = rules
        self._blocklist = blocklist
        self._fetch = fetch
        self._forget = forget  # DIR's forget ledger (pipeline/build_ledger.py)
        self._mark_files = mark_files  # c4 build --resumable (pipeline/resume.py)

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        out = (
            pbegin
            | "Files" >> beam.Create(self._files)
            # One file per element: without a reshuffle Dataflow fuses Create with the parse
            # and reads every file on one worker.
            | "Spread" >> beam.Reshuffle()
            | "Parse"
            >> beam.ParDo(
                (_MarkedReadWetFn if self._mark_files else _ReadWetFn)(
                    self._rules, self._blocklist, self._fetch, self._forget
                )
            )
        )
        return out
