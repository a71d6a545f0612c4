"""The commit protocol on local disks: generations switched by one rename.

DIR's top-level entries are links ``DIR/<name> -> .c4/current/<name>``; ``.c4/current`` links to
the current generation ``.c4/generations/<id>/``. ``publish`` makes a staged generation current
with one ``os.replace`` of ``.c4/current`` (docs/output.md).
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import shutil
import uuid
from collections.abc import Callable

from pipeline.io import faults
from pipeline.io.journal import MANIFEST, manifest_bytes
from pipeline.io.storage import (
    OWNER,
    PRIVATE,
    join_path,
    list_files,
    owner_alive,
    size_of,
    write_bytes,
)

GENERATIONS = f"{PRIVATE}/generations"
CURRENT = f"{PRIVATE}/current"


def current_generation(output_dir: str) -> str | None:
    """The directory of DIR's current generation, ``None`` when it has none (yet)."""
    link = join_path(output_dir, CURRENT)
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


def retire_legacy(output_dir: str) -> None:
    """Before a switch: move real entries aside (into ``.c4/retired``, deleted after it), and
    drop a real ``.c4/current`` (a copy made following links: its content is the entries').

    Each entry is absent from its move to the switch: not atomic, once per such DIR.
    """
    current = join_path(output_dir, CURRENT)
    if os.path.isdir(current) and not os.path.islink(current):
        shutil.rmtree(current)
    retired = join_path(output_dir, PRIVATE, "retired")
    for name in _legacy_entries(output_dir):
        os.makedirs(retired, exist_ok=True)
        os.replace(os.path.join(output_dir, name), os.path.join(retired, name))


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


def carry(output_dir: str, generation: str, replaced: Callable[[str], bool]) -> None:
    """Hard-link the current generation's files into the new ``generation``, but those the
    change replaces; in a DIR without generations, its entries' files."""
    current = current_generation(output_dir)
    if current is None:
        current = output_dir
        names = set(_legacy_entries(current))
        rels = [rel for rel in list_files(current) if rel.split("/", 1)[0] in names]
    else:
        rels = list_files(current)
    for rel in rels:
        if rel in (OWNER, MANIFEST) or replaced(rel):
            continue
        source = os.path.join(current, rel)
        target = os.path.join(generation, rel)
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
    link = join_path(output_dir, CURRENT)
    tmp = f"{link}.tmp-{uuid.uuid4().hex}"
    os.symlink(posixpath.join("generations", posixpath.basename(generation)), tmp)
    faults.file_write(link)
    os.replace(tmp, link)


def publish(output_dir: str, generation: str) -> None:
    """Make ``generation`` current: its manifest, DIR's links, the switch, then tidying."""
    with contextlib.suppress(FileNotFoundError):
        os.remove(join_path(generation, OWNER))
    files = [rel for rel in list_files(generation) if rel != MANIFEST and ".tmp-" not in rel]
    sizes = {rel: size_of(join_path(generation, rel)) for rel in files}
    write_bytes(join_path(generation, MANIFEST), manifest_bytes({rel: rel for rel in files}, sizes))
    names = sorted({rel.split("/", 1)[0] for rel in [*files, MANIFEST]})
    retire_legacy(output_dir)
    for name in names:  # a new entry's link dangles (reads as absent) until the switch
        _link_entry(output_dir, name)
    _switch(output_dir, generation)
    tidy(output_dir)


def tidy(output_dir: str) -> None:
    """After a switch: delete other generations and the links the new one does not fill."""
    current = current_generation(output_dir)
    root = join_path(output_dir, GENERATIONS)
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name)
        if path != current and not owner_alive(path):
            shutil.rmtree(path, ignore_errors=True)
    for name in sorted(os.listdir(output_dir)):
        link = os.path.join(output_dir, name)
        ours = os.path.islink(link) and os.readlink(link).startswith(CURRENT + "/")
        if ours and not os.path.lexists(os.path.join(current or root, name)):
            os.remove(link)
    retired = join_path(output_dir, PRIVATE, "retired")
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
