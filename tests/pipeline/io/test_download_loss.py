"""A download cut short at a gzip member boundary: with the file's size known (Content-Length,
else a HEAD) it is resumed, and past the retries its dead letter says how many bytes were lost;
every record received is read.

Real DirectRunner, real HTTP server on 127.0.0.1 (tests/pipeline/io/fault_server.py).
"""

from __future__ import annotations

import io
import zlib
from pathlib import Path
from typing import Any

import apache_beam as beam
from apache_beam.testing.util import assert_that

from filters.records import DeadLetter, Page
from filters.spec import resolve_rules
from filters.wet import iter_wet, iter_wet_path
from pipeline.config import InputFile
from pipeline.io.http import FetchPolicy
from pipeline.transforms.common import SplitStage
from pipeline.transforms.read import DOWNLOAD_STAGE, INPUT_LOST_BYTES, INPUT_RECORDS, ReadWet
from tests.conftest import WET_DIR
from tests.pipeline.beam_harness import dump_to, load, sum_counters
from tests.pipeline.io.fault_server import fault_server

RULES = resolve_rules("en", "3.1.0")
FAST = FetchPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.02)
WET = WET_DIR / "CC-MAIN-2026-12.excerpt-262.warc.wet.gz"
RAW = WET.read_bytes()


def member_start(index: int) -> int:
    at = 0
    for _ in range(index):
        inflater = zlib.decompressobj(wbits=31)
        inflater.decompress(RAW[at:])
        at = len(RAW) - len(inflater.unused_data)
    return at


CUT = member_start(200)  # 200 whole records of 263, then nothing


def read(faults: list[str], tmp: Path) -> tuple[list[Page], list[DeadLetter], dict[str, int], Any]:
    with fault_server() as server:
        server.files["/x.warc.wet.gz"] = RAW
        server.faults["/x.warc.wet.gz"] = faults
        files = (InputFile(f"{server.url}/x.warc.wet.gz", 0, WET.name),)
        with beam.Pipeline("DirectRunner") as p:
            pages, dead, counters = p | ReadWet(files, RULES, fetch=FAST) | SplitStage()
            assert_that(pages, dump_to(tmp / "pages.pkl"), label="Pages")
            assert_that(dead, dump_to(tmp / "dead.pkl"), label="Dead")
            assert_that(counters, dump_to(tmp / "counters.pkl"), label="Counters")
    counted = sum_counters(load(tmp / "counters.pkl"))
    return load(tmp / "pages.pkl"), load(tmp / "dead.pkl"), counted, server


def doc_ids(items: Any) -> list[str]:
    return sorted(i.doc_id for i in items if isinstance(i, Page))


def test_cut_with_a_known_size_keeps_every_record_received_and_counts_the_rest(
    tmp_path: Path,
) -> None:
    pages, dead, counters, server = read([f"cut:{CUT}"] * 3, tmp_path)
    # Every record before the cut, the last one too (it was whole when the download broke).
    assert doc_ids(pages) == doc_ids(iter_wet(io.BytesIO(RAW[:CUT]), WET.name, RULES))
    lost = len(RAW) - CUT
    assert dead == [
        DeadLetter(
            DOWNLOAD_STAGE,
            WET.name,
            CUT,
            f"download_failed: truncated body after 3 attempts {server.url}/x.warc.wet.gz",
            "",
            f"bytes {CUT}-{len(RAW)} of the file ({lost} bytes) not received; "
            f"its size, {len(RAW)} bytes, from the server",
            lost,
        )
    ]
    assert counters[INPUT_LOST_BYTES] == lost
    assert counters[INPUT_RECORDS] == 200 + 1
    assert server.heads == []  # Content-Length said it


def test_cut_without_content_length_is_found_by_a_head_and_resumed(tmp_path: Path) -> None:
    pages, dead, counters, server = read([f"cut_unsized:{CUT}"], tmp_path)
    assert doc_ids(pages) == doc_ids(iter_wet_path(str(WET), RULES))
    assert dead == [] and INPUT_LOST_BYTES not in counters
    assert server.heads == ["/x.warc.wet.gz"]
    assert server.requests_for("/x.warc.wet.gz") == [None, f"bytes={CUT}-"]


def test_cut_without_content_length_for_good_is_lost_bytes(tmp_path: Path) -> None:
    pages, dead, counters, server = read([f"cut_unsized:{CUT}"] * 3, tmp_path)
    assert doc_ids(pages) == doc_ids(iter_wet(io.BytesIO(RAW[:CUT]), WET.name, RULES))
    (letter,) = dead
    assert letter.reason == (
        f"download_failed: truncated body at byte {CUT} of {len(RAW)} after 3 attempts "
        f"{server.url}/x.warc.wet.gz"
    )
    assert letter.lost_bytes == counters[INPUT_LOST_BYTES] == len(RAW) - CUT
