"""``gs://`` downloads on real GCS carry the job's credentials (``pipeline.io.gcs.auth_headers``).

The real ``google-auth`` flow, no mocks: a service-account key made here, whose ``token_uri``
is a token server on 127.0.0.1 that hands out a bearer token; the emulator case sends none, and
a build without any credentials dead-letters the file with a reason that says so.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from pipeline.io import gcs
from pipeline.io.http import FetchError, FetchPolicy, HttpFetcher


class _TokenServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _TokenHandler)
        self.grants: list[str] = []
        # IAM's generateAccessToken calls: (path, body, the caller's Authorization header).
        self.impersonations: list[tuple[str, dict[str, Any], str]] = []


class _TokenHandler(BaseHTTPRequestHandler):
    server: _TokenServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        if self.path.endswith(":generateAccessToken"):  # IAM Credentials, impersonation
            caller = self.headers.get("Authorization", "")
            self.server.impersonations.append((self.path, json.loads(body), caller))
            self._answer(
                {"accessToken": "impersonated-token", "expireTime": "2099-01-01T00:00:00Z"}
            )
            return
        self.server.grants.append(body)
        self._answer({"access_token": f"token-{len(self.server.grants)}", "expires_in": 3600})

    def _answer(self, data: dict[str, Any]) -> None:
        answer = json.dumps(data).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)


@pytest.fixture
def token_server() -> Iterator[_TokenServer]:
    server = _TokenServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def no_cached_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gcs, "_credentials", {})
    monkeypatch.delenv(gcs.EMULATOR_ENV, raising=False)


def _service_account(path: Path, token_uri: str) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    info = {
        "type": "service_account",
        "project_id": "test",
        "private_key_id": "k1",
        "private_key": pem,
        "client_email": "c4@test.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": token_uri,
    }
    path.write_text(json.dumps(info))
    return path


@pytest.mark.usefixtures("no_cached_credentials")
def test_gcs_requests_carry_a_bearer_token_refreshed_once(
    token_server: _TokenServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = _service_account(tmp_path / "sa.json", f"http://127.0.0.1:{token_server.server_port}")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
    url = gcs.media_url("gs://b/wet/x.warc.wet.gz")
    assert (
        url
        == "https://storage.googleapis.com/download/storage/v1/b/b/o/wet%2Fx.warc.wet.gz?alt=media"
    )
    assert gcs.is_api_url(url) and not gcs.is_api_url("https://data.commoncrawl.org/x")
    first = gcs.auth_headers(url)
    assert {k.lower(): v for k, v in first.items()}["authorization"] == "Bearer token-1"
    assert gcs.auth_headers(url) == first  # cached until it expires: one grant
    assert len(token_server.grants) == 1
    assert "grant_type=urn" in token_server.grants[0]  # the service account's signed JWT


def test_the_emulator_gets_no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(gcs.EMULATOR_ENV, "127.0.0.1:9")
    assert gcs.endpoint() == "http://127.0.0.1:9"
    assert gcs.auth_headers(gcs.media_url("gs://b/x")) == {}


@pytest.mark.usefixtures("no_cached_credentials")
def test_no_credentials_is_a_final_failure_that_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    with pytest.raises(FetchError) as failure:
        HttpFetcher(FetchPolicy(max_attempts=5, base_delay_s=0.01)).open("gs://b/x.warc.wet.gz")
    reason = failure.value.reason
    assert reason.startswith("download_failed: credentials: DefaultCredentialsError: ")
    assert reason.endswith(" gs://b/x.warc.wet.gz")


@pytest.mark.usefixtures("no_cached_credentials")
def test_impersonate_service_account_is_honoured_as_beam_honours_it(
    token_server: _TokenServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--impersonate_service_account=delegate,target``: inputs are read as ``target`` (IAM's
    generateAccessToken, called with the job's own token and the delegate chain), as Beam's GCS
    client writes the outputs; without the flag the job's own token is used."""
    from google.auth import iam

    base = f"http://127.0.0.1:{token_server.server_port}"
    key = _service_account(tmp_path / "sa.json", base)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
    monkeypatch.setattr(
        iam, "_IAM_ENDPOINT", base + "/v1/projects/-/serviceAccounts/{}:generateAccessToken"
    )
    flags = [
        "--impersonate_service_account=hop@p.iam.gserviceaccount.com,reader@p.iam.gserviceaccount.com"
    ]
    chain = gcs.impersonation_of(flags)
    assert chain == "hop@p.iam.gserviceaccount.com,reader@p.iam.gserviceaccount.com"
    assert gcs.impersonation_of(["--project=p"]) == ""

    url = gcs.media_url("gs://b/x.warc.wet.gz")
    headers = {k.lower(): v for k, v in gcs.auth_headers(url, chain).items()}
    assert headers["authorization"] == "Bearer impersonated-token"
    [(path, body, caller)] = token_server.impersonations
    assert path.endswith("/serviceAccounts/reader@p.iam.gserviceaccount.com:generateAccessToken")
    assert body["delegates"] == ["hop@p.iam.gserviceaccount.com"]  # as Beam passes them
    assert body["scope"] == [gcs.READ_SCOPE]
    assert caller == "Bearer token-1"  # the job's own credentials ask for the impersonation
    own = {k.lower(): v for k, v in gcs.auth_headers(url).items()}
    assert own["authorization"] == "Bearer token-2"  # its own grant, not the impersonated one


def test_the_build_reads_inputs_with_the_impersonation_flag() -> None:
    """The flag reaches the downloads' policy (the reader's) and the listings' expansion."""
    from pipeline.build import _fetch_policy
    from pipeline.config import make_build_config
    from tests.conftest import REAL_WET

    flag = "--impersonate_service_account=reader@p.iam.gserviceaccount.com"
    config = make_build_config([str(REAL_WET[0])], "/tmp/unused", beam_args=[flag])
    assert _fetch_policy(config).impersonate == "reader@p.iam.gserviceaccount.com"
    assert _fetch_policy(make_build_config([str(REAL_WET[0])], "/tmp/unused")).impersonate == ""
