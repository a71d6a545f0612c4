"""What a built DIR holds, for ``c4 forget --verify``: the dataset's files by name, and strays.

The dataset is the set of files readers read, named by the metadata, never by a listing:

- TFDS shards: per split, the ``shardLengths`` count of files ``dataset_info.json`` names through
  its ``filepathTemplate`` (TFDS's own rule), beside ``dataset_info.json`` and ``features.json``
  (and ``LICENSE``);
- Parquet shards and their lineage, ``parquet/<split>/`` and ``lineage/<split>/``
  ``part-NNNNN-of-MMMMM.parquet``: ``num_shards`` of each split in ``stats.json``;
- masked examples: ``masked/config.json``, and per split ``shards`` Parquet files with their
  TFRecord twins, and their lineage table ``lineage/masked/<split>/`` where masking wrote one.

Besides the dataset, an explicit allow-list (``stray_reason``): the top-level files of a build,
``forget/`` (ledger, deletion reports), ``dead_letter/*.jsonl``, ``report/``, ``drops/``, and
``DIR/.c4/`` (the commit protocol's generations, journal, lock, staging), which is never walked.
Any other file a reader can reach is a stray: ``parquet/train/part-00000-of-00002.parquet.old``
is read by ``pq.read_table("DIR/parquet/train")``. A hidden file (a name starting with ``.`` or
``_``, which pyarrow skips) is a stray only if it looks like a dataset file.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from apache_beam.io.filesystems import FileSystems

from pipeline import lineage
from pipeline.forget.store import Build, exists, read_text
from pipeline.io.commit import PRIVATE, STAGING_PREFIX, is_remote
from pipeline.masking import lineage as masked_lineage

TFDS_REQUIRED = ("dataset_info.json", "features.json")
TFDS_OPTIONAL = ("LICENSE",)
TFDS_TEMPLATE = "{DATASET}-{SPLIT}.{FILEFORMAT}-{SHARD_X_OF_Y}"
TOP_FILES = frozenset(
    {"stats.json", "config.json", "manifest.json", "DATA_CARD.md", "report.html", "run.json"}
)
# Directories that are not data: any file may be there, except copies of dataset files.
AUX_DIRS = frozenset({"forget", "report"})
# ``c4 build --record_drops``'s record: its own format, not read here.
FREE_DIRS = frozenset({"drops"})
_DATA_LIKE = re.compile(r"\.(parquet|tfrecord|jsonl)|tfrecord-\d")
_DEAD_LETTER = re.compile(r"dead_letter/[^/]+\.jsonl")


@dataclass(frozen=True)
class DataShard:
    """One data shard: its three files (relative to DIR; '' where the metadata names none)."""

    split: str
    index: int
    tfrecord: str
    parquet: str
    lineage: str


@dataclass(frozen=True)
class MaskedShard:
    """One masked shard: Parquet, its TFRecord twin, its lineage table ('' if none)."""

    split: str
    parquet: str
    tfrecord: str
    table: str


@dataclass
class Inventory:
    """The dataset's files as the metadata names them, the metadata, and what was wrong in it."""

    stats: dict[str, Any] | None = None
    info: dict[str, Any] | None = None
    masked_config: dict[str, Any] | None = None
    data: list[DataShard] = field(default_factory=list)
    masked: list[MaskedShard] = field(default_factory=list)
    required: list[str] = field(default_factory=list)
    optional: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def expected(self) -> set[str]:
        names = {*self.required, *self.optional}
        for shard in self.data:
            names.update(n for n in (shard.tfrecord, shard.parquet, shard.lineage) if n)
        for masked in self.masked:
            names.update(n for n in (masked.parquet, masked.tfrecord, masked.table) if n)
        return names


