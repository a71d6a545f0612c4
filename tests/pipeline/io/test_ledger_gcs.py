"""The forget ledger at build time on ``gs://`` (issue 17.1), against the GCS emulator.

``--forget_ledger gs://...`` carries a ledger to a new ``gs://`` output; a rebuild of a
``gs://`` DIR applies its own ledger; a build that would drop it is refused before anything
changes there.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from google.cloud import storage

from pipeline.cli import main
from tests.conftest import WET_DIR

WET = WET_DIR / "CC-MAIN-2016-50.excerpt-25.warc.wet.gz"
GONE = 6  # documents of abc.net.au and biomedsearch.com the build keeps without a ledger
BLOCKED = 9  # their pages read (a domain blocks pages a later rule would have dropped too)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def objects(bucket: storage.Bucket, prefix: str) -> dict[str, bytes]:
    return {
        b.name[len(prefix) + 1 :]: b.download_as_bytes()
        for b in bucket.list_blobs(prefix=prefix + "/")
    }


def test_a_gs_ledger_is_carried_applied_and_kept(
    gcs: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client = storage.Client.create_anonymous_client()
    client.project = "test"
    bucket = client.create_bucket(f"ledger-{uuid.uuid4().hex[:8]}")
    ledger = {"domains": ["abc.net.au", "biomedsearch.com"]}
    bucket.blob("ledgers/ledger.json").upload_from_string(json.dumps(ledger))
    carried = f"gs://{bucket.name}/ledgers/ledger.json"
    out = f"gs://{bucket.name}/out"
    build = ["build", "--input", str(WET), "--output", out, "--num_shards", "2"]
    code, stdout, _ = run(capsys, *build, "--forget_ledger", carried)
    assert code == 0
    assert f"2 domain(s), 0 doc_id(s)) from {carried}; {BLOCKED} page(s) blocked" in stdout
    stored = json.loads(bucket.blob("out/forget/ledger.json").download_as_bytes())
    assert stored["domains"] == ledger["domains"]
    stats = json.loads(bucket.blob("out/stats.json").download_as_bytes())
    assert stats["reconciliation"]["balanced"] and stats["reconciliation"]["kept"] == 14 - GONE
    # A rebuild of the gs:// DIR applies its own ledger.
    code, stdout, _ = run(capsys, *build)
    assert code == 0 and f"from {out}/forget/ledger.json; " in stdout
    assert run(capsys, "forget", out, "--verify")[0] == 0
    # A build that would drop it is refused, and the gs:// DIR is left as it was.
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"domains": ["abc.net.au"]}))
    before = objects(bucket, "out")
    code, _, stderr = run(capsys, *build, "--forget_ledger", str(other))
    assert code == 2 and "--drop_forget_ledger" in stderr
    assert len(stderr.strip().splitlines()) == 1
    assert objects(bucket, "out") == before
