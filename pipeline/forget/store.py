"""What ``c4 trace`` and ``c4 forget`` read and keep in a built DIR: the build, the ledger, files.

A plain-Python layer over Beam's ``FileSystems`` (local paths and ``gs://`` alike), no pipeline.
``DIR/forget/ledger.json`` remembers every takedown applied to DIR — the URL and domain keys and
doc_ids asked for, and of each removed document its doc_id, the sha256 of its text and its
source record — never a text. It is written *before* anything is removed, so a run that stops
halfway is finished by running it again, and it is what ``--verify`` checks when given no list.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from apache_beam.io.filesystems import FileSystems

from filters.ledger import KEYS as LEDGER_KEYS
from filters.ledger import ledger_text, url_key_sha256
from filters.lineage import Request, RequestError, request_lines, url_key
from filters.spec import UsageError
from pipeline import lineage
from pipeline.write import join, write_atomic

LEDGER = "forget/ledger.json"
_LEDGER_KEYS = LEDGER_KEYS


@dataclass(frozen=True)
class Build:
    """A c4 output directory: where it is and which (config, version) it holds."""

    root: str
    config: str
    version: str
    resolved: Mapping[str, Any]

    @property
    def tfds_dir(self) -> str:
        return join(self.root, "c4", self.config, self.version)

    def path(self, relative: str) -> str:
        return join(self.root, relative)


def exists(path: str) -> bool:
    return bool(FileSystems.exists(path))


def read_text(path: str) -> str:
    return lineage.read_bytes(path).decode("utf-8")


def sha256_file(path: str) -> str:
    return hashlib.sha256(lineage.read_bytes(path)).hexdigest()


def open_build(root: str) -> Build:
    """The build in DIR, or a one-line usage error if DIR is not a c4 output.

    Raises:
        UsageError: no ``config.json``, no TFDS ``dataset_info.json`` or no ``lineage/``.
    """
    from pipeline.io.gcs import connect_anonymously_if_emulated

    connect_anonymously_if_emulated()
    root = root if "://" in root else os.path.abspath(root)
    root = root.rstrip("/") or "/"
    config_path = join(root, "config.json")
    if not exists(config_path):
        raise UsageError(f"DIR: {root} is not a c4 output (no config.json)")
    try:
        data = json.loads(read_text(config_path))
    except ValueError:
        raise UsageError(f"DIR: {root}/config.json is not JSON") from None
    resolved = data.get("config", data) if isinstance(data.get("config"), dict) else data
    config, version = resolved.get("config"), resolved.get("c4_version")
    if not isinstance(config, str) or not isinstance(version, str):
        raise UsageError(f"DIR: {root}/config.json names no c4 config and version")
    build = Build(root, config, version, resolved)
    if not exists(join(build.tfds_dir, "dataset_info.json")):
        raise UsageError(f"DIR: {root} holds no finished c4 build (no dataset_info.json)")
    if not lineage.lineage_files(root):
        raise UsageError(f"DIR: {root} has no lineage/ (built before lineage existed: rebuild it)")
    return build


def read_request_file(path: str | None, flag: str, parse: Any) -> list[str]:
    """The match keys of one request file, every line checked.

    Raises:
        UsageError: unreadable file or a malformed line (file and line named).
    """
    if path is None:
        return []
    try:
        text = read_text(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{flag}: cannot read {path}: {type(exc).__name__}") from None
    keys = []
    for number, line in request_lines(text):
        try:
            keys.append(parse(line))
        except RequestError as exc:
            raise UsageError(f"{flag}: {path} line {number}: {exc}") from None
    if not keys:
        raise UsageError(f"{flag}: {path} lists nothing")
    return keys


@dataclass
class Ledger:
    """Every takedown applied to a DIR, as match keys and digests (see the module docstring)."""

    urls: set[str]
    domains: set[str]
    doc_ids: set[str]
    sha256: set[str]
    records: set[str]  # "source_file:record_offset" of removed documents
    # sha256 of each removed document's URL key: a rebuild blocks its page (filters/ledger.py)
    url_sha256: set[str] = field(default_factory=set)

    @property
    def request(self) -> Request:
        return Request(frozenset(self.urls), frozenset(self.domains), frozenset(self.doc_ids))

    def add(self, request: Request, removed: Iterable[Mapping[str, Any]]) -> None:
        self.urls |= request.urls
        self.domains |= request.domains
        self.doc_ids |= request.doc_ids
        for row in removed:
            self.doc_ids.add(row["doc_id"])
            self.sha256.add(row["sha256"])
            self.records.add(f"{row['source_file']}:{row['record_offset']}")
            self.url_sha256.add(url_key_sha256(row["url"]))

    def to_json(self) -> str:
        return ledger_text({key: getattr(self, key) for key in _LEDGER_KEYS})


def load_ledger(build: Build) -> Ledger:
    path = build.path(LEDGER)
    data = json.loads(read_text(path)) if exists(path) else {}
    sets = [set(data.get(key, ())) for key in _LEDGER_KEYS]
    # URL keys of non-ASCII hosts stored before UTS #46 keys (filters/lineage.py), made current.
    sets[0] = {url_key(u) for u in sets[0]}
    return Ledger(*sets)


def save_ledger(build: Build, ledger: Ledger) -> None:
    write_atomic(build.path(LEDGER), ledger.to_json().encode("utf-8"))


def report_paths(build: Build) -> tuple[str, str]:
    """The next free ``forget/report-NNNN.{json,txt}`` pair."""
    taken = lineage.match_paths(build.path("forget/report-*.json"))
    number = len(taken) + 1
    while exists(build.path(f"forget/report-{number:04d}.json")):
        number += 1
    base = build.path(f"forget/report-{number:04d}")
    return base + ".json", base + ".txt"


def data_shards(build: Build) -> list[tuple[str, str, str]]:
    """(split, TFRecord path, Parquet path) of every data shard, from its lineage file's name."""
    out = []
    for path in lineage.lineage_files(build.root):
        split = posixpath.basename(posixpath.dirname(path))
        name = posixpath.basename(path)
        suffix = lineage.shard_suffix(name)
        tfrecord_name = f"c4-{split}.tfrecord-{suffix}"
        out.append(
            (split, join(build.tfds_dir, tfrecord_name), build.path(f"parquet/{split}/{name}"))
        )
    return out