def take(build: Build, tfds_rel: str) -> Inventory:
    """The dataset of ``build`` (``tfds_rel``: ``c4/<config>/<version>``), from its metadata."""
    inv = Inventory()
    inv.required = ["stats.json", "config.json"] + [f"{tfds_rel}/{n}" for n in TFDS_REQUIRED]
    inv.optional = [f"{tfds_rel}/{n}" for n in TFDS_OPTIONAL]
    inv.stats = _load_json(build, "stats.json", inv.problems)
    inv.info = _load_json(build, f"{tfds_rel}/dataset_info.json", inv.problems)
    tfds = _tfds_shards(inv.info, tfds_rel, inv.problems)
    parquet = _parquet_counts(inv.stats, tfds, inv.problems)
    for split in sorted(set(tfds) | set(parquet)):
        names = tfds.get(split, [])
        count = parquet.get(split, 0)
        for index in range(max(len(names), count)):
            name = lineage_name = ""
            if index < count:
                file = f"part-{index:05d}-of-{count:05d}.parquet"
                name, lineage_name = f"parquet/{split}/{file}", f"lineage/{split}/{file}"
            tfrecord = names[index] if index < len(names) else ""
            inv.data.append(DataShard(split, index, tfrecord, name, lineage_name))
    if exists(build.path("masked/config.json")):
        inv.required.append("masked/config.json")
        inv.masked_config = _load_json(build, "masked/config.json", inv.problems)
        inv.masked = _masked_shards(build, inv.masked_config, inv.problems)
    return inv


def _load_json(build: Build, rel: str, problems: list[str]) -> dict[str, Any] | None:
    path = build.path(rel)
    if not exists(path):
        problems.append(f"{rel}: missing")
        return None
    try:
        data = json.loads(read_text(path))
    except (OSError, ValueError) as exc:
        problems.append(f"{rel}: unreadable ({type(exc).__name__}: {_first_line(exc)})")
        return None
    if not isinstance(data, dict):
        problems.append(f"{rel}: not a JSON object")
        return None
    return data


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [""])[0][:200]


def _tfds_shards(
    info: Mapping[str, Any] | None, tfds_rel: str, problems: list[str]
) -> dict[str, list[str]]:
    """split -> its TFDS shard files (relative to DIR), as TFDS names them."""
    if info is None:
        return {}
    out: dict[str, list[str]] = {}
    dataset, file_format = str(info.get("name", "c4")), str(info.get("fileFormat", "tfrecord"))
    try:
        for split in info.get("splits", []):
            name = str(split["name"])
            count = len(split.get("shardLengths", []))
            template = str(split.get("filepathTemplate") or TFDS_TEMPLATE)
            out[name] = [
                posixpath.normpath(
                    posixpath.join(
                        tfds_rel, _expand(template, dataset, name, file_format, i, count)
                    )
                )
                for i in range(count)
            ]
    except (KeyError, TypeError, AttributeError) as exc:
        problems.append(f"{tfds_rel}/dataset_info.json: malformed splits ({exc!r})")
    return out


def _expand(template: str, dataset: str, split: str, file_format: str, i: int, n: int) -> str:
    """TFDS's ``ShardedFileTemplate`` for the fields c4 uses."""
    values = {
        "{DATASET}": dataset,
        "{SPLIT}": split,
        "{FILEFORMAT}": file_format,
        "{SHARD_X_OF_Y}": f"{i:05d}-of-{n:05d}",
        "{SHARD_INDEX}": f"{i:05d}",
        "{NUM_SHARDS}": f"{n:05d}",
    }
    for key, value in values.items():
        template = template.replace(key, value)
    return template


def _parquet_counts(
    stats: Mapping[str, Any] | None, tfds: Mapping[str, list[str]], problems: list[str]
) -> dict[str, int]:
    """split -> number of Parquet shards: ``stats.json``'s, else as many as TFDS has."""
    if stats is None:
        return {split: len(names) for split, names in tfds.items()}
    try:
        return {str(s): int(t["num_shards"]) for s, t in dict(stats["splits"]).items()}
    except (KeyError, TypeError, ValueError) as exc:
        problems.append(f"stats.json: malformed splits ({exc!r})")
        return {split: len(names) for split, names in tfds.items()}


