"""The commit protocol on object stores (``gs://``): a journal, settled in steps.

Staged files are copied into place after a journal is written (the commit point); the manifest
and TFDS's ``dataset_info.json`` switch first to the staged copies, then to the files in place
(docs/output.md). Settling is idempotent: a command that finds a journal settles it.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Mapping, Sequence

from apache_beam.io.filesystems import FileSystems

from pipeline.io.storage import (
    OWNER,
    PRIVATE,
    delete_tree,
    join_path,
    list_files,
    owned_by,
    read_bytes,
    size_of,
    write_bytes,
)

JOURNAL = f"{PRIVATE}/journal.json"
MANIFEST = "manifest.json"
STAGING_PREFIX = ".c4-staging-"
TFDS_INFO = "dataset_info.json"
TFDS_TEMPLATE = "{DATASET}-{SPLIT}.{FILEFORMAT}-{SHARD_X_OF_Y}"


def manifest_bytes(locations: Mapping[str, str], sizes: Mapping[str, int]) -> bytes:
    """``manifest.json``: every file of the output by its relative path, where it is (``at``,
    relative to DIR: itself once settled, a staging area's copy while a journal settles) and
    its size in bytes."""
    files = {rel: {"at": locations[rel], "bytes": sizes[rel]} for rel in sorted(locations)}
    content = {"format": 1, "files": files}
    return (json.dumps(content, sort_keys=True, indent=1) + "\n").encode("utf-8")


def manifest_files(output_dir: str, prefix: str = "") -> list[str]:
    """Full paths of the committed files of DIR under ``prefix``, as its manifest names them:
    the way to read a ``gs://`` DIR consistently while another command commits to it."""
    data = read_bytes(join_path(output_dir, MANIFEST))
    if data is None:
        raise FileNotFoundError(f"{output_dir} has no {MANIFEST}")
    files = json.loads(data)["files"]
    return [
        join_path(output_dir, files[rel]["at"]) for rel in sorted(files) if rel.startswith(prefix)
    ]


def copy_current(output_dir: str, staging: str) -> None:
    """Copy the whole current output into a staging area."""
    kept = _kept_files(output_dir, (), (), [])
    for start in range(0, len(kept), 100):
        batch = kept[start : start + 100]
        FileSystems.copy(
            [join_path(output_dir, r) for r in batch],
            [join_path(staging, r) for r in batch],
        )


def publish(
    output_dir: str,
    staging: str,
    owns: Sequence[str],
    keeps: Sequence[str],
    tfds_rel: str | None,
) -> None:
    """Write the journal of a staged change (the commit point), then settle it."""
    staged = [
        rel for rel in list_files(staging) if rel not in (OWNER, MANIFEST) and ".tmp-" not in rel
    ]
    journal = {
        "staging": posixpath.relpath(staging, output_dir),
        "files": staged,
        "owns": list(owns),
        "keeps": list(keeps),
        "tfds_rel": tfds_rel,
    }
    write_bytes(join_path(output_dir, JOURNAL), json.dumps(journal, sort_keys=True).encode())
    settle(output_dir)


def settle(output_dir: str) -> None:
    """Carry out DIR's journal (idempotent: a settle that was killed is run again)."""
    data = read_bytes(join_path(output_dir, JOURNAL))
    if data is None:
        return
    journal = json.loads(data)
    staging = join_path(output_dir, journal["staging"])
    staged: list[str] = journal["files"]
    owns: list[str] = journal["owns"]
    keeps: list[str] = journal.get("keeps", [])
    tfds_rel: str | None = journal["tfds_rel"]
    info_rel = posixpath.join(tfds_rel, TFDS_INFO) if tfds_rel else None
    # The project's readers switch first (the manifest names the staged copies), then TFDS
    # (its info names the staged shards through a file template): each sees old or new whole.
    kept = _kept_files(output_dir, owns, keeps, staged)
    write_bytes(
        join_path(output_dir, MANIFEST),
        _remote_manifest(output_dir, journal["staging"], staged, kept),
    )
    if info_rel in staged:
        prefix = posixpath.relpath(
            join_path(staging, tfds_rel or ""), join_path(output_dir, tfds_rel or "")
        )
        write_bytes(
            join_path(output_dir, info_rel), _templated_info(join_path(staging, info_rel), prefix)
        )
    copies = [rel for rel in staged if rel != info_rel]
    for start in range(0, len(copies), 100):
        batch = copies[start : start + 100]
        FileSystems.copy(
            [join_path(staging, r) for r in batch], [join_path(output_dir, r) for r in batch]
        )
    stale = [
        join_path(output_dir, rel)
        for rel in listed_output(output_dir)
        if owned_by(rel, owns, keeps) and rel not in staged and rel != MANIFEST
    ]
    for start in range(0, len(stale), 100):
        FileSystems.delete(stale[start : start + 100])
    if info_rel in staged:
        FileSystems.copy([join_path(staging, info_rel)], [join_path(output_dir, info_rel)])
    write_bytes(join_path(output_dir, MANIFEST), _remote_manifest(output_dir, "", staged, kept))
    delete_tree(staging)
    FileSystems.delete([join_path(output_dir, JOURNAL)])


def _templated_info(path: str, prefix: str) -> bytes:
    data = read_bytes(path)
    if data is None:
        raise FileNotFoundError(path)
    info = json.loads(data)
    for split in info.get("splits", []):
        split["filepathTemplate"] = posixpath.join(prefix, TFDS_TEMPLATE)
    return (json.dumps(info, indent=2, sort_keys=True) + "\n").encode("utf-8")


def listed_output(output_dir: str) -> list[str]:
    """DIR's files, relative, without the private area and staging areas."""
    return [
        rel
        for rel in list_files(output_dir)
        if not rel.startswith(PRIVATE + "/") and f"/{STAGING_PREFIX}" not in "/" + rel
    ]


def _kept_files(
    output_dir: str, owns: Sequence[str], keeps: Sequence[str], staged: Sequence[str]
) -> list[str]:
    names = set(staged)
    return [
        rel
        for rel in listed_output(output_dir)
        if rel not in names and rel != MANIFEST and not owned_by(rel, owns, keeps)
    ]


def _remote_manifest(
    output_dir: str, staging_rel: str, staged: Sequence[str], kept: Sequence[str]
) -> bytes:
    """The manifest of a settling journal (``staging_rel``: staged files are read from the
    staging area) or of a settled one (``""``)."""
    locations = {rel: posixpath.join(staging_rel, rel) if staging_rel else rel for rel in staged}
    locations.update({rel: rel for rel in kept})
    sizes = {rel: size_of(join_path(output_dir, at)) for rel, at in locations.items()}
    return manifest_bytes(locations, sizes)


def staging_areas(output_dir: str) -> list[str]:
    areas = set()
    for rel in list_files(output_dir):
        parts = rel.split("/")
        for i, part in enumerate(parts[:-1]):
            if part.startswith(STAGING_PREFIX) or (i > 0 and parts[i - 1] == "staging"):
                areas.add(join_path(output_dir, *parts[: i + 1]))
                break
    return sorted(areas)
