"""``gs://``: where an object is read from (for ``pipeline.io.http``), with which credentials,
and a local GCS emulator without credentials.

Input objects are not read through Beam's ``GcsIO`` but by ``pipeline.io.http``, from the JSON
API's media endpoint (``media_url``), so that ``--download_attempts``, the backoff, resume and
the dead letters are those of every download; its requests to the API carry the Application
Default Credentials' token (``auth_headers``, read-only scope), or nothing against an emulator.
Outputs go through Beam's GCS filesystem.

Beam's ``GcsIO`` (2.77) looks for Application Default Credentials before anything else, retrying
four times with backoff (about 30 s) and probing the GCE metadata server, even when
``STORAGE_EMULATOR_HOST`` points the storage client at an emulator; only then does it connect
anonymously. ``connect_anonymously_if_emulated`` skips that search when the variable is set, so
a build against an emulator starts at once and talks to no other host.

Private Beam APIs (docs/runners.md; ``pipeline.runners.PATCHED_BEAM_VERSION``):

- ``apache_beam.internal.gcp.auth._Credentials``, Beam's per-process credentials cache:
  ``apache_beam.internal.gcp.auth._Credentials._credentials`` set to ``None`` and
  ``apache_beam.internal.gcp.auth._Credentials._credentials_init`` to ``True``, under its
  ``_credentials_lock``, say "searched, none found", which ``GcsIO`` takes as anonymous
  (tests/pipeline/io/test_gcs_build.py: the first access takes under 10 s, not ~30).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

EMULATOR_ENV = "STORAGE_EMULATOR_HOST"


def emulator_host() -> str | None:
    """The emulator's address from ``STORAGE_EMULATOR_HOST``, or ``None`` for real GCS."""
    return os.environ.get(EMULATOR_ENV) or None


def connect_anonymously_if_emulated() -> bool:
    """With an emulator configured, make Beam's GCS client anonymous; whether it did.

    Call it in each process before the first ``gs://`` access (the launcher, and a DoFn's
    ``setup`` on workers that inherit the variable). Without the variable it does nothing, so
    real GCS keeps using the job's credentials.
    """
    if emulator_host() is None:
        return False
    from apache_beam.internal.gcp import auth

    # Beam caches the credentials it found once per process; record "none" as already found.
    with auth._Credentials._credentials_lock:
        auth._Credentials._credentials = None
        auth._Credentials._credentials_init = True
    return True


# Reading objects ourselves: ``pipeline.io.http`` fetches a ``gs://`` object from the JSON API's
# media endpoint with the same retries, backoff, resume and dead letters as an ``https://`` file
# (Beam's ``GcsIO`` retries on its own terms, for up to 120 s, and its failures would each need
# translating). The objects are read as stored, like ``GcsIO``'s raw download.
GCS_SCHEME = "gs://"
GCS_ENDPOINT = "https://storage.googleapis.com"
READ_SCOPE = "https://www.googleapis.com/auth/devstorage.read_only"


class CredentialsError(OSError):
    """No credentials for ``gs://``, or they could not be refreshed.

    ``transient``: worth trying again (the token server did not answer), else final.
    """

    def __init__(self, message: str, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


def endpoint() -> str:
    """Where the JSON API is: the emulator's address (with a scheme), else GCS."""
    host = emulator_host()
    if host is None:
        return GCS_ENDPOINT
    return (host if "://" in host else f"http://{host}").rstrip("/")


def split(path: str) -> tuple[str, str]:
    """``gs://bucket/a/b`` -> ``("bucket", "a/b")``."""
    bucket, _, name = path[len(GCS_SCHEME) :].partition("/")
    return bucket, name


def media_url(path: str) -> str:
    """The URL of an object's bytes (``alt=media``)."""
    bucket, name = split(path)
    return (
        f"{endpoint()}/download/storage/v1/b/{quote(bucket, safe='')}/o/"
        f"{quote(name, safe='')}?alt=media"
    )


def is_api_url(url: str) -> bool:
    """A URL of the JSON API (GCS's, or the emulator's): requests to it carry the credentials."""
    return url.startswith(endpoint() + "/")


def list_url(bucket: str, prefix: str, page_token: str = "") -> str:
    """The URL of one page of a bucket's objects under ``prefix`` (names and sizes)."""
    url = f"{endpoint()}/storage/v1/b/{quote(bucket, safe='')}/o?prefix={quote(prefix, safe='')}"
    url += "&fields=items(name,size),nextPageToken"
    return url + (f"&pageToken={quote(page_token, safe='')}" if page_token else "")


def metadata_url(path: str) -> str:
    """The URL of an object's metadata (its ``size`` among them)."""
    bucket, name = split(path)
    return f"{endpoint()}/storage/v1/b/{quote(bucket, safe='')}/o/{quote(name, safe='')}"


_AUTH_LOCK = threading.Lock()
# Per process and impersonation chain, as Beam's own GCS client caches them: one token refresh
# serves every download.
_credentials: dict[str, Any] = {}


def impersonation_of(beam_args: Sequence[str]) -> str:
    """The ``--impersonate_service_account`` of a command's Beam flags ("" when absent): the
    account (or ``delegate,...,target`` chain) that Beam's own GCS client acts as, so the
    inputs are read as the outputs are written."""
    from apache_beam.options.pipeline_options import GoogleCloudOptions, PipelineOptions

    value = PipelineOptions(list(beam_args)).view_as(GoogleCloudOptions)
    return value.impersonate_service_account or ""


def impersonated(source: Any, chain: str) -> Any:
    """``source`` credentials acting as the last account of ``chain`` (comma-separated), through
    the ones before it as delegates: Beam's reading of ``--impersonate_service_account``."""
    from google.auth import impersonated_credentials

    accounts = chain.split(",")
    return impersonated_credentials.Credentials(
        source_credentials=source,
        target_principal=accounts[-1],
        delegates=accounts[:-1],
        target_scopes=[READ_SCOPE],
    )


def auth_headers(url: str, impersonate: str = "") -> dict[str, str]:
    """The headers that authorize a request to ``url``: none against an emulator, else the
    Application Default Credentials' bearer token (refreshed when it expires), acting as
    ``impersonate``'s account when one is given (``impersonation_of``).

    Raises:
        CredentialsError: none found, or the refresh failed.
    """
    if emulator_host() is not None:
        return {}
    import google.auth
    import google.auth.exceptions
    import google.auth.transport.urllib3
    import urllib3

    headers: dict[str, str] = {}
    with _AUTH_LOCK:
        try:
            credentials = _credentials.get(impersonate)
            if credentials is None:
                credentials, _ = google.auth.default(scopes=[READ_SCOPE])
                if impersonate:
                    credentials = impersonated(credentials, impersonate)
                _credentials[impersonate] = credentials
            request = google.auth.transport.urllib3.Request(urllib3.PoolManager())
            credentials.before_request(request, "GET", url, headers)
        except google.auth.exceptions.TransportError as exc:
            raise CredentialsError(f"credentials: {type(exc).__name__}", transient=True) from None
        except google.auth.exceptions.GoogleAuthError as exc:
            detail = f"credentials: {type(exc).__name__}: {exc}".splitlines()[0][:200]
            raise CredentialsError(detail, transient=False) from None
    return headers