def _masked_shards(
    build: Build, config: Mapping[str, Any] | None, problems: list[str]
) -> list[MaskedShard]:
    """The masked shards ``masked/config.json`` declares (a split without a count: its files)."""
    table_dir, _ = masked_lineage.layout(build.path("masked"), build.root)
    has_table = bool(masked_lineage.table_files(table_dir))
    table_rel = lineage.relative(build.root, table_dir)
    splits = config.get("splits", {}) if config else {}
    if not isinstance(splits, dict):
        problems.append("masked/config.json: malformed splits")
        splits = {}
    shards = []
    for split in sorted(splits):
        count = splits[split].get("shards") if isinstance(splits[split], dict) else None
        if isinstance(count, int):
            files = [f"part-{i:05d}-of-{count:05d}" for i in range(count)]
        else:
            pattern = build.path(f"masked/parquet/{split}/part-*.parquet")
            files = [
                posixpath.basename(p)[: -len(".parquet")] for p in lineage.match_paths(pattern)
            ]
        for stem in files:
            table = f"{table_rel}/{split}/{stem}.parquet" if has_table else ""
            shards.append(
                MaskedShard(
                    split,
                    f"masked/parquet/{split}/{stem}.parquet",
                    f"masked/tfrecord/{split}/{stem}.tfrecord",
                    table,
                )
            )
    return shards


def reachable(root: str) -> list[str]:
    """Every file a reader reaches through DIR's paths, relative, sorted: links followed (on
    local disks DIR's entries are links into ``.c4/generations/<id>/``), dangling links left
    out, and never ``DIR/.c4/`` nor a ``gs://`` staging area (the commit protocol's own)."""
    if is_remote(root):
        prefix = root.rstrip("/") + "/"
        matched = FileSystems.match([prefix + "**"])[0].metadata_list
        rels = [m.path[len(prefix) :] for m in matched if m.path.startswith(prefix)]
        return sorted(r for r in rels if not _private(r))
    found: list[str] = []
    seen: set[tuple[int, int]] = set()
    for base, dirs, files in os.walk(root, followlinks=True):
        status = os.stat(base)
        if (status.st_dev, status.st_ino) in seen:  # a link loop: walked once
            dirs[:] = []
            continue
        seen.add((status.st_dev, status.st_ino))
        rel_base = os.path.relpath(base, root).replace(os.sep, "/")
        rel_base = "" if rel_base == "." else rel_base + "/"
        dirs[:] = sorted(d for d in dirs if not _private(rel_base + d + "/"))
        for name in files:
            if os.path.isfile(os.path.join(base, name)):
                found.append(rel_base + name)
    return sorted(found)


def _private(rel: str) -> bool:
    parts = rel.split("/")
    return parts[0] == PRIVATE or any(p.startswith(STAGING_PREFIX) for p in parts)


def registered_inside(root: str) -> list[str]:
    """Outputs derived from DIR and registered in it (``forget/derived.json``) that live inside
    DIR, relative (a vocabulary or a masked set put there): theirs, not strays; ``c4 forget
    --verify`` checks a registered set on its own (``pipeline/forget/sets.py``)."""
    from pipeline import derived

    try:
        entries = derived.load(root)
    except (OSError, ValueError):  # a damaged registry is reported where it is read
        return []
    base = root.rstrip("/") + "/"
    # DIR/masked is part of the dataset (its files are named above), not a set of its own.
    inside = (derived.location(root, e) for e in entries if e.path != derived.MASKED)
    return sorted(path[len(base) :].rstrip("/") for path in inside if path.startswith(base))


def stray_reason(rel: str) -> str:
    """Why a reachable file that is not a dataset file must not be there ('' if allowed)."""
    parts = rel.split("/")
    name = parts[-1]
    looks_like_data = bool(_DATA_LIKE.search(name))
    if any(p.startswith((".", "_")) for p in parts):
        return "a hidden copy of a dataset file" if looks_like_data else ""
    top = parts[0]
    if len(parts) == 1:
        return "" if rel in TOP_FILES else "not part of the dataset"
    if top in FREE_DIRS:
        return ""
    if top in AUX_DIRS:
        return "a dataset file outside the dataset" if looks_like_data else ""
    if top == "dead_letter":
        return "" if _DEAD_LETTER.fullmatch(rel) else "not a dead-letter file"
    return "not part of the dataset"
