"""A real GCS emulator (``gcp-storage-emulator``) on 127.0.0.1, started and stopped here."""

from __future__ import annotations

import importlib.metadata
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from pipeline.io.gcs import EMULATOR_ENV
from tests.pipeline.io.gcs_proxy import GcsProxy
from tests.pipeline.io.gcs_proxy import gcs_proxy as running_proxy

# Earlier versions lack the batch copy that Beam's rename uses.
MIN_EMULATOR = (2026, 7, 19)
START_TIMEOUT_S = 20.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_listening(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"gcp-storage-emulator exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"gcp-storage-emulator did not listen on 127.0.0.1:{port}")


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of a fresh in-memory emulator, for the whole session."""
    try:
        version = importlib.metadata.version("gcp-storage-emulator")
    except importlib.metadata.PackageNotFoundError:
        pytest.fail("gcp-storage-emulator is not installed (pip install -e '.[test]')")
    if tuple(int(p) for p in version.split(".")[:3]) < MIN_EMULATOR:
        pytest.fail(f"gcp-storage-emulator {version} is older than 2026.7.19")
    port = _free_port()
    cmd = [sys.executable, "-m", "gcp_storage_emulator", "start", "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--in-memory", "--quiet"]
    env = {k: v for k, v in os.environ.items() if k != EMULATOR_ENV}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_listening(port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def gcs(gcs_emulator: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The emulator, with ``STORAGE_EMULATOR_HOST`` pointing at it for this test."""
    monkeypatch.setenv(EMULATOR_ENV, gcs_emulator)
    return gcs_emulator


@pytest.fixture
def gcs_proxy(gcs_emulator: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[GcsProxy]:
    """A fault proxy in front of the emulator (``tests/pipeline/io/gcs_proxy.py``), with
    ``STORAGE_EMULATOR_HOST`` pointing at the proxy for this test."""
    with running_proxy(gcs_emulator) as proxy:
        monkeypatch.setenv(EMULATOR_ENV, proxy.url)
        yield proxy
