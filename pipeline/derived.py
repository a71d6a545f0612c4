"""The outputs derived from a built DIR, registered in it: ``DIR/forget/derived.json``.

``c4 forget DIR`` must reach every copy of a document, and a masked set written elsewhere
(``c4 mask DIR --output MDIR``, one per epoch or seed) or a vocabulary trained on DIR (``c4
vocab train DIR --output MODEL``) is a copy DIR cannot see by looking at itself. So the command
that derives an output from DIR registers it in DIR, and the output names DIR back (a masked
set's ``config.json`` has ``source``). ``DIR/masked`` is registered too, as ``masked``
(relative, so DIR can move); ``c4 build`` and ``c4 mask`` keep that entry true.

The registry lives in ``forget/``, which a rebuild keeps (``keeps=("forget/",)``) like the
ledger: a set masked from an earlier build still holds that build's documents. An entry leaves
only by an explicit ``c4 forget DIR --unregister PATH`` (a set deleted on purpose).

Registering is a change of DIR, so it goes through the commit protocol: a commit that owns only
this file (``register``), or the file written into the staging area of a commit that changes
DIR anyway (``note``). Entries hold no time and no host: the same commands give the same bytes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from apache_beam.io.filesystems import FileSystems

from pipeline.io.storage import read_bytes
from pipeline.write import join, write_atomic

REGISTRY = "forget/derived.json"
MASKED = "masked"  # a masked set: DIR/masked ("masked") or a c4 mask --output MDIR
VOCABULARY = "vocabulary"  # a c4 vocab train MODEL
FORMAT = 1


@dataclass(frozen=True, order=True)
class Entry:
    """One derived output.

    Attributes:
        kind: ``masked`` or ``vocabulary``.
        path: ``masked`` for ``DIR/masked``; else absolute (a local path) or a URL.
        sha256: a vocabulary's model digest when it was registered ('' for a set).
        tainted_by: the deletion reports (``forget/report-NNNN.json``) of forgets after which
            the vocabulary holds forgotten data (it was trained before them).
    """

    kind: str
    path: str
    sha256: str = ""
    tainted_by: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"kind": self.kind, "path": self.path}
        if self.sha256:
            out["sha256"] = self.sha256
        if self.tainted_by:
            out["tainted_by"] = list(self.tainted_by)
        return out


def normalize(path: str) -> str:
    """How a path is registered and compared: absolute locally, no trailing ``/``."""
    path = path if "://" in path else os.path.abspath(path)
    return path.rstrip("/") or "/"


def location(root: str, entry: Entry) -> str:
    """Where an entry is: ``DIR/masked`` for ``masked``, else its own path."""
    return join(root, entry.path) if entry.path == MASKED else entry.path


def _read(path: str) -> bytes | None:
    return read_bytes(path)


def load(root: str) -> list[Entry]:
    """The registered outputs of DIR, sorted ([] when none is registered).

    Raises:
        ValueError: the registry is not what this module writes (damaged by hand).
    """
    data = _read(join(root, REGISTRY))
    if data is None:
        return []
    content = json.loads(data)
    if not isinstance(content, dict) or not isinstance(content.get("derived"), list):
        raise ValueError(f"{REGISTRY}: not a registry of derived outputs")
    entries = []
    for item in content["derived"]:
        if not isinstance(item, dict) or item.get("kind") not in (MASKED, VOCABULARY):
            raise ValueError(f"{REGISTRY}: malformed entry {item!r}")
        entries.append(
            Entry(
                str(item["kind"]),
                str(item["path"]),
                str(item.get("sha256", "")),
                tuple(str(t) for t in item.get("tainted_by", ())),
            )
        )
    return sorted(entries)


def registry_bytes(entries: Sequence[Entry]) -> bytes:
    content = {"format": FORMAT, "derived": [e.to_json() for e in sorted(entries)]}
    return (json.dumps(content, indent=2, sort_keys=True) + "\n").encode("utf-8")


def with_entry(entries: Sequence[Entry], entry: Entry) -> list[Entry]:
    """``entries`` with ``entry`` in place of any entry of the same path."""
    return sorted([e for e in entries if e.path != entry.path] + [entry])


def without(entries: Sequence[Entry], path: str) -> list[Entry]:
    return [e for e in entries if e.path != path]


Change = Callable[[list[Entry]], list[Entry]]


def note(output_dir: str, write_dir: str, change: Change, kept: bool = True) -> bool:
    """Write DIR's registry, changed by ``change``, into a commit's staging area ``write_dir``
    (the commit changes DIR anyway); whether it changed. Read from DIR's current output (on
    ``gs://`` the staging area holds only what the command writes), or from nothing when the
    commit does not keep ``forget/`` (a build told to drop the ledger)."""
    staged = FileSystems.exists(join(write_dir, REGISTRY))
    entries = load(write_dir) if staged else load(output_dir) if kept else []
    after = change(list(entries))
    if after == entries:
        return False
    write_atomic(join(write_dir, REGISTRY), registry_bytes(after))
    return True


def sync_masked(output_dir: str, write_dir: str, keeps: Sequence[str]) -> None:
    """A build's commit: ``masked`` registered exactly when the build wrote ``masked/``;
    ``keeps``: what the commit keeps of DIR (``forget/``, unless the ledger is dropped)."""
    has_masked = FileSystems.exists(join(write_dir, "masked", "config.json"))
    entry = Entry(MASKED, MASKED)

    def change(entries: list[Entry]) -> list[Entry]:
        return with_entry(entries, entry) if has_masked else without(entries, MASKED)

    note(output_dir, write_dir, change, kept=any(REGISTRY.startswith(k) for k in keeps))


def register(output_dir: str, change: Change, command: str, lock: bool = True) -> bool:
    """Change DIR's registry in a commit of its own (owning only the registry); whether it
    changed. ``lock=False`` when the caller already holds DIR's lock.

    Raises:
        BusyError: another command holds DIR's lock.
    """
    from pipeline.io.commit import begin

    entries = load(output_dir)
    after = change(list(entries))
    if after == entries:
        return False
    commit = begin(output_dir, owns=(REGISTRY,), command=command, lock=lock)
    try:
        write_atomic(join(commit.write_dir, REGISTRY), registry_bytes(after))
    except BaseException:
        commit.abort()
        raise
    commit.publish()
    return True


def register_output(output_dir: str, entry: Entry, command: str, lock: bool = True) -> bool:
    """``register`` of one entry (replacing an entry of the same path)."""
    return register(output_dir, lambda entries: with_entry(entries, entry), command, lock)
