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
import posixpath
import shutil
import socket
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from pipeline.io import faults
from pipeline.io.lock import Lock, acquire

PRIVATE = ".c4"
GENERATIONS = f"{PRIVATE}/generations"
CURRENT = f"{PRIVATE}/current"
JOURNAL = f"{PRIVATE}/journal.json"
MANIFEST = "manifest.json"
OWNER = ".owner.json"
STAGING_PREFIX = ".c4-staging-"
TFDS_INFO = "dataset_info.json"
TFDS_TEMPLATE = "{DATASET}-{SPLIT}.{FILEFORMAT}-{SHARD_X_OF_Y}"


def is_remote(path: str) -> bool:
    return "://" in path


def _join(base: str, *parts: str) -> str:
    return posixpath.join(base.rstrip("/") or "/", *[p for p in parts if p])


# --- files through FileSystems (gs://) and os (local) ------------------------------------------


def _read(path: str) -> bytes | None:
    if not FileSystems.exists(path):
        return None
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        data: bytes = handle.read()
    return data


def _write(path: str, data: bytes) -> None:
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


def _list(root: str) -> list[str]:
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


def _delete_tree(root: str) -> None:
    if not is_remote(root):
        shutil.rmtree(root, ignore_errors=True)
        return
    files = [_join(root, rel) for rel in _list(root)]
    for start in range(0, len(files), 100):
        with contextlib.suppress(OSError):
            FileSystems.delete(files[start : start + 100])


# --- the transaction --------------------------------------------------------------------------


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
            return _join(self.output_dir, GENERATIONS, self.tx)
        if self.tfds_rel:
            return _join(self.output_dir, self.tfds_rel, STAGING_PREFIX + self.tx)
        return _join(self.output_dir, PRIVATE, "staging", self.tx)

    def owned(self, rel: str) -> bool:
        """Whether this change replaces ``rel`` whole (kept only if it writes it again)."""
        return _owned(rel, self.owns, self.keeps)

    def publish(self) -> None:
        """Make the staged files current (the commit point), then tidy up."""
        if self.remote:
            _publish_remote(self)
        else:
            _publish_local(self)
        if self.lock is not None:
            self.lock.release()

    def abort(self) -> None:
        """Forget the staged files; DIR is left as it was before ``begin``."""
        _delete_tree(self.write_dir)
        if self.lock is not None:
            self.lock.release()
        if not self.remote:
            for path in reversed(self.created):
                with contextlib.suppress(OSError):
                    os.rmdir(path)


def _owned(rel: str, owns: Sequence[str], keeps: Sequence[str]) -> bool:
    if any(rel.startswith(prefix) for prefix in keeps):
        return False
    return any(rel.startswith(prefix) for prefix in owns)


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
    private = [_join(output_dir, PRIVATE), _join(output_dir, GENERATIONS)]
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
            _write(_join(commit.write_dir, OWNER), _owner())
            if from_current:
                _copy_current(commit)
            return commit
        commit = Commit(
            output_dir, tx, tuple(owns), tfds_rel, tuple(created), tuple(keeps), lock=held
        )
        os.makedirs(commit.write_dir)
        _write(_join(commit.write_dir, OWNER), _owner())
        _carry(commit, everything=from_current)
    except BaseException:
        if held is not None:
            held.release()
        raise
    return commit


def _copy_current(commit: Commit) -> None:
    """``gs://``: copy the whole current output into the staging area."""
    kept = _kept_files(commit.output_dir, (), (), [])
    for start in range(0, len(kept), 100):
        batch = kept[start : start + 100]
        FileSystems.copy(
            [_join(commit.output_dir, r) for r in batch],
            [_join(commit.write_dir, r) for r in batch],
        )


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


def _owner() -> bytes:
    return json.dumps({"host": socket.gethostname(), "pid": os.getpid()}).encode()


def _owner_alive(staging: str) -> bool:
    """Whether the process that staged ``staging`` may still be running (it is not ours to
    delete then): same host and a live pid; a staging area of another host counts as alive."""
    data = _read(_join(staging, OWNER))
    if data is None:
        return False
    try:
        owner = json.loads(data)
    except ValueError:
        return False
    if owner.get("host") != socket.gethostname():
        return True
    pid = int(owner.get("pid", 0))
    if pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- local: generations -----------------------------------------------------------------------


