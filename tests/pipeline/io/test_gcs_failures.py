"""A ``gs://`` source that fails is one dead letter, as an ``https://`` one is, and the job goes
on; ``--download_attempts`` and the backoff hold for ``gs://`` objects and for listings; a job
where every input failed exits 1 with the reasons.

``c4 build`` through ``pipeline.cli.main`` on the real DirectRunner, reading the real WET of
tests/data from the GCS emulator through the fault proxy (``gcs_proxy.py``); the crawl listing
from the HTTP fault server (``fault_server.py``). The backoff is cut to 10 ms
(``C4_DOWNLOAD_BACKOFF_S``) so each case takes seconds.
"""

from __future__ import annotations

import gzip
import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import apache_beam as beam
import google.cloud.storage as storage
import pytest

from pipeline.build import build_pipeline
from pipeline.build_command import begin_build
from pipeline.cli import main
from pipeline.config import make_build_config
from pipeline.io.http import BACKOFF_ENV, READ_TIMEOUT_ENV
from tests.conftest import REAL_WET, dir_snapshot, output_tree
from tests.filters.test_wet_resync import member_offsets
from tests.pipeline.io.fault_server import fault_server
from tests.pipeline.io.gcs_proxy import GcsProxy

NAMES = [p.name for p in REAL_WET]
VICTIM = "CC-MAIN-2016-50.excerpt-25.warc.wet.gz"  # 130,453 bytes, 26 records
SIZE = {p.name: p.stat().st_size for p in REAL_WET}
# Each failing case ends well within this (measured: 3-6 s); Beam's own GCS retry took 112 s.
BOUND_S = 30.0


def _data_files(root: Path) -> dict[str, bytes]:
    """The documents (TFRecord shards and Parquet) of a build."""
    tree = output_tree(root)
    return {
        rel: path.read_bytes()
        for rel, path in tree.items()
        if rel.startswith("parquet/") or ".tfrecord-" in rel
    }


def _stats(root: Path) -> dict[str, object]:
    return dict(json.loads((root / "stats.json").read_text()))


def _letters(root: Path, stage: str = "download") -> list[dict[str, object]]:
    path = root / "dead_letter" / f"{stage}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, bytes]]:
    """The documents of local builds: of every file, and of every file but the victim."""
    out: dict[str, dict[str, bytes]] = {}
    for key, files in (("all", REAL_WET), ("others", [p for p in REAL_WET if p.name != VICTIM])):
        root = tmp_path_factory.mktemp(key) / "out"
        assert main(["build", "--input", *map(str, files), "--output", str(root)]) == 0
        out[key] = _data_files(root)
    return out


