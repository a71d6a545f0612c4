"""At launch, before any work: can the output location take a file?

A local directory: a file is created there and removed (the directory and its missing parents
are made for the check and removed again, so a refused run leaves nothing behind). A ``gs://``
one: credentials are looked for once (Beam would retry the search for ~30 s, then write
anonymously and fail after all the work), and an empty object is written under the prefix and
deleted, with a bounded retry, so a bucket that does not answer, is missing or refuses the write
is one line naming ``--output`` and why.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import tempfile
import uuid
from typing import Any

from filters.spec import UsageError
from pipeline.io.gcs import emulator_host

PROBE_PREFIX = ".c4-write-check-"
# Each request of the gs:// check; transient failures (429, 5xx, resets) are retried within
# PROBE_DEADLINE_S, then the bucket "does not answer".
PROBE_TIMEOUT_S = 10.0
PROBE_DEADLINE_S = 30.0
_WRITE_SCOPE = "https://www.googleapis.com/auth/devstorage.read_write"
_LOGIN_HINT = "gcloud auth application-default login, or GOOGLE_APPLICATION_CREDENTIALS"


def check_writable(output_dir: str, flag: str = "--output") -> None:
    """Refuse an output location this process cannot write to.

    Raises:
        UsageError: one line naming ``flag`` and the reason.
    """
    if output_dir.startswith("gs://"):
        _check_gcs(output_dir.rstrip("/"), flag)
    elif "://" not in output_dir:
        _check_local(output_dir, flag)


def _check_local(output_dir: str, flag: str) -> None:
    path = os.path.abspath(output_dir)
    missing = []
    existing = path
    while not os.path.lexists(existing):
        missing.append(existing)
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise UsageError(f"{flag}: {existing} is not a directory")
    created: list[str] = []
    try:
        for directory in reversed(missing):
            os.mkdir(directory)
            created.append(directory)
        handle, probe = tempfile.mkstemp(prefix=PROBE_PREFIX, dir=path)
        os.close(handle)
        os.remove(probe)
    except OSError as exc:
        where = exc.filename or path
        reason = f"{exc.strerror} ({where})"
        raise UsageError(f"{flag}: cannot write in {output_dir}: {reason}") from None
    finally:
        for directory in reversed(created):
            with contextlib.suppress(OSError):
                os.rmdir(directory)


def _gcs_client(flag: str) -> Any:
    """An anonymous client for an emulator, else one with this machine's credentials.

    Raises:
        UsageError: no credentials are configured.
    """
    import google.cloud.storage as storage

    if emulator_host() is not None:
        return storage.Client.create_anonymous_client()
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        credentials, project = google.auth.default(scopes=[_WRITE_SCOPE])
    except DefaultCredentialsError as exc:
        first = str(exc).splitlines()[0].split(". ")[0].rstrip(".")[:160]
        raise UsageError(f"{flag}: no Google Cloud credentials ({first}); {_LOGIN_HINT}") from None
    return storage.Client(project=project, credentials=credentials)


def _check_gcs(output_dir: str, flag: str) -> None:
    from google.api_core import exceptions
    from google.api_core.retry import Retry
    from google.auth.exceptions import GoogleAuthError
    from google.cloud.storage.retry import DEFAULT_RETRY

    bucket_name, _, prefix = output_dir.removeprefix("gs://").partition("/")
    client = _gcs_client(flag)
    name = posixpath.join(prefix, f"{PROBE_PREFIX}{uuid.uuid4().hex}")
    blob = client.bucket(bucket_name).blob(name)
    retry: Retry = DEFAULT_RETRY.with_timeout(PROBE_DEADLINE_S)
    written = False
    try:
        # if_generation_match=0: creates only, so the check can never replace a real object.
        blob.upload_from_string(b"", if_generation_match=0, timeout=PROBE_TIMEOUT_S, retry=retry)
        written = True
        blob.delete(timeout=PROBE_TIMEOUT_S, retry=retry)
    except (exceptions.Unauthorized, GoogleAuthError) as exc:
        # 401: the client refreshes its credentials and asks again; anonymous ones (an
        # emulator's) cannot be refreshed, real ones may have expired.
        detail = (
            f"401 Unauthorized: {type(exc).__name__}"
            if isinstance(exc, GoogleAuthError)
            else ("401 Unauthorized")
        )
        raise UsageError(
            f"{flag}: gs://{bucket_name} refused the credentials ({detail}); {_LOGIN_HINT}"
        ) from None
    except exceptions.Forbidden as exc:
        action = "delete in" if written else "write to"
        raise UsageError(
            f"{flag}: not allowed to {action} {output_dir} (403 Forbidden: {_reason(exc)})"
        ) from None
    except exceptions.NotFound:
        if written:  # the check's object vanished: someone else's business, not a refusal
            return
        raise UsageError(f"{flag}: bucket gs://{bucket_name} does not exist") from None
    except Exception as exc:  # DNS, resets, 5xx past the retries, timeouts
        detail = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
        raise UsageError(f"{flag}: gs://{bucket_name} does not answer ({detail})") from None


def _reason(exc: Any) -> str:
    """GCS's own words (the error's first message), without the request's URL."""
    errors = getattr(exc, "errors", None) or [{}]
    message = errors[0].get("message") if isinstance(errors[0], dict) else None
    return str(message or getattr(exc, "message", "") or exc).splitlines()[0][:160]
