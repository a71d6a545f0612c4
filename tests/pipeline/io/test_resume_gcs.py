"""``c4 build --resumable`` with a ``gs://`` DIR, on a real GCS emulator: what a resubmitted
Dataflow job would find. Killed once line dedup's join is kept, the rerun starts from the join
(its spills deleted and its inputs overwritten with zeros, only the join can give the pages)
and writes the bytes of an uninterrupted local build."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import google.cloud.storage as storage
import pytest

from pipeline.io.commit import output_files
from pipeline.io.gcs import EMULATOR_ENV, connect_anonymously_if_emulated
from pipeline.io.storage import read_bytes
from pipeline.transforms.resume import JOIN
from tests.conftest import WET_DIR, output_tree

pytestmark = pytest.mark.slow

INPUTS = [
    WET_DIR / "CC-MAIN-2026-12.excerpt-262.warc.wet.gz",
    WET_DIR / "CC-MAIN-2016-50.excerpt-25.warc.wet.gz",
]
# Page buckets of a build over two files (pipeline.transforms.dedup.vote_buckets).
BUCKETS = 16
SKIP = ("config.json", "run.json", "manifest.json")


def run(args: list[str], emulator: str, log: Path | None = None, kill_at: int = 0) -> int:
    env = {**os.environ, "C4_PROGRESS_INTERVAL": "0", EMULATOR_ENV: emulator}
    if log is not None:
        env.update(C4_FAULT_LOG=str(log), C4_FAULT_KILL_AT=str(kill_at))
    cmd = [sys.executable, "-m", "pipeline.cli", *args]
    proc = subprocess.run(cmd, env=env, capture_output=True, start_new_session=True)
    if proc.returncode > 0:  # shown if the test fails
        print(proc.stderr.decode(errors="replace")[-3000:])
    return proc.returncode


def test_a_gs_rerun_past_the_join_starts_from_it(gcs: str, tmp_path: Path) -> None:
    bucket = storage.Client(project="test").create_bucket(f"c4-resume-{uuid.uuid4().hex[:8]}")
    for path in INPUTS:
        bucket.blob(f"wet/{path.name}").upload_from_filename(str(path))
    inputs = [f"gs://{bucket.name}/wet/{path.name}" for path in INPUTS]
    local = tmp_path / "local"
    assert run(["build", "--input", *map(str, INPUTS), "--output", str(local)], gcs) == 0
    count = ["build", "--input", *inputs, "--output", f"gs://{bucket.name}/count", "--resumable"]
    assert run(count, gcs, log=tmp_path / "count.log") == 0
    writes = (tmp_path / "count.log").read_text().splitlines()
    at = next(i for i, path in enumerate(writes, 1) if "tfrecord" in path)
    args = ["build", "--input", *inputs, "--output", f"gs://{bucket.name}/out", "--resumable"]
    assert run(args, gcs, log=tmp_path / "kill.log", kill_at=at) == -signal.SIGKILL
    names = [blob.name for blob in bucket.list_blobs(prefix="out/.c4/resume/")]
    assert len([n for n in names if f"/{JOIN}/" in n and n.endswith(".pkl")]) == BUCKETS
    for name in names:  # the spills go, and the inputs are zeros: only the join can serve
        if "/bundle-" in name:
            bucket.blob(name).delete()
    for path in INPUTS:
        bucket.blob(f"wet/{path.name}").upload_from_string(b"\0" * path.stat().st_size)
    assert run(args, gcs) == 0
    connect_anonymously_if_emulated()  # read the output back through the manifest
    remote = {
        rel: read_bytes(path)
        for rel, path in output_files(f"gs://{bucket.name}/out").items()
        if rel not in SKIP
    }
    want = {rel: p.read_bytes() for rel, p in output_tree(local).items() if rel not in SKIP}
    assert remote == want
    assert not list(bucket.list_blobs(prefix="out/.c4/resume/"))  # done: nothing kept