@pytest.fixture
def bucket(gcs_proxy: GcsProxy, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A bucket holding the real WET under ``wet/``, read through the proxy, fast backoff."""
    monkeypatch.setenv(BACKOFF_ENV, "0.01")
    client = storage.Client.create_anonymous_client()
    client.project = "test"
    created = client.create_bucket(f"c4-fail-{uuid.uuid4().hex[:8]}")
    for path in REAL_WET:
        created.blob(f"wet/{path.name}").upload_from_filename(str(path))
    yield created.name


def _build(bucket: str, out: Path, attempts: int = 2) -> tuple[int, float]:
    argv = ["build", "--input", f"gs://{bucket}/wet/*.wet.gz", "--output", str(out)]
    started = time.monotonic()
    code = main([*argv, "--download_attempts", str(attempts)])
    return code, time.monotonic() - started


def _media_gets(proxy: GcsProxy, name: str) -> list[str]:
    return [p for m, p in proxy.requests if m == "GET" and "/download/" in p and name in p]


def _balanced(root: Path) -> dict[str, object]:
    rec = _stats(root)["reconciliation"]
    assert isinstance(rec, dict) and rec["balanced"], rec
    return rec


@pytest.mark.parametrize(
    ("fault", "gets", "why"),
    [
        ("503", 2, "HTTP 503 backendError after 2 attempts"),
        ("reset", 2, "connection broken: ConnectionResetError after 2 attempts"),
        ("404", 1, "HTTP 404 notFound"),
        ("403", 1, "HTTP 403 forbidden"),
        ("401", 1, "HTTP 401 required"),
    ],
)
def test_a_failing_object_is_one_dead_letter_and_the_rest_is_built(
    bucket: str,
    gcs_proxy: GcsProxy,
    local: dict[str, dict[str, bytes]],
    tmp_path: Path,
    fault: str,
    gets: int,
    why: str,
) -> None:
    gcs_proxy.fail(fault, path=re.escape(VICTIM))  # its media and its metadata, forever
    out = tmp_path / "out"
    code, elapsed = _build(bucket, out)
    assert code == 0 and elapsed < BOUND_S
    assert _data_files(out) == local["others"]
    (letter,) = _letters(out)
    assert letter == {
        "stage": "download",
        "source_file": VICTIM,
        "record_offset": 0,
        "reason": f"download_failed: {why} gs://{bucket}/wet/{VICTIM}",
        "excerpt": "",
        "detail": f"bytes 0-{SIZE[VICTIM]} of the file ({SIZE[VICTIM]} bytes) not received; "
        f"its size, {SIZE[VICTIM]} bytes, from the listing",
        "lost_bytes": SIZE[VICTIM],
    }
    assert len(_media_gets(gcs_proxy, VICTIM)) == gets  # --download_attempts, no more
    rec = _balanced(out)
    assert rec["dead_lettered"] == 1 and rec["lost_bytes"] == SIZE[VICTIM]
    counters = _stats(out)["counters"]
    assert isinstance(counters, dict)
    assert counters["download/failed"] == 1 and counters["input/failed_files"] == 1


def test_a_truncated_body_is_resumed_to_the_same_build(
    bucket: str, gcs_proxy: GcsProxy, local: dict[str, dict[str, bytes]], tmp_path: Path
) -> None:
    gcs_proxy.fail("truncate", path=r"/download/.*" + re.escape(VICTIM), times=1)
    out = tmp_path / "out"
    code, _ = _build(bucket, out)
    assert code == 0
    assert _data_files(out) == local["all"]
    assert _letters(out) == []
    assert _stats(out)["counters"]["download/retries"] == 1  # type: ignore[index]
    assert len(_media_gets(gcs_proxy, VICTIM)) == 2  # the second one a Range from the cut
    _balanced(out)


def test_a_body_that_always_truncates_keeps_what_arrived_and_counts_the_rest(
    bucket: str, gcs_proxy: GcsProxy, tmp_path: Path
) -> None:
    raw = (REAL_WET[0].parent / VICTIM).read_bytes()
    cut = member_offsets(raw)[10]  # 10 whole records, then nothing past this byte
    gcs_proxy.fail(f"truncate:{cut}", path=r"/download/.*" + re.escape(VICTIM))
    out = tmp_path / "out"
    code, elapsed = _build(bucket, out, attempts=3)
    assert code == 0 and elapsed < BOUND_S
    (letter,) = _letters(out)
    lost = len(raw) - cut
    assert letter["record_offset"] == cut and letter["lost_bytes"] == lost
    assert letter["reason"] == (
        f"download_failed: truncated body after 3 attempts gs://{bucket}/wet/{VICTIM}"
    )
    assert letter["detail"] == (
        f"bytes {cut}-{len(raw)} of the file ({lost} bytes) not received; "
        f"its size, {len(raw)} bytes, from the server"
    )
    rec = _balanced(out)
    assert rec["lost_bytes"] == lost
    parquet = b"".join(v for k, v in _data_files(out).items() if k.startswith("parquet/"))
    assert parquet  # the records before the cut were read


def test_a_stall_is_retried_within_the_attempts(
    bucket: str,
    gcs_proxy: GcsProxy,
    local: dict[str, dict[str, bytes]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(READ_TIMEOUT_ENV, "1")
    gcs_proxy.fail("stall:20", path=r"/download/.*" + re.escape(VICTIM), times=1)
    out = tmp_path / "out"
    code, elapsed = _build(bucket, out)
    assert code == 0 and elapsed < 15  # the stalled answer came after 20 s: not waited for
    assert _data_files(out) == local["all"]
    assert _stats(out)["counters"]["download/retries"] == 1  # type: ignore[index]


def test_every_input_failing_exits_1_with_the_reasons_and_leaves_dir_as_it_was(
    bucket: str, gcs_proxy: GcsProxy, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["build", "--input", str(REAL_WET[0]), "--output", str(out)]) == 0
    before = dir_snapshot(out)
    capsys.readouterr()
    gcs_proxy.fail("404", path=r"/download/")
    code, elapsed = _build(bucket, out)
    assert code == 1 and elapsed < BOUND_S
    err = capsys.readouterr().err.splitlines()
    at = err.index(
        f"c4 build: failed: none of the {len(NAMES)} input file(s) could be read; "
        f"{out} is left as it was:"
    )
    assert err[at + 1 :] == [
        f"c4 build:   {n}: download_failed: HTTP 404 notFound gs://{bucket}/wet/{n}" for n in NAMES
    ]
    assert dir_snapshot(out) == before


def test_a_local_input_dir_of_dangling_links_only_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "gone.warc.wet.gz").symlink_to(tmp_path / "nowhere.warc.wet.gz")
    out = tmp_path / "out"
    assert main(["build", "--input", str(inputs), "--output", str(out)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == "c4 build:   gone.warc.wet.gz: unreadable: dangling symlink"
    assert not out.exists() or not any(out.iterdir())


def test_a_job_whose_every_input_failed_fails_instead_of_publishing(tmp_path: Path) -> None:
    """``c4 submit``'s job publishes from its last step: there, the same rule fails the job."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "gone.warc.wet.gz").symlink_to(tmp_path / "nowhere.warc.wet.gz")
    out = tmp_path / "out"
    assert main(["build", "--input", str(REAL_WET[0]), "--output", str(out)]) == 0
    before = dir_snapshot(out)
    config = make_build_config([str(inputs)], str(out))
    commit = begin_build(config)
    pipeline = beam.Pipeline("DirectRunner")
    build_pipeline(pipeline, replace(config, staging_dir=commit.write_dir), commit)
    with pytest.raises(Exception, match=r"none of the 1 input file\(s\) could be read") as failed:
        pipeline.run().wait_until_finish()
    assert "gone.warc.wet.gz: unreadable: dangling symlink" in str(failed.value)
    commit.abort()
    assert dir_snapshot(out) == before


def test_a_gs_listing_is_read_under_download_attempts(
    bucket: str, gcs_proxy: GcsProxy, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client = storage.Client.create_anonymous_client()
    listing = client.bucket(bucket).blob("lists/mine.paths")
    listing.upload_from_string("".join(f"wet/{n}\n" for n in NAMES))
    gcs_proxy.fail("503", path=r"mine\.paths")
    argv = ["build", "--input", f"gs://{bucket}/lists/mine.paths", "--cc_base_url"]
    started = time.monotonic()
    code = main(
        [*argv, f"gs://{bucket}", "--output", str(tmp_path / "o"), "--download_attempts", "3"]
    )
    assert code == 2 and time.monotonic() - started < BOUND_S
    assert len([p for m, p in gcs_proxy.requests if "mine.paths" in p]) == 3  # metadata GETs
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"c4 build: --input: cannot read gs://{bucket}/lists/mine.paths: ")
    assert "HTTP 503 backendError after 3 attempts" in err[-1]


def test_the_crawl_listing_is_read_under_download_attempts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(BACKOFF_ENV, "0.01")
    listing = "/crawl-data/CC-MAIN-2019-18/wet.paths.gz"
    with fault_server() as server:
        server.files[listing] = gzip.compress(b"crawl-data/x.warc.wet.gz\n")
        server.faults[listing] = ["503"] * 10
        argv = ["build", "--crawl", "CC-MAIN-2019-18", "--cc_base_url", server.url]
        started = time.monotonic()
        code = main([*argv, "--output", str(tmp_path / "o"), "--download_attempts", "3"])
        elapsed = time.monotonic() - started
        assert len(server.requests_for(listing)) == 3
    assert code == 2 and elapsed < BOUND_S
    err = capsys.readouterr().err.strip()
    assert err.startswith("c4 build: --crawl: cannot read ")
    assert err.endswith(f"HTTP 503 SlowDown after 3 attempts {server.url}{listing}")
