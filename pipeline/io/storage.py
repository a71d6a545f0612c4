"""Files of the commit protocol (``pipeline/io/commit.py``): local paths through ``os``,
``gs://`` through Beam's ``FileSystems``; every write counted by ``pipeline/io/faults.py``."""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import shutil
import uuid
from collections.abc import Sequence

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from pipeline.io import faults
from pipeline.io.lock import owner_gone, owner_record

# A staging area's or a generation's owner (host, pid): a dead owner's is not kept.
OWNER = ".owner.json"
# The commit protocol's own area in DIR (generations, journal, lock, resume).
PRIVATE = ".c4"


def is_remote(path: str) -> bool:
    return "://" in path


def join_path(base: str, *parts: str) -> str:
    return posixpath.join(base.rstrip("/") or "/", *[p for p in parts if p])


def read_bytes(path: str) -> bytes | None:
    if not FileSystems.exists(path):
        return None
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        data: bytes = handle.read()
    return data


def write_bytes(path: str, data: bytes) -> None:
    """One object written whole (an object store's write is atomic; locally: temp + rename)."""
    faults.file_write(path)
    if is_remote(path):
        out = FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED)
        try:
            out.write(data)
        finally:
            out.close()
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp-{uuid.uuid4().hex}"
    with open(tmp, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def list_files(root: str) -> list[str]:
    """Every file under ``root`` (a directory), relative to it, sorted."""
    if not is_remote(root):
        found = []
        for base, dirs, files in os.walk(root):
            dirs.sort()
            for name in files:
                found.append(os.path.relpath(os.path.join(base, name), root).replace(os.sep, "/"))
        return sorted(found)
    prefix = root.rstrip("/") + "/"
    matched = FileSystems.match([prefix + "**"])[0].metadata_list
    return sorted(m.path[len(prefix) :] for m in matched if m.path.startswith(prefix))


def delete_tree(root: str) -> None:
    if not is_remote(root):
        shutil.rmtree(root, ignore_errors=True)
        return
    files = [join_path(root, rel) for rel in list_files(root)]
    for start in range(0, len(files), 100):
        with contextlib.suppress(OSError):
            FileSystems.delete(files[start : start + 100])


def size_of(path: str) -> int:
    if not is_remote(path):
        return os.path.getsize(path)
    metadata = FileSystems.match([path])[0].metadata_list
    return int(metadata[0].size_in_bytes) if metadata else 0


def owner_bytes() -> bytes:
    """Who staged a generation or staging area: the lock's owner record (host, pid, start)."""
    return json.dumps(owner_record("c4"), sort_keys=True).encode()


def owner_alive(staging: str) -> bool:
    """Whether the process that staged ``staging`` may still be running (it is not ours to
    delete then), by the lock's rule (``pipeline.io.lock.owner_gone``); this process's own
    leftovers are not kept."""
    data = read_bytes(join_path(staging, OWNER))
    if data is None:
        return False
    try:
        owner = json.loads(data)
    except ValueError:
        return False
    if not isinstance(owner, dict) or owner.get("pid") == os.getpid():
        return False
    return not owner_gone(owner)


def owned_by(rel: str, owns: Sequence[str], keeps: Sequence[str]) -> bool:
    """Whether a change owning ``owns`` (and keeping ``keeps``) replaces ``rel`` whole."""
    if any(rel.startswith(prefix) for prefix in keeps):
        return False
    return any(rel.startswith(prefix) for prefix in owns)
