"""A ``gs://`` output is checked at launch: the bucket answers and accepts a write, else one
line naming ``--output`` and exit 2, before any work (issue 16).

GCS's refusals come from the fault proxy in front of the emulator (``gcs_proxy.py``): 401 is
what a caller without credentials gets, 403 what one without the right to write gets.
"""

from __future__ import annotations

import time
import uuid

import google.cloud.storage as storage
import pytest

from filters.spec import UsageError
from pipeline.cli import main
from pipeline.io import writable
from pipeline.io.gcs import EMULATOR_ENV
from tests.conftest import REAL_WET
from tests.pipeline.io.gcs_proxy import GcsProxy

WET = str(min(REAL_WET, key=lambda p: p.stat().st_size))
# The whole command, Beam's import included, on a shared 2-core machine.
FAST_S = 15.0


def _bucket(gcs_proxy: GcsProxy) -> storage.Bucket:
    client = storage.Client.create_anonymous_client()
    return client.create_bucket(f"c4-checks-{uuid.uuid4().hex[:8]}")


def _blobs(bucket: storage.Bucket) -> list[str]:
    return [b.name for b in bucket.list_blobs()]


def _refused(capsys: pytest.CaptureFixture[str], output: str) -> tuple[str, float]:
    started = time.monotonic()
    code = main(["build", "--input", WET, "--output", output])
    elapsed = time.monotonic() - started
    captured = capsys.readouterr()
    assert code == 2, captured.err
    assert captured.out == ""
    assert captured.err.count("\n") == 1, captured.err
    return captured.err, elapsed


def test_no_credentials_is_one_line_at_launch(
    gcs_proxy: GcsProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    bucket = _bucket(gcs_proxy)
    gcs_proxy.fail("401")
    err, elapsed = _refused(capsys, f"gs://{bucket.name}/out")
    assert err.startswith("c4 build: --output: ") and "401" in err, err
    assert "gcloud auth application-default login" in err
    assert elapsed < FAST_S
    gcs_proxy.clear()
    assert _blobs(bucket) == []


def test_denied_write_is_one_line_at_launch(
    gcs_proxy: GcsProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    bucket = _bucket(gcs_proxy)
    # Reads pass (the bucket answers), writes are refused.
    gcs_proxy.fail("403", methods={"POST", "PUT", "PATCH"})
    err, elapsed = _refused(capsys, f"gs://{bucket.name}/out")
    assert err.startswith(f"c4 build: --output: not allowed to write to gs://{bucket.name}/out")
    assert "403" in err
    assert elapsed < FAST_S
    gcs_proxy.clear()
    assert _blobs(bucket) == []


def test_missing_bucket_is_one_line_at_launch(
    gcs_proxy: GcsProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    err, _ = _refused(capsys, f"gs://c4-no-such-bucket-{uuid.uuid4().hex[:8]}/out")
    assert "does not exist" in err


def test_no_credentials_found_on_this_machine_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Real GCS (no emulator) and no credentials: refused before Beam's ~30 s credential search
    and before any request leaves the machine."""
    monkeypatch.delenv(EMULATOR_ENV, raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/credentials.json")
    err, elapsed = _refused(capsys, "gs://c4-some-bucket/out")
    assert err.startswith("c4 build: --output: no Google Cloud credentials")
    assert elapsed < FAST_S


@pytest.mark.parametrize("fault", ["503", "reset", "429"])
def test_a_transient_fault_is_retried(gcs_proxy: GcsProxy, fault: str) -> None:
    bucket = _bucket(gcs_proxy)
    gcs_proxy.fail(fault, methods={"POST"}, path="/upload/", times=1)
    writable.check_writable(f"gs://{bucket.name}/out")
    assert sum("/upload/" in path for _, path in gcs_proxy.requests) == 2
    assert _blobs(bucket) == []  # the check's object is deleted


def test_a_bucket_that_keeps_failing_does_not_answer(
    gcs_proxy: GcsProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = _bucket(gcs_proxy)
    monkeypatch.setattr(writable, "PROBE_DEADLINE_S", 1.0)
    gcs_proxy.fail("500")
    with pytest.raises(UsageError, match=rf"--output: gs://{bucket.name} does not answer"):
        writable.check_writable(f"gs://{bucket.name}/out")


def test_a_writable_bucket_passes_and_keeps_nothing(gcs_proxy: GcsProxy) -> None:
    bucket = _bucket(gcs_proxy)
    writable.check_writable(f"gs://{bucket.name}/out/")
    assert _blobs(bucket) == []
    methods = [m for m, _ in gcs_proxy.requests]
    assert "POST" in methods and "DELETE" in methods


@pytest.mark.slow
def test_a_write_refused_during_the_run_fails_it_with_exit_1(
    gcs_proxy: GcsProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    """The launch check passes (its own object is let through), the build's writes are refused:
    the run fails, exit 1, its last line saying so."""
    bucket = _bucket(gcs_proxy)
    gcs_proxy.fail("403", methods={"POST", "PUT"})
    gcs_proxy.fail("pass", methods={"POST"}, times=1)  # the launch check's own object
    assert main(["build", "--input", WET, "--output", f"gs://{bucket.name}/out"]) == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("c4 build: failed: ")