def current_generation(output_dir: str) -> str | None:
    """The directory of DIR's current generation, ``None`` when it has none (yet)."""
    link = _join(output_dir, CURRENT)
    if not os.path.islink(link):
        return None
    return os.path.realpath(link)


def _legacy_entries(output_dir: str) -> list[str]:
    """DIR's top-level output entries that are not links: a DIR written before generations, a
    hand-made one, or a copy made following links (``cp -rL``, Python's ``shutil.copytree``)."""
    return [
        name
        for name in sorted(os.listdir(output_dir))
        if _is_output_entry(name) and not os.path.islink(os.path.join(output_dir, name))
    ]


def _retire_legacy(output_dir: str) -> None:
    """Before a switch: move real entries aside (into ``.c4/retired``, deleted after it), and
    drop a real ``.c4/current`` (a copy made following links: its content is the entries').

    Each entry is absent from its move to the switch: not atomic, once per such DIR.
    """
    current = _join(output_dir, CURRENT)
    if os.path.isdir(current) and not os.path.islink(current):
        shutil.rmtree(current)
    retired = _join(output_dir, PRIVATE, "retired")
    for name in _legacy_entries(output_dir):
        os.makedirs(retired, exist_ok=True)
        os.replace(os.path.join(output_dir, name), os.path.join(retired, name))


# What a c4 output holds at its top level (INTERFACE.md), and files written beside it.
_OUTPUT_ENTRIES = frozenset(
    {
        "c4",
        "parquet",
        "lineage",
        "dead_letter",
        "masked",
        "forget",
        "drops",
        "stats.json",
        "config.json",
        "DATA_CARD.md",
        "report.html",
        "report",
        "run.json",
        MANIFEST,
        "tfrecord",  # a separate masked set (c4 mask --output MDIR)
    }
)


def _is_output_entry(name: str) -> bool:
    return name in _OUTPUT_ENTRIES


def _carry(commit: Commit, everything: bool = False) -> None:
    """Hard-link the current generation's files the change keeps (``everything``: all of them)
    into the new one; in a DIR without generations, its entries' files."""
    current = current_generation(commit.output_dir)
    if current is None:
        current = commit.output_dir
        names = set(_legacy_entries(current))
        rels = [rel for rel in _list(current) if rel.split("/", 1)[0] in names]
    else:
        rels = _list(current)
    for rel in rels:
        if rel in (OWNER, MANIFEST) or (commit.owned(rel) and not everything):
            continue
        source = os.path.join(current, rel)
        target = os.path.join(commit.write_dir, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        try:
            os.link(source, target)
        except OSError:  # a file system without hard links: copy
            shutil.copy2(source, target)


def _link_entry(output_dir: str, name: str) -> None:
    """``DIR/<name>`` -> ``.c4/current/<name>`` (relative: DIR can be moved or copied whole)."""
    link = os.path.join(output_dir, name)
    target = posixpath.join(CURRENT, name)
    if os.path.islink(link) and os.readlink(link) == target:
        return
    tmp = f"{link}.tmp-{uuid.uuid4().hex}"
    os.symlink(target, tmp)
    os.replace(tmp, link)


def _switch(output_dir: str, generation: str) -> None:
    """Point ``.c4/current`` at ``generation``: the commit point (one rename)."""
    link = _join(output_dir, CURRENT)
    tmp = f"{link}.tmp-{uuid.uuid4().hex}"
    os.symlink(posixpath.join("generations", posixpath.basename(generation)), tmp)
    faults.file_write(link)
    os.replace(tmp, link)


def _publish_local(commit: Commit) -> None:
    generation = commit.write_dir
    with contextlib.suppress(FileNotFoundError):
        os.remove(_join(generation, OWNER))
    files = [rel for rel in _list(generation) if rel != MANIFEST and ".tmp-" not in rel]
    sizes = {rel: _size(_join(generation, rel)) for rel in files}
    _write(_join(generation, MANIFEST), manifest_bytes({rel: rel for rel in files}, sizes))
    names = sorted({rel.split("/", 1)[0] for rel in [*files, MANIFEST]})
    _retire_legacy(commit.output_dir)
    for name in names:  # a new entry's link dangles (reads as absent) until the switch
        _link_entry(commit.output_dir, name)
    _switch(commit.output_dir, generation)
    _tidy_local(commit.output_dir)


def _tidy_local(output_dir: str) -> None:
    """After a switch: delete other generations and the links the new one does not fill."""
    current = current_generation(output_dir)
    root = _join(output_dir, GENERATIONS)
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name)
        if path != current and not _owner_alive(path):
            shutil.rmtree(path, ignore_errors=True)
    for name in sorted(os.listdir(output_dir)):
        link = os.path.join(output_dir, name)
        ours = os.path.islink(link) and os.readlink(link).startswith(CURRENT + "/")
        if ours and not os.path.lexists(os.path.join(current or root, name)):
            os.remove(link)
    retired = _join(output_dir, PRIVATE, "retired")
    if os.path.isdir(retired) and current is None:  # killed before its switch: put them back
        for name in sorted(os.listdir(retired)):
            link = os.path.join(output_dir, name)
            if os.path.islink(link):
                os.remove(link)
            os.replace(os.path.join(retired, name), link)
    shutil.rmtree(retired, ignore_errors=True)
    for name in sorted(os.listdir(os.path.join(output_dir, PRIVATE))):
        if ".tmp-" in name:  # a link made for a switch that was killed before it
            with contextlib.suppress(OSError):
                os.remove(os.path.join(output_dir, PRIVATE, name))


