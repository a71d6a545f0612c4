"""One command at a time per output directory: ``DIR/.c4/lock``.

``c4 build``, ``c4 mask`` and ``c4 forget`` change an output through ``pipeline/io/commit.py``;
two of them at once would each commit a generation made from the same old one, and the second
would silently undo the first (a forget lost, a forgotten document back). So each takes the
lock first, and a second command is refused with a message naming the holder.

The lock is a file created only if absent: ``O_CREAT | O_EXCL`` on local disks, an upload with
the precondition ``ifGenerationMatch=0`` on ``gs://`` (GCS creates an object under that
precondition at most once). It holds its owner (host, pid, process start time, command): a lock
whose owner is a dead process of this host is stale and is taken over; one held on another host
is left alone (its process cannot be checked from here) and the message says how to remove it.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
import uuid
from dataclasses import dataclass
from typing import Any

from filters.spec import UsageError

LOCK = ".c4/lock"  # under DIR's private area (``pipeline.io.storage.PRIVATE``)


class BusyError(UsageError):
    """Another command holds the output directory's lock."""


@dataclass(frozen=True)
class Lock:
    """A held lock: its path and (``gs://``) the object generation that is ours."""

    path: str
    generation: int | None = None

    def release(self) -> None:
        if "://" not in self.path:
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.path)
            return
        blob = _blob(self.path)
        with contextlib.suppress(Exception):
            blob.delete(if_generation_match=self.generation)


def _started(pid: int) -> float | None:
    try:
        import psutil

        return float(psutil.Process(pid).create_time())
    except Exception:
        return None


def owner_record(command: str) -> dict[str, object]:
    """This process as an owner (of a lock, a staging area): host, pid, start time."""
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started": _started(os.getpid()),
        "command": command,
        "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def owner_gone(owner: dict[str, object]) -> bool:
    """Whether the process that took a lock is known to be gone (same host, not running, or
    its pid now names a process started later)."""
    if owner.get("host") != socket.gethostname():
        return False
    pid = owner.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return True
    started = _started(pid)
    if started is None:
        return True
    recorded = owner.get("started")
    return isinstance(recorded, float) and abs(started - recorded) > 1.0


def _describe(owner: dict[str, object], path: str) -> str:
    return (
        f"{owner.get('command', 'another c4 command')} (pid {owner.get('pid')} on "
        f"{owner.get('host')}, since {owner.get('since')}) is changing this directory; wait "
        f"for it to end, or delete {path} if that process is gone"
    )


def acquire(output_dir: str, command: str) -> Lock:
    """Take ``DIR/.c4/lock`` for ``command``.

    Raises:
        BusyError: another live command holds it.
    """
    path = output_dir.rstrip("/") + "/" + LOCK
    data = json.dumps(owner_record(command), sort_keys=True).encode("utf-8")
    if "://" in path:
        return _acquire_remote(path, data)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = _read_owner(path)
            if owner is not None and not owner_gone(owner):
                raise BusyError(_describe(owner, path)) from None
            # Stale: move it aside under a unique name (only one taker wins the rename).
            with contextlib.suppress(FileNotFoundError):
                os.rename(path, f"{path}.stale-{uuid.uuid4().hex}")
                for name in os.listdir(os.path.dirname(path)):
                    if name.startswith("lock.stale-"):
                        with contextlib.suppress(OSError):
                            os.remove(os.path.join(os.path.dirname(path), name))
            continue
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        return Lock(path)
    raise BusyError(f"could not take {path}: another command keeps taking it")


def _read_owner(path: str) -> dict[str, object] | None:
    for _ in range(20):  # the creator writes its owner right after creating the file
        try:
            with open(path, "rb") as handle:
                text = handle.read()
        except FileNotFoundError:
            return None
        if text:
            try:
                owner = json.loads(text)
            except ValueError:
                return {}
            return owner if isinstance(owner, dict) else {}
        time.sleep(0.05)
    return {}


def _blob(path: str) -> Any:
    from google.cloud import storage  # type: ignore[attr-defined]

    from pipeline.io.gcs import emulator_host

    bucket, _, name = path[len("gs://") :].partition("/")
    anonymous = emulator_host() is not None
    client = storage.Client.create_anonymous_client() if anonymous else storage.Client()
    return client.bucket(bucket).blob(name)


def _acquire_remote(path: str, data: bytes) -> Lock:
    from google.api_core.exceptions import NotFound, PreconditionFailed

    blob = _blob(path)
    for _ in range(3):
        try:
            blob.upload_from_string(data, if_generation_match=0)
        except PreconditionFailed:
            try:
                owner = json.loads(blob.download_as_bytes())
                generation = blob.generation
            except NotFound:
                continue
            if not owner_gone(owner):
                raise BusyError(_describe(owner, path)) from None
            with contextlib.suppress(NotFound, PreconditionFailed):
                blob.delete(if_generation_match=generation)
            continue
        return Lock(path, blob.generation)
    raise BusyError(f"could not take {path}: another command keeps taking it")
