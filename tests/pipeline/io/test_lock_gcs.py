"""DIR's lock on ``gs://`` (issue 17.4): an object created under ``ifGenerationMatch=0``.

The emulator ignores generation preconditions, so these tests go through the fault proxy
(``tests/pipeline/io/gcs_proxy.py``), which enforces them as GCS does: of several commands that
take the lock at once exactly one gets it, the others are refused with a line naming the holder,
and two ``c4 forget`` runs on one ``gs://`` DIR never interleave.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
from google.cloud import storage

from pipeline.cli import main
from pipeline.io.lock import BusyError, Lock, acquire
from tests.conftest import WET_DIR, output_tree
from tests.pipeline.io.gcs_proxy import GcsProxy

C4 = [sys.executable, "-m", "pipeline.cli"]
WET = WET_DIR / "CC-MAIN-2016-50.excerpt-25.warc.wet.gz"
DOMAINS = {"a": ("abc.net.au", 2), "b": ("biomedsearch.com", 4)}


def new_bucket() -> storage.Bucket:
    client = storage.Client.create_anonymous_client()
    client.project = "test"
    return client.create_bucket(f"lock-{uuid.uuid4().hex[:10]}")


def test_the_precondition_is_enforced_by_the_proxy(gcs_proxy: GcsProxy) -> None:
    """What the lock rests on: a second create under ifGenerationMatch=0 is refused (412)."""
    from google.api_core.exceptions import PreconditionFailed

    blob = new_bucket().blob("x")
    blob.upload_from_string(b"one", if_generation_match=0)
    with pytest.raises(PreconditionFailed):
        blob.bucket.blob("x").upload_from_string(b"two", if_generation_match=0)
    assert blob.download_as_bytes() == b"one"
    with pytest.raises(PreconditionFailed):
        blob.bucket.blob("x").delete(if_generation_match=(blob.generation or 0) + 1)
    blob.delete(if_generation_match=blob.generation)


def test_of_many_takers_at_once_exactly_one_gets_the_gs_lock(gcs_proxy: GcsProxy) -> None:
    out = f"gs://{new_bucket().name}/out"
    held: list[Lock] = []
    refused: list[str] = []
    gate = threading.Barrier(8)

    def take(n: int) -> None:
        gate.wait()
        try:
            held.append(acquire(out, f"c4 forget #{n}"))
        except BusyError as exc:
            refused.append(str(exc))

    threads = [threading.Thread(target=take, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(held) == 1 and len(refused) == 7
    assert all("is changing this directory" in line for line in refused)
    assert all(f"{out}/.c4/lock" in line for line in refused)
    held[0].release()
    acquire(out, "c4 build").release()  # free again
    uploads = [p for m, p in gcs_proxy.requests if m == "POST" and "ifGenerationMatch=0" in p]
    assert len(uploads) >= 9


def test_a_dead_holders_gs_lock_is_taken_over(gcs_proxy: GcsProxy) -> None:
    out = f"gs://{new_bucket().name}/out"
    code = "import sys; from pipeline.io.lock import acquire; acquire(sys.argv[1], 'x')"
    subprocess.run([sys.executable, "-c", code, out], check=True, env=dict(os.environ))
    bucket, _, prefix = out[len("gs://") :].partition("/")
    lock = storage.Client.create_anonymous_client().bucket(bucket).blob(f"{prefix}/.c4/lock")
    assert lock.exists()  # left by a process that is gone
    acquire(out, "c4 forget").release()
    assert not lock.exists()


@pytest.mark.slow
def test_two_gs_forgets_started_together_never_interleave(
    gcs_proxy: GcsProxy, tmp_path: Path
) -> None:
    built = tmp_path / "built"
    argv = ["build", "--input", str(WET), "--output", str(built), "--num_shards", "3", "--mask"]
    assert main(argv) == 0
    files = {rel: path.read_bytes() for rel, path in output_tree(built).items()}
    requests = {}
    for key, (domain, _) in DOMAINS.items():
        requests[key] = tmp_path / f"{key}.txt"
        requests[key].write_text(domain + "\n")
    bucket = new_bucket()
    env = {**os.environ, "C4_PROGRESS_INTERVAL": "0", "C4_BUILD_REPORT": "0"}
    for trial in range(3):  # the many-trials test is local (test_forget_exclusive.py)
        prefix = f"t{trial}"
        for rel, data in files.items():
            bucket.blob(f"{prefix}/{rel}").upload_from_string(data)
        out = f"gs://{bucket.name}/{prefix}"
        procs = {
            key: subprocess.Popen(
                [*C4, "forget", out, "--domains", str(path)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for key, path in requests.items()
        }
        ended = {key: (p.wait(timeout=300), *p.communicate()) for key, p in procs.items()}
        where = f"trial {trial}: {ended}"
        codes = sorted(code for code, _, _ in ended.values())
        assert codes in ([0, 0], [0, 2]), where
        done = [key for key, (code, _, _) in ended.items() if code == 0]
        for code, _, err in ended.values():
            if code == 2:
                assert "is changing this directory" in err and len(err.strip().splitlines()) == 1
        ledger = json.loads(bucket.blob(f"{prefix}/forget/ledger.json").download_as_bytes())
        assert sorted(ledger["domains"]) == sorted(DOMAINS[k][0] for k in done), where
        reports = [b.name for b in bucket.list_blobs(prefix=f"{prefix}/forget/report-")]
        assert len([r for r in reports if r.endswith(".json")]) == len(done), where
        union = tmp_path / "union.txt"
        union.write_text("".join(DOMAINS[k][0] + "\n" for k in done))
        assert main(["forget", out, "--domains", str(union), "--verify"]) == 0, where
        assert not bucket.blob(f"{prefix}/.c4/lock").exists()