# --- the manifest -----------------------------------------------------------------------------


def manifest_bytes(locations: Mapping[str, str], sizes: Mapping[str, int]) -> bytes:
    """``manifest.json``: every file of the output by its relative path, where it is (``at``,
    relative to DIR: itself once settled, a staging area's copy while a journal settles) and
    its size in bytes."""
    files = {rel: {"at": locations[rel], "bytes": sizes[rel]} for rel in sorted(locations)}
    content = {"format": 1, "files": files}
    return (json.dumps(content, sort_keys=True, indent=1) + "\n").encode("utf-8")


def _size(path: str) -> int:
    if not is_remote(path):
        return os.path.getsize(path)
    metadata = FileSystems.match([path])[0].metadata_list
    return int(metadata[0].size_in_bytes) if metadata else 0


def manifest_files(output_dir: str, prefix: str = "") -> list[str]:
    """Full paths of the committed files of DIR under ``prefix``, as its manifest names them:
    the way to read a ``gs://`` DIR consistently while another command commits to it."""
    data = _read(_join(output_dir, MANIFEST))
    if data is None:
        raise FileNotFoundError(f"{output_dir} has no {MANIFEST}")
    files = json.loads(data)["files"]
    return [_join(output_dir, files[rel]["at"]) for rel in sorted(files) if rel.startswith(prefix)]


# --- remote: journal --------------------------------------------------------------------------


def _publish_remote(commit: Commit) -> None:
    staged = [
        rel
        for rel in _list(commit.write_dir)
        if rel not in (OWNER, MANIFEST) and ".tmp-" not in rel
    ]
    journal = {
        "tx": commit.tx,
        "staging": posixpath.relpath(commit.write_dir, commit.output_dir),
        "files": staged,
        "owns": list(commit.owns),
        "keeps": list(commit.keeps),
        "tfds_rel": commit.tfds_rel,
    }
    _write(_join(commit.output_dir, JOURNAL), json.dumps(journal, sort_keys=True).encode())
    settle(commit.output_dir)


