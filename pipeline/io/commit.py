"""One commit protocol for every output: ``c4 build``, ``c4 mask`` and ``c4 forget``.

A command never writes into the live output. It stages every file it writes, then one final
step makes the staged files current, so a reader entering through a supported entry point sees
the complete old output or the complete new one, whenever the command is killed:

**Local disks** (``docs/layout.md``, "The output, and how it changes"). The data lives in
generations, ``DIR/.c4/generations/<id>/`` (the full INTERFACE.md layout each), and DIR's
top-level entries (``c4``, ``parquet``, ``lineage``, ``stats.json``, ...) are relative symlinks
through ``DIR/.c4/current``, itself a symlink to the current generation. A command writes a new
generation (files it does not rewrite are hard links of the current ones, so a forget touching
1 % of the shards copies nothing else), then replaces ``.c4/current`` with ``os.replace``: one
atomic rename switches every entry point at once (TFDS, ``parquet/`` read as a directory,
``lineage/``, ``masked/``, the manifest). Older generations are deleted afterwards.

**Object stores** (``gs://``) have no rename and no atomic operation over several objects.
Staged files go to a staging area under the TFDS version directory (so a TFDS file template can
name them), then a journal (``DIR/.c4/journal.json``) is written: the commit point. Settling the
journal rewrites ``dataset_info.json`` to name the staged shards (TFDS switches), writes the
manifest naming the staged files (the project's readers switch), copies the staged files into
place, then rewrites ``dataset_info.json`` and the manifest to name them there, and deletes the
staging area and the journal. A command that finds a journal settles it first; one that finds
staging without a journal deletes it. A raw listing of a ``gs://`` directory is not atomic while
a journal is being settled: read through ``DIR/manifest.json`` (``manifest_files``) to be safe.

The ids of generations and staging areas never reach a data file: the same build gives the same
bytes wherever it was staged.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from pipeline.io import generations, journal
from pipeline.io.gcs import connect_anonymously_if_emulated
from pipeline.io.generations import CURRENT, GENERATIONS, current_generation
from pipeline.io.journal import JOURNAL, MANIFEST, STAGING_PREFIX, manifest_files
from pipeline.io.lock import Lock, acquire
from pipeline.io.storage import (
    OWNER,
    PRIVATE,
    delete_tree,
    is_remote,
    join_path,
    list_files,
    owned_by,
    owner_alive,
    owner_bytes,
    read_bytes,
    write_bytes,
)

__all__ = [
    "CURRENT",
    "GENERATIONS",
    "JOURNAL",
    "MANIFEST",
    "PRIVATE",
    "STAGING_PREFIX",
    "Commit",
    "begin",
    "committing",
    "current_generation",
    "manifest_files",
    "output_files",
    "recover",
]


# Changes this process has made current: a late ``abort`` (Ctrl-C's cleanup) leaves them be.
_PUBLISHED: set[str] = set()


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[None]:
    """SIGINT held back while inside (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@dataclass(frozen=True)
class Commit:
    """One command's staged change to an output directory; picklable (it reaches workers).

    Attributes:
        output_dir: DIR, as the user named it (absolute for local paths).
        tx: the id of this change (a generation's or a staging area's name).
        owns: relative prefixes this change replaces whole (``""``: everything, a rebuild;
            ``"masked/"``: a remask); files of the current output under them that the change
            does not write are gone after it. Other files are kept as they are unless written.
        tfds_rel: ``c4/<config>/<version>`` when the output has a TFDS directory.
        created: local directories ``begin`` made (``abort`` removes them if left empty).
        keeps: prefixes under ``owns`` kept all the same (a rebuild keeps ``forget/``).
        lock: DIR's lock (``pipeline/io/lock.py``), released by ``publish`` and ``abort``.
    """

    output_dir: str
    tx: str
    owns: tuple[str, ...]
    tfds_rel: str | None = None
    created: tuple[str, ...] = field(default=())
    keeps: tuple[str, ...] = field(default=())
    lock: Lock | None = None

    @property
    def remote(self) -> bool:
        return is_remote(self.output_dir)

    @property
    def write_dir(self) -> str:
        """Where the command writes: the new generation, or the staging area."""
        if not self.remote:
            return join_path(self.output_dir, GENERATIONS, self.tx)
        if self.tfds_rel:
            return join_path(self.output_dir, self.tfds_rel, STAGING_PREFIX + self.tx)
        return join_path(self.output_dir, PRIVATE, "staging", self.tx)

    def owned(self, rel: str) -> bool:
        """Whether this change replaces ``rel`` whole (kept only if it writes it again)."""
        return owned_by(rel, self.owns, self.keeps)

    def publish(self) -> None:
        """Make the staged files current (the commit point), then tidy up. Ctrl-C waits for
        the end of it (its cleanup must not abort a change that is being made current)."""
        with _sigint_deferred():
            if self.remote:
                journal.publish(
                    self.output_dir, self.write_dir, self.owns, self.keeps, self.tfds_rel
                )
            else:
                generations.publish(self.output_dir, self.write_dir)
            _PUBLISHED.add(self.tx)
        if self.lock is not None:
            self.lock.release()

    def abort(self) -> None:
        """Forget the staged files; DIR is left as it was before ``begin``. Nothing to do
        once published (the staged files are DIR's current ones then)."""
        if self.tx in _PUBLISHED:
            return
        delete_tree(self.write_dir)
        if self.lock is not None:
            self.lock.release()
        if not self.remote:
            for path in reversed(self.created):
                with contextlib.suppress(OSError):
                    os.rmdir(path)


def begin(
    output_dir: str,
    owns: Sequence[str],
    tfds_rel: str | None = None,
    keeps: Sequence[str] = (),
    command: str = "c4",
    lock: bool = True,
    from_current: bool = False,
) -> Commit:
    """Start a change of ``output_dir``: take its lock, finish or undo what an earlier command
    left, then prepare the staging area. Locally the new generation starts with hard links of
    the files it keeps (outside ``owns``). With ``from_current`` it starts as the whole current
    output (hard links locally, copies on ``gs://``) and files deleted from it are deleted
    (``c4 forget``: ``owns=("",)``; it reads and rewrites the output in the staging area).

    ``lock=False`` (``c4 submit``: the job ends on Dataflow's workers, where no process of this
    host can release it) skips the lock.

    Raises:
        BusyError: another command holds DIR's lock.
    """
    output_dir = output_dir if is_remote(output_dir) else os.path.abspath(output_dir)
    output_dir = output_dir.rstrip("/") or "/"
    if is_remote(output_dir):  # an emulator needs no credentials: do not search for them
        connect_anonymously_if_emulated()
    private = [join_path(output_dir, PRIVATE), join_path(output_dir, GENERATIONS)]
    created = [] if is_remote(output_dir) else _missing_dirs([output_dir, *private])
    try:
        held = acquire(output_dir, command) if lock else None
    except BaseException:
        for path in created:
            with contextlib.suppress(OSError):
                os.rmdir(path)
        raise
    tx = uuid.uuid4().hex[:16]
    try:
        recover(output_dir)
        if is_remote(output_dir):
            commit = Commit(output_dir, tx, tuple(owns), tfds_rel, keeps=tuple(keeps), lock=held)
            write_bytes(join_path(commit.write_dir, OWNER), owner_bytes())
            if from_current:
                journal.copy_current(output_dir, commit.write_dir)
            return commit
        commit = Commit(
            output_dir, tx, tuple(owns), tfds_rel, tuple(created), tuple(keeps), lock=held
        )
        os.makedirs(commit.write_dir)
        write_bytes(join_path(commit.write_dir, OWNER), owner_bytes())
        generations.carry(
            output_dir, commit.write_dir, lambda rel: commit.owned(rel) and not from_current
        )
    except BaseException:
        if held is not None:
            held.release()
        raise
    return commit


@contextlib.contextmanager
def committing(
    output_dir: str, owns: Sequence[str], tfds_rel: str | None = None, keeps: Sequence[str] = ()
) -> Iterator[Commit]:
    """``begin``; publish when the block ends normally, abort when it raises."""
    commit = begin(output_dir, owns, tfds_rel, keeps)
    try:
        yield commit
    except BaseException:
        commit.abort()
        raise
    commit.publish()


def _missing_dirs(paths: Sequence[str]) -> list[str]:
    missing = []
    for path in paths:
        if not os.path.isdir(path):
            missing.append(path)
    for path in missing:
        os.makedirs(path, exist_ok=True)
    return missing


def recover(output_dir: str) -> None:
    """Finish a committed change (a journal) and drop uncommitted ones whose owner is gone."""
    if is_remote(output_dir):
        journal.settle(output_dir)
        for staging in journal.staging_areas(output_dir):
            if not owner_alive(staging):
                delete_tree(staging)
        return
    if not os.path.isdir(join_path(output_dir, GENERATIONS)):
        return
    generations.tidy(output_dir)


def output_files(output_dir: str) -> dict[str, str]:
    """Every committed file of DIR a reader sees, by relative path -> where it is.

    Locally: the current generation's files (or, in a DIR without generations, DIR's own);
    on ``gs://``: what the manifest names, else DIR's objects. The protocol's own files (the
    manifest, ``.c4/``, staging areas) are left out.
    """
    if is_remote(output_dir):
        try:
            paths = manifest_files(output_dir)
        except FileNotFoundError:
            return {rel: join_path(output_dir, rel) for rel in journal.listed_output(output_dir)}
        data = json.loads(read_bytes(join_path(output_dir, MANIFEST)) or b"{}")
        rels = sorted(data.get("files", {}))
        return {rel: path for rel, path in zip(rels, paths, strict=True) if rel != MANIFEST}
    current = current_generation(output_dir)
    root = current or output_dir
    return {
        rel: os.path.join(root, rel)
        for rel in list_files(root)
        if rel not in (MANIFEST, OWNER) and not rel.startswith(PRIVATE + "/")
    }
