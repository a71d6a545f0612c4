"""ReadWet: WET files -> pages, with every record counted and unreadable input dead-lettered.

Files are opened through Beam's ``FileSystems`` (local paths, ``gs://``), ``https://`` ones
through ``pipeline.io.http`` (streamed, retried, resumed), and parsed by ``filters.wet.iter_wet``,
which never raises on broken input: it yields ``Page``, ``Dropped`` and ``DeadLetter`` items,
each one WET record (``input/records``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from filters.lineage import Request
from filters.records import DeadLetter, Dropped, Page
from filters.spec import C4Rules
from filters.wet import STAGE, iter_wet, missing_field_counters
from pipeline.config import InputFile
from pipeline.io.gcs import connect_anonymously_if_emulated
from pipeline.io.http import FetchError, FetchPolicy, HttpFetcher, HttpStream
from pipeline.io.urls import is_http
from pipeline.transforms.common import CountingDoFn

_LOG = logging.getLogger(__name__)
INPUT_RECORDS = "input/records"
INPUT_BYTES = "input/bytes"
# An https:// input that could not be downloaded (past the retries): dead_letter/download.jsonl.
DOWNLOAD_STAGE = "download"
# Pages of a blocklisted URL or domain (``c4 build --blocklist_urls/--blocklist_domains``).
BLOCKLISTED = f"{STAGE}/filtered:blocklisted"
# At most one progress line per worker process this often (a crawl has ~90,000 files).
PROGRESS_EVERY_S = 2.0


class _Progress:
    """Files and records read by this process, logged at most every ``PROGRESS_EVERY_S``."""

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
        self, rules: C4Rules, blocklist: Request | None = None, fetch: FetchPolicy | None = None
    ) -> None:
        super().__init__()
        self._rules = rules
        self._blocklist = blocklist if blocklist and not blocklist.empty else None
        self._fetch = fetch or FetchPolicy()
        self._fetcher: HttpFetcher | None = None

    def setup(self) -> None:
        connect_anonymously_if_emulated()
        self._fetcher = HttpFetcher(self._fetch)

    def _open(self, path: str) -> Any:
        """``https://`` through our fetcher (retries, resume), anything else through Beam."""
        if is_http(path):
            if self._fetcher is None:  # a runner that skipped setup()
                self._fetcher = HttpFetcher(self._fetch)
            return self._fetcher.open(path)
        return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)

    def process(self, item: tuple[str, int, str]) -> Iterator[Page | DeadLetter]:
        path, file_index, source_file = item
        counts: Counter[str] = Counter({f"{STAGE}/wet-file": 1})
        n = 0
        _Progress.begin()
        try:
            stream = self._open(path)
        except FetchError as exc:
            counts[INPUT_RECORDS] += 1
            counts[f"{DOWNLOAD_STAGE}/failed"] += 1
            self.count(counts)
            yield DeadLetter(DOWNLOAD_STAGE, source_file, exc.offset, exc.reason)
            return
        except Exception as exc:
            counts[INPUT_RECORDS] += 1
            self.count(counts)
            reason = f"unreadable: {type(exc).__name__}: {exc}"[:200]
            yield DeadLetter(STAGE, source_file, 0, reason)
            return
        failures: list[FetchError] = []
        with stream:
            reader = iter_wet(stream, source_file, self._rules, file_index)
            for record in _until_failure(reader, failures):
                n += 1
                if isinstance(record, Page) and self._blocked(record):
                    # Before URL dedup: the build is as if the page had never been crawled.
                    counts[BLOCKLISTED] += 1
                elif isinstance(record, Page):
                    counts[f"{STAGE}/passed"] += 1
                    if self._rules.version == "2.2.0":
                        counts.update(missing_field_counters(record))
                    yield record
                elif isinstance(record, Dropped):
                    counts[f"{record.stage}/{record.reason}"] += 1
                else:
                    yield record
            counts[INPUT_BYTES] += int(getattr(reader, "bytes_read", 0))
        if isinstance(stream, HttpStream):
            counts[f"{DOWNLOAD_STAGE}/retries"] += stream.retries
        for failure in failures:
            # The pages before the break are kept; the rest of the file is one dead letter.
            n += 1
            counts[f"{DOWNLOAD_STAGE}/failed"] += 1
            yield DeadLetter(DOWNLOAD_STAGE, source_file, failure.offset, failure.reason)
        counts[INPUT_RECORDS] += n
        _Progress.done(source_file, n)
        self.count(counts)

    def _blocked(self, page: Page) -> bool:
        return self._blocklist is not None and bool(self._blocklist.reason("", page.url))


class ReadWet(beam.PTransform):
    """``InputFile``s -> a union stream of pages, dead letters and counters; files are spread
    over workers.

    Pages matching ``blocklist`` (URLs and domains, INTERFACE.md "Matching for forget") are
    dropped here, counted ``split-wet-file/filtered:blocklisted``. ``https://`` inputs are
    downloaded under ``fetch`` (retries, resume, a cap on concurrent requests per worker
    process); a file that cannot be downloaded is a ``download`` dead letter, and the job goes on.
    """

    def __init__(
        self,
        inputs: tuple[InputFile, ...],
        rules: C4Rules,
        blocklist: Request | None = None,
        fetch: FetchPolicy | None = None,
    ) -> None:
        super().__init__()
        self._files = [(f.path, f.file_index, f.source_file) for f in inputs]
        self._rules = rules
        self._blocklist = blocklist
        self._fetch = fetch

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        out = (
            pbegin
            | "Files" >> beam.Create(self._files)
            # One file per element: without a reshuffle Dataflow fuses Create with the parse
            # and reads every file on one worker.
            | "Spread" >> beam.Reshuffle()
            | "Parse" >> beam.ParDo(_ReadWetFn(self._rules, self._blocklist, self._fetch))
        )
        return out