def settle(output_dir: str) -> None:
    """Carry out DIR's journal (idempotent: a settle that was killed is run again)."""
    data = _read(_join(output_dir, JOURNAL))
    if data is None:
        return
    journal = json.loads(data)
    staging = _join(output_dir, journal["staging"])
    staged: list[str] = journal["files"]
    owns: list[str] = journal["owns"]
    keeps: list[str] = journal.get("keeps", [])
    tfds_rel: str | None = journal["tfds_rel"]
    info_rel = posixpath.join(tfds_rel, TFDS_INFO) if tfds_rel else None
    # The project's readers switch first (the manifest names the staged copies), then TFDS
    # (its info names the staged shards through a file template): each sees old or new whole.
    kept = _kept_files(output_dir, owns, keeps, staged)
    _write(
        _join(output_dir, MANIFEST), _remote_manifest(output_dir, journal["staging"], staged, kept)
    )
    if info_rel in staged:
        prefix = posixpath.relpath(
            _join(staging, tfds_rel or ""), _join(output_dir, tfds_rel or "")
        )
        _write(_join(output_dir, info_rel), _templated_info(_join(staging, info_rel), prefix))
    copies = [rel for rel in staged if rel != info_rel]
    for start in range(0, len(copies), 100):
        batch = copies[start : start + 100]
        FileSystems.copy([_join(staging, r) for r in batch], [_join(output_dir, r) for r in batch])
    stale = [
        _join(output_dir, rel)
        for rel in _listed_output(output_dir)
        if _owned(rel, owns, keeps) and rel not in staged and rel != MANIFEST
    ]
    for start in range(0, len(stale), 100):
        FileSystems.delete(stale[start : start + 100])
    if info_rel in staged:
        FileSystems.copy([_join(staging, info_rel)], [_join(output_dir, info_rel)])
    _write(_join(output_dir, MANIFEST), _remote_manifest(output_dir, "", staged, kept))
    _delete_tree(staging)
    FileSystems.delete([_join(output_dir, JOURNAL)])


def _templated_info(path: str, prefix: str) -> bytes:
    data = _read(path)
    if data is None:
        raise FileNotFoundError(path)
    info = json.loads(data)
    for split in info.get("splits", []):
        split["filepathTemplate"] = posixpath.join(prefix, TFDS_TEMPLATE)
    return (json.dumps(info, indent=2, sort_keys=True) + "\n").encode("utf-8")


def _listed_output(output_dir: str) -> list[str]:
    """DIR's files, relative, without the private area and staging areas."""
    return [
        rel
        for rel in _list(output_dir)
        if not rel.startswith(PRIVATE + "/") and f"/{STAGING_PREFIX}" not in "/" + rel
    ]


def _kept_files(
    output_dir: str, owns: Sequence[str], keeps: Sequence[str], staged: Sequence[str]
) -> list[str]:
    names = set(staged)
    return [
        rel
        for rel in _listed_output(output_dir)
        if rel not in names and rel != MANIFEST and not _owned(rel, owns, keeps)
    ]


def _remote_manifest(
    output_dir: str, staging_rel: str, staged: Sequence[str], kept: Sequence[str]
) -> bytes:
    """The manifest of a settling journal (``staging_rel``: staged files are read from the
    staging area) or of a settled one (``""``)."""
    locations = {rel: posixpath.join(staging_rel, rel) if staging_rel else rel for rel in staged}
    locations.update({rel: rel for rel in kept})
    sizes = {rel: _size(_join(output_dir, at)) for rel, at in locations.items()}
    return manifest_bytes(locations, sizes)


# --- recovery ---------------------------------------------------------------------------------


def recover(output_dir: str) -> None:
    """Finish a committed change (a journal) and drop uncommitted ones whose owner is gone."""
    if is_remote(output_dir):
        settle(output_dir)
        for staging in _remote_staging_areas(output_dir):
            if not _owner_alive(staging):
                _delete_tree(staging)
        return
    if not os.path.isdir(_join(output_dir, GENERATIONS)):
        return
    _tidy_local(output_dir)


def _remote_staging_areas(output_dir: str) -> list[str]:
    areas = set()
    for rel in _list(output_dir):
        parts = rel.split("/")
        for i, part in enumerate(parts[:-1]):
            if part.startswith(STAGING_PREFIX) or (i > 0 and parts[i - 1] == "staging"):
                areas.add(_join(output_dir, *parts[: i + 1]))
                break
    return sorted(areas)


# --- what a reader sees -----------------------------------------------------------------------


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
            return {rel: _join(output_dir, rel) for rel in _listed_output(output_dir)}
        data = json.loads(_read(_join(output_dir, MANIFEST)) or b"{}")
        rels = sorted(data.get("files", {}))
        return {rel: path for rel, path in zip(rels, paths, strict=True) if rel != MANIFEST}
    current = current_generation(output_dir)
    root = current or output_dir
    return {
        rel: os.path.join(root, rel)
        for rel in _list(root)
        if rel not in (MANIFEST, OWNER) and not rel.startswith(PRIVATE + "/")
    }
