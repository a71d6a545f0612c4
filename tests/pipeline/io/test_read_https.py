"""ReadWet on https:// inputs: a download that breaks for good keeps what it read, then a dead
letter; one that recovers reads every page.

Real DirectRunner, real server on 127.0.0.1; a fast retry policy keeps the test short.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import assert_that

from filters.records import DeadLetter, Page
from filters.spec import resolve_rules
from filters.wet import iter_wet_path
from pipeline.config import InputFile
from pipeline.io.http import FetchPolicy
from pipeline.transforms.common import SplitStage
from pipeline.transforms.read import DOWNLOAD_STAGE, INPUT_LOST_BYTES, INPUT_RECORDS, ReadWet
from tests.conftest import REAL_WET
from tests.pipeline.beam_harness import dump_to, load, sum_counters
from tests.pipeline.io.fault_server import fault_server

RULES = resolve_rules("en", "3.1.0")
FAST = FetchPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.02)
WET = max(REAL_WET, key=lambda p: p.stat().st_size)


def _read(
    url: str, tmp: Path, policy: FetchPolicy = FAST
) -> tuple[list[Any], list[Any], dict[str, int]]:
    files = (InputFile(path=url, file_index=0, source_file=WET.name),)
    with beam.Pipeline("DirectRunner") as p:
        pages, dead, counters = p | ReadWet(files, RULES, fetch=policy) | SplitStage()
        assert_that(pages, dump_to(tmp / "pages.pkl"), label="Pages")
        assert_that(dead, dump_to(tmp / "dead.pkl"), label="Dead")
        assert_that(counters, dump_to(tmp / "counters.pkl"), label="Counters")
    return load(tmp / "pages.pkl"), load(tmp / "dead.pkl"), sum_counters(load(tmp / "counters.pkl"))


def test_broken_download_keeps_the_pages_before_the_break(tmp_path: Path) -> None:
    data = WET.read_bytes()
    all_ids = [r.doc_id for r in iter_wet_path(str(WET), RULES) if isinstance(r, Page)]
    with fault_server() as server:
        server.files["/x.wet.gz"] = data
        # A clean close in mid-body (a reset may also discard what the client had received).
        server.faults["/x.wet.gz"] = ["truncate"] + ["503"] * 5
        pages, dead, counters = _read(server.url + "/x.wet.gz", tmp_path)
    ids = sorted(p.doc_id for p in pages)
    assert 0 < len(ids) < len(all_ids)
    assert set(ids) <= set(all_ids)
    half = len(data) // 2
    # The record whose gzip member the break cut is one dead letter, the rest of the file another,
    # and together they say how many bytes were lost: from that member's start to the file's end.
    cut, rest = sorted(dead, key=lambda d: d.stage, reverse=True)
    assert cut.reason == "truncated_gzip" and cut.record_offset < half
    assert cut.lost_bytes == half - cut.record_offset
    assert rest == DeadLetter(
        DOWNLOAD_STAGE,
        WET.name,
        half,
        f"download_failed: HTTP 503 SlowDown after 3 attempts {server.url}/x.wet.gz",
        "",
        f"bytes {half}-{len(data)} of the file ({len(data) - half} bytes) not received; "
        f"its size, {len(data)} bytes, from the server",
        len(data) - half,
    )
    assert counters[INPUT_LOST_BYTES] == len(data) - cut.record_offset
    assert counters[f"{DOWNLOAD_STAGE}/failed"] == 1
    assert counters[f"{DOWNLOAD_STAGE}/retries"] == 2
    # Every record read is accounted for, and the lost rest of the file is one dead letter.
    accounted = sum(v for k, v in counters.items() if k.startswith("split-wet-file/filtered"))
    assert counters[INPUT_RECORDS] == len(pages) + accounted + len(dead)


def test_download_served_after_faults_reads_every_page(tmp_path: Path) -> None:
    expected = sorted(r.doc_id for r in iter_wet_path(str(WET), RULES) if isinstance(r, Page))
    with fault_server() as server:
        server.files["/x.wet.gz"] = WET.read_bytes()
        server.faults["/x.wet.gz"] = ["429", "truncate", "reset", "503"]
        # Three failures in a row after the truncation: within five attempts.
        policy = FetchPolicy(max_attempts=5, base_delay_s=0.01, max_delay_s=0.02)
        pages, dead, counters = _read(server.url + "/x.wet.gz", tmp_path, policy)
    assert sorted(p.doc_id for p in pages) == expected
    assert dead == []
    assert counters[f"{DOWNLOAD_STAGE}/retries"] == 4


def test_the_cap_holds_across_beam_worker_threads(tmp_path: Path) -> None:
    options = PipelineOptions(["--direct_num_workers=4", "--direct_running_mode=multi_threading"])
    policy = FetchPolicy(max_concurrent=1, base_delay_s=0.01)
    with fault_server() as server:
        files = []
        for i, path in enumerate(REAL_WET):
            server.files[f"/{i}.wet.gz"] = path.read_bytes()
            server.faults[f"/{i}.wet.gz"] = ["slow"]
            files.append(InputFile(f"{server.url}/{i}.wet.gz", i, path.name))
        with beam.Pipeline("DirectRunner", options=options) as p:
            pages, _, _ = p | ReadWet(tuple(files), RULES, fetch=policy) | SplitStage()
            assert_that(pages, dump_to(tmp_path / "pages.pkl"))
        assert server.max_in_flight == 1
        assert len(server.requests) == len(REAL_WET)
    assert load(tmp_path / "pages.pkl")
