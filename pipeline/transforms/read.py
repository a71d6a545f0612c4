"""ReadWet: WET files -> pages, with every record counted and unreadable input dead-lettered.

Files are opened through Beam's ``FileSystems`` (local paths here, ``gs://`` on Dataflow) and
parsed by ``filters.wet.iter_wet``, which never raises on broken input: it yields ``Page``,
``Dropped`` and ``DeadLetter`` items, each one WET record (``input/records``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from filters.records import DeadLetter, Dropped, Page
from filters.spec import C4Rules
from filters.wet import STAGE, iter_wet
from pipeline.config import InputFile
from pipeline.transforms.common import Counters, CountingDoFn, SplitStage

_LOG = logging.getLogger(__name__)
INPUT_RECORDS = "input/records"
INPUT_BYTES = "input/bytes"
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


def missing_field_counters(page: Page) -> Counters:
    """2.2.0's informational ``split-wet-file`` counters for a page lacking a header field.

    Legacy names (3.x has no such counters), as ``filters.local`` counts them.
    """
    fields = (
        (page.content_type, "page-nocontenttype"),
        (page.content_length, "page-nocontentlen"),
        (page.timestamp, "page-notimestamp"),
    )
    return {f"{STAGE}/{name}": 1 for value, name in fields if not value}


class _ReadWetFn(CountingDoFn):
    """One input file -> its pages and dead letters, and one counters dict for the file."""

    def __init__(self, rules: C4Rules) -> None:
        super().__init__()
        self._rules = rules

    def process(self, item: tuple[str, int, str]) -> Iterator[Page | DeadLetter | Counters]:
        path, file_index, source_file = item
        counts: Counter[str] = Counter({f"{STAGE}/wet-file": 1})
        n = 0
        _Progress.begin()
        try:
            stream = FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
        except Exception as exc:
            counts[INPUT_RECORDS] += 1
            yield self.counted(dict(counts))
            reason = f"unreadable: {type(exc).__name__}: {exc}"[:200]
            yield DeadLetter(STAGE, source_file, 0, reason)
            return
        with stream:
            reader = iter_wet(stream, source_file, self._rules, file_index)
            for record in reader:
                n += 1
                if isinstance(record, Page):
                    counts[f"{STAGE}/passed"] += 1
                    if self._rules.version == "2.2.0":
                        counts.update(missing_field_counters(record))
                    yield record
                elif isinstance(record, Dropped):
                    counts[f"{record.stage}/{record.reason}"] += 1
                else:
                    yield record
            counts[INPUT_BYTES] += int(getattr(reader, "bytes_read", 0))
        counts[INPUT_RECORDS] += n
        _Progress.done(source_file, n)
        yield self.counted(dict(counts))


class ReadWet(beam.PTransform):
    """``InputFile``s -> ``(pages, dead_letters, counters)``; files are spread over workers."""

    def __init__(self, inputs: tuple[InputFile, ...], rules: C4Rules) -> None:
        super().__init__()
        self._files = [(f.path, f.file_index, f.source_file) for f in inputs]
        self._rules = rules

    def expand(
        self, pbegin: beam.pvalue.PBegin
    ) -> tuple[beam.PCollection, beam.PCollection, beam.PCollection]:
        out = (
            pbegin
            | "Files" >> beam.Create(self._files)
            # One file per element: without a reshuffle Dataflow fuses Create with the parse
            # and reads every file on one worker.
            | "Spread" >> beam.Reshuffle()
            | "Parse" >> beam.ParDo(_ReadWetFn(self._rules))
        )
        return out | "Split" >> SplitStage()
