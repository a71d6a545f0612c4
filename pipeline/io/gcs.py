"""``gs://`` through Beam's GCS filesystem, and a local GCS emulator without credentials.

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
