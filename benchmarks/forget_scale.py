"""``c4 forget`` at scale (issue 17.7): forget 1 % of a build's domains, prove it independently.

On ``--mb`` of synthetic-from-real WET (``corpus.py``, cut into ``--files`` files), built into
``--num_shards`` shards, with two masked sets (``c4 mask DIR``: ``DIR/masked``, seed 0; ``c4 mask
DIR --output MDIR``, seed 1, registered in DIR) and a vocabulary (``c4 vocab train``, registered):

1. ``c4 forget DIR --domains F``: 1 % of the build's distinct domains (hosts without a leading
   ``www.``), the first by sha256 of the name; wall and CPU seconds (GNU ``/usr/bin/time``: the
   process and every child it waited for), against a rebuild of the same input into a fresh DIR
   with DIR's ledger (``--forget_ledger``): ``c4 build`` alone, and build + both masks + vocab.
2. Every file of DIR and MDIR, sha256 before and after: rewritten, byte-identical (and still the
   same inode: a hard link, not a copy), added, removed, per kind of file.
3. An independent scan (this module's own readers, not the product's: TFRecord framing and CRCs
   read here, examples parsed by TensorFlow's ``tf.train.Example``, Parquet by pyarrow, hosts
   compared by docs/forget.md's rule written again with ``idna``) of every file a reader
   reaches in DIR and MDIR: no document of a forgotten domain, no doc_id of a forgotten
   document, no masked example or masked-lineage row holding one; ``stats.json``,
   ``dataset_info.json``, lineage (its ``domain`` column: this module's host key) and every
   masked ``config.json`` agree with what the files hold; the deletion report names the same
   documents and collateral; every other document and masked example is as it was, byte for
   byte and in order; a forget matching nothing changes nothing.
4. The rebuild against the post-forget DIR, document by document (doc_id): every difference is
   put in a category, and each must be one docs/forget.md allows, "Dedup interplay": a line line
   dedup had credited to a page of a forgotten domain (found in the WET input: a page of such a
   domain holds the line and its URL's md5 is smaller), given back by the rebuild; a page that
   lost such lines and was dropped (too few sentences), back in the rebuild; a page whose
   given-back lines change a later rule's verdict (language, bad words), dropped by the rebuild.
   Anything else is ``unexplained``, and must be 0.

``tests/pipeline/forget/test_forget_scale.py`` runs ``run`` with asserts (``C4_FORGET_SCALE_MB``
sets its size). Output: ``results/forget_scale.json`` and ``results/forget_scale.md``.

    python benchmarks/forget_scale.py [--mb 60] [--files 4] [--num_shards 32] [--share 0.01]
"""

from __future__ import annotations

import argparse
import difflib
import gzip
import hashlib
import json
import os
import re
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import idna
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.corpus import split_corpus, write_corpus  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
TIME = "/usr/bin/time"  # GNU time: the rusage of the command and the children it waited for
C4 = [sys.executable, "-m", "pipeline.cli"]
ENV = {**os.environ, "C4_PROGRESS_INTERVAL": "0", "TF_CPP_MIN_LOG_LEVEL": "3"}
VOCAB_SIZE = 4000

# --- running c4 --------------------------------------------------------------------------------


def c4(*argv: str, expect: int = 0) -> dict[str, Any]:
    """One ``c4`` command as a fresh process: wall and CPU seconds (user + sys, children
    included), peak RSS, exit code and output. Fails unless it exits ``expect``."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as stats:
        cmd = [TIME, "-f", "%e %U %S %M", "-o", stats.name, *C4, *argv]
        proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True, cwd=REPO)
        wall, user, system, max_kb = stats.read().split()[-4:]
    if proc.returncode != expect:
        raise RuntimeError(
            f"c4 {' '.join(argv)}: exit {proc.returncode}, not {expect}\n"
            f"{proc.stdout[-2000:]}{proc.stderr[-3000:]}"
        )
    return {
        "argv": ["c4", *argv],
        "wall_seconds": float(wall),
        "cpu_seconds": round(float(user) + float(system), 3),
        "peak_rss_MB": round(int(max_kb) / 1024, 1),
        "exit": proc.returncode,
        "stdout": proc.stdout,
    }


def corpus(work: Path, mb: float, files: int, seed: int = 0) -> list[Path]:
    """``mb`` MB of WET (``corpus.py``, seed ``seed``) cut into ``files`` files under ``work``."""
    parts_dir = work / f"wet-{mb:g}mb-seed{seed}-{files}"
    parts = sorted(parts_dir.glob("*.warc.wet.gz"))
    if len(parts) == files:
        return parts
    whole = work / f"corpus-{mb:g}mb-seed{seed}.warc.wet.gz"
    if not whole.is_file():
        write_corpus(whole, mb, seed)
    return split_corpus(whole, files, parts_dir)


def wet_megabytes(paths: Iterable[Path]) -> float:
    total = 0
    for path in paths:
        with gzip.open(path, "rb") as f:
            for block in iter(lambda f=f: f.read(1 << 20), b""):
                total += len(block)
    return total / 1e6


# --- hosts, as docs/forget.md "Matching" defines them (written again, not filters/lineage) -------


def _ascii_lower(text: str) -> str:
    return text.translate({c: c + 32 for c in range(ord("A"), ord("Z") + 1)})


def host_key(host: str) -> str:
    """UTS #46 non-transitional mapping with the ``idna`` package's tables, then each non-ASCII
    label as ``xn--`` punycode; an ASCII host only lowercased; a host UTS #46 refuses keeps its
    own form, A-Z lowercased. A trailing dot names the same host."""
    host = host.rstrip(".")
    if host.isascii():
        return host.lower()
    try:
        mapped = idna.uts46_remap(host, std3_rules=False, transitional=False)
    except idna.IDNAError:
        return _ascii_lower(host)
    return ".".join(
        label if label.isascii() else "xn--" + label.encode("punycode").decode("ascii")
        for label in mapped.split(".")
    )


def url_host(url: str) -> str:
    """The key of ``url``'s host: the authority without userinfo and port, as written (not
    ``urlsplit().hostname``, whose ``str.lower`` is not UTS #46's case folding)."""
    authority = urlsplit(url.strip()).netloc.rpartition("@")[2]
    if authority.startswith("["):
        host = authority[: authority.find("]") + 1]
    else:
        host = authority.partition(":")[0]
    return host_key(host)


def in_domains(host: str, domains: frozenset[str]) -> bool:
    """A domain matches itself and every subdomain (``urlm.com``: ``au.urlm.com``, never
    ``au-urlm.com``)."""
    labels = host.split(".")
    return any(".".join(labels[i:]) in domains for i in range(len(labels)))


def pick_domains(urls: Iterable[str], share: float) -> tuple[list[str], int]:
    """``share`` of the distinct domains of ``urls`` (hosts, a leading ``www.`` removed), the
    first by sha256 of the name, at least one; and how many there are."""
    domains = {h[4:] if h.startswith("www.") else h for h in map(url_host, urls)}
    domains.discard("")
    ranked = sorted(domains, key=lambda d: hashlib.sha256(d.encode()).hexdigest())
    return sorted(ranked[: max(1, round(share * len(ranked)))]), len(ranked)


# --- reading what a reader reads ---------------------------------------------------------------


def reader_files(root: Path) -> list[str]:
    """Every file a reader reaches under ``root``: links followed, the commit protocol's private
    ``.c4/`` not entered (its generations are what the links point into)."""
    found = []
    for base, dirs, names in os.walk(root, followlinks=True):
        rel = Path(base).relative_to(root)
        if rel == Path("."):
            dirs[:] = [d for d in dirs if d != ".c4"]
        found.extend((rel / n).as_posix() for n in names)
    return sorted(found)


def _masked_crc(data: bytes) -> int:
    import google_crc32c

    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tfrecords(path: Path) -> Iterator[bytes]:
    """The records of a TFRecord file, framing and both CRCs checked (record_writer.h)."""
    data = path.read_bytes()
    pos = 0
    while pos < len(data):
        if len(data) - pos < 12:
            raise ValueError(f"{path}: truncated header at byte {pos}")
        head = data[pos : pos + 8]
        (length,) = struct.unpack("<Q", head)
        (head_crc,) = struct.unpack("<I", data[pos + 8 : pos + 12])
        if head_crc != _masked_crc(head):
            raise ValueError(f"{path}: length CRC fails at byte {pos}")
        end = pos + 12 + length
        if end + 4 > len(data):
            raise ValueError(f"{path}: truncated record at byte {pos}")
        record = data[pos + 12 : end]
        if struct.unpack("<I", data[end : end + 4])[0] != _masked_crc(record):
            raise ValueError(f"{path}: data CRC fails at byte {pos}")
        yield record
        pos = end + 4


def _example(record: bytes) -> dict[str, Any]:
    import tensorflow as tf

    features = tf.train.Example.FromString(record).features.feature
    out: dict[str, Any] = {}
    for name, feature in features.items():
        kind = feature.WhichOneof("kind")
        values = list(getattr(feature, kind).value) if kind else []
        out[name] = values[0] if kind == "bytes_list" and len(values) == 1 else values
    return out


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class Doc:
    doc_id: str
    url: str
    text: str
    split: str


@dataclass
class Scan:
    """What a scan of one output found."""

    files: Counter[str] = field(default_factory=Counter)  # kind -> files read
    documents: dict[str, Doc] = field(default_factory=dict)  # doc_id -> document (Parquet)
    tfrecord_examples: int = 0
    # masked set ("masked/" or "" for MDIR) -> its examples in order: (doc_ids, inputs, targets)
    masked: dict[str, list[tuple[tuple[str, ...], tuple[int, ...], tuple[int, ...]]]] = field(
        default_factory=dict
    )
    remains: list[str] = field(default_factory=list)
    damaged: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "files_read": dict(sorted(self.files.items())),
            "documents": len(self.documents),
            "tfrecord_examples": self.tfrecord_examples,
            "masked_examples": {k or ".": len(v) for k, v in sorted(self.masked.items())},
            "remains": len(self.remains),
            "damaged": len(self.damaged),
            "findings": (self.remains + self.damaged)[:20],
        }


_DATA_TFRECORD = re.compile(r"(?:^|/)c4-(?P<split>[^/.]+)\.tfrecord-(?P<shard>\d{5})-of-\d{5}$")
_SHARD = re.compile(r"part-(\d{5})-of-\d{5}\.(?:parquet|tfrecord)$")


def scan(root: Path, domains: frozenset[str], doc_ids: frozenset[str]) -> Scan:
    """Read every TFRecord and Parquet file a reader reaches under ``root`` (a built DIR or a
    masked set): anything of ``domains`` or ``doc_ids`` left is a remain; every count the
    metadata states, every lineage row and every TFRecord twin is checked against the data."""
    from pipeline.io.commit import output_files

    found = Scan()
    files = reader_files(root)
    listed = sorted([*output_files(str(root)), "manifest.json"])
    if files != listed:
        found.damaged.append(f"{root}: files a reader reaches {files} != committed {listed}")

    def forgotten(where: str, doc_id: str | None, url: str | None) -> None:
        if doc_id is not None and doc_id in doc_ids:
            found.remains.append(f"{where}: forgotten doc_id {doc_id}")
        if url and in_domains(url_host(url), domains):
            found.remains.append(f"{where}: {url} is of a forgotten domain")

    docs_tf: dict[str, list[tuple[str, str, int, int]]] = defaultdict(list)  # split -> per record
    tf_by_file: dict[str, list[tuple[int, dict[str, Any]]]] = {}  # rel -> (size, example)
    masked_rows: dict[str, list[dict[str, Any]]] = {}  # parquet rel -> masked example rows
    lineage_rows: list[tuple[str, dict[str, Any]]] = []
    masked_lineage: list[tuple[str, dict[str, Any]]] = []
    parquet_docs: dict[str, list[dict[str, Any]]] = {}  # rel -> document rows
    for rel in files:
        path = root / rel
        data_tf = _DATA_TFRECORD.search(rel)
        if data_tf or rel.endswith(".tfrecord"):
            try:
                examples = [(len(r), _example(r)) for r in tfrecords(path)]
            except Exception as exc:
                found.damaged.append(f"{rel}: unreadable TFRecord: {exc}")
                continue
            found.files["tfrecord"] += 1
            tf_by_file[rel] = examples
            for i, (size, ex) in enumerate(examples):
                url = ex["url"].decode() if "url" in ex else None
                forgotten(f"{rel}#{i}", None, url)
                if "text" in ex:
                    found.tfrecord_examples += 1
                    split = data_tf.group("split") if data_tf else "?"
                    text = ex["text"].decode()
                    docs_tf[split].append((url or "", _sha(text), size, len(ex["text"])))
        elif rel.endswith(".parquet"):
            try:
                table = pq.read_table(path)
            except Exception as exc:
                found.damaged.append(f"{rel}: unreadable Parquet: {exc}")
                continue
            found.files["parquet"] += 1
            rows = table.to_pylist()
            names = set(table.column_names)
            for i, row in enumerate(rows):
                forgotten(f"{rel}#{i}", row.get("doc_id"), row.get("url"))
                for doc_id in row.get("doc_ids") or ():
                    forgotten(f"{rel}#{i} (masked example)", doc_id, None)
            if {"doc_id", "url", "text"} <= names:
                parquet_docs[rel] = rows
            elif "tfrecord_index" in names:
                lineage_rows.extend((rel, r) for r in rows)
            elif "doc_ids" in names:
                masked_rows[rel] = rows
            elif "masked" in names:
                masked_lineage.extend((rel, r) for r in rows)
            else:
                found.damaged.append(f"{rel}: a Parquet file of no known kind: {sorted(names)}")
        else:
            found.files["other"] += 1

    if (root / "stats.json").is_file():
        _check_build(root, found, docs_tf, parquet_docs, lineage_rows, tf_by_file)
    for config in [root / "config.json", root / "masked" / "config.json"]:
        if config.is_file() and "packing" in json.loads(config.read_text()):
            prefix = config.parent.relative_to(root).as_posix()
            prefix = "" if prefix == "." else prefix + "/"
            _check_masked(root, prefix, found, tf_by_file, masked_rows, masked_lineage)
    return found


def _check_build(
    root: Path,
    found: Scan,
    docs_tf: dict[str, list[tuple[str, str, int, int]]],
    parquet_docs: dict[str, list[dict[str, Any]]],
    lineage_rows: list[tuple[str, dict[str, Any]]],
    tf_by_file: dict[str, list[tuple[int, dict[str, Any]]]],
) -> None:
    stats = json.loads((root / "stats.json").read_text())
    (info_path,) = [root / r for r in reader_files(root) if r.endswith("/dataset_info.json")]
    info = {s["name"]: s for s in json.loads(info_path.read_text())["splits"]}
    by_rel: dict[tuple[str, int], dict[str, Any]] = {}
    per_split_parquet: dict[str, dict[int, int]] = defaultdict(dict)
    for rel, rows in parquet_docs.items():
        split = rel.split("/")[-2]
        match = _SHARD.search(rel)
        per_split_parquet[split][int(match.group(1)) if match else -1] = len(rows)
        for i, row in enumerate(rows):
            by_rel[(rel, i)] = row
            if row["doc_id"] in found.documents:
                found.damaged.append(f"{rel}#{i}: doc_id {row['doc_id']} twice")
            found.documents[row["doc_id"]] = Doc(row["doc_id"], row["url"], row["text"], split)
    kept = 0
    for split, figures in stats["splits"].items():
        tf_docs = docs_tf.get(split, [])
        pq_docs = [d for d in found.documents.values() if d.split == split]
        tf_lengths = [
            len(v)
            for k, v in sorted(tf_by_file.items())
            if (m := _DATA_TFRECORD.search(k)) and m.group("split") == split
        ]
        pq_lengths = [n for _, n in sorted(per_split_parquet.get(split, {}).items())]
        want = {
            "documents": figures["documents"],
            "shard_lengths": figures["shard_lengths"],
            "num_bytes": figures["num_bytes"],
            "text_bytes": figures["text_bytes"],
            "dataset_info shardLengths": [int(n) for n in info[split].get("shardLengths", [])],
            "dataset_info numBytes": int(info[split].get("numBytes", 0)),
        }
        got = {
            "documents": len(pq_docs),
            "shard_lengths": pq_lengths,
            "num_bytes": sum(r[2] for r in tf_docs),
            "text_bytes": sum(r[3] for r in tf_docs),
            "dataset_info shardLengths": tf_lengths,
            "dataset_info numBytes": sum(r[2] for r in tf_docs),
        }
        if len(tf_docs) != len(pq_docs) or tf_lengths != pq_lengths:
            found.damaged.append(f"{split}: TFRecord {tf_lengths} != Parquet {pq_lengths}")
        for name, value in want.items():
            if got[name] != value:
                found.damaged.append(f"{split}: {name} is {value}, the files give {got[name]}")
        twins = Counter((url, digest) for url, digest, _, _ in tf_docs)
        if twins != Counter((d.url, _sha(d.text)) for d in pq_docs):
            found.damaged.append(f"{split}: TFRecord and Parquet hold other documents")
        kept += len(pq_docs)
    if stats["reconciliation"]["kept"] != kept:
        found.damaged.append(f"stats.json kept {stats['reconciliation']['kept']} != {kept}")
    seen = set()
    for rel, row in lineage_rows:
        doc = found.documents.get(row["doc_id"])
        pq_row = by_rel.get((row["parquet_file"], row["parquet_row"]))
        tf_list = tf_by_file.get(row["tfrecord_file"], [])
        size, ex = (
            tf_list[row["tfrecord_index"]] if row["tfrecord_index"] < len(tf_list) else (0, None)
        )
        ok = (
            doc is not None
            and pq_row is not None
            and pq_row["doc_id"] == row["doc_id"]
            and row["url"] == doc.url
            and row["sha256"] == _sha(doc.text)
            and row["split"] == doc.split
            and ex is not None
            and ex["url"].decode() == doc.url
            and row["text_bytes"] == len(doc.text.encode())
            and row["example_bytes"] == size
            and row["domain"] == url_host(doc.url)  # the product's host key is ours
        )
        if not ok:
            found.damaged.append(f"{rel}: lineage row of {row['doc_id']} is not the data's")
        seen.add(row["doc_id"])
    if seen != set(found.documents):
        found.damaged.append(
            f"lineage lists {len(seen)} documents, the data {len(found.documents)}"
        )


def _check_masked(
    root: Path,
    prefix: str,
    found: Scan,
    tf_by_file: dict[str, list[tuple[int, dict[str, Any]]]],
    masked_rows: dict[str, list[dict[str, Any]]],
    masked_lineage: list[tuple[str, dict[str, Any]]],
) -> None:
    """The masked set under ``root/prefix``: counts, TFRecord twins, lineage."""
    config = json.loads((root / prefix / "config.json").read_text())
    lineage_dir = "lineage/masked/" if prefix == "masked/" else "lineage/"
    holding: dict[str, set[tuple[str, int, str, int]]] = defaultdict(set)
    for split, figures in config["splits"].items():
        parquet = sorted(r for r in masked_rows if r.startswith(f"{prefix}parquet/{split}/"))
        rows = [row for rel in parquet for row in masked_rows[rel]]
        for rel in parquet:
            twin = rel.replace(f"{prefix}parquet/", f"{prefix}tfrecord/", 1)
            twin = twin.removesuffix(".parquet") + ".tfrecord"
            examples = tf_by_file.get(twin)
            pq_rows = masked_rows[rel]
            if examples is None or len(examples) != len(pq_rows):
                found.damaged.append(f"{twin}: not the twin of {rel}")
                continue
            for i, ((_, ex), row) in enumerate(zip(examples, pq_rows, strict=True)):
                for name in ("inputs", "targets"):
                    n = len(row[name])
                    if ex[name][:n] != row[name] or any(ex[name][n:]):
                        found.damaged.append(f"{twin}#{i}: {name} differ from {rel}#{i}")
                for doc_id in row["doc_ids"]:
                    holding[doc_id].add((rel, i, twin, i))
        got = {
            "shards": len(parquet),
            "examples": len(rows),
            "documents": len({d for r in rows for d in r["doc_ids"]}),
            "inputs_tokens": sum(len(r["inputs"]) for r in rows),
            "targets_tokens": sum(len(r["targets"]) for r in rows),
        }
        for name, value in got.items():
            if figures[name] != value:
                found.damaged.append(
                    f"{prefix}config.json {split} {name}: {figures[name]} != {value}"
                )
        found.masked.setdefault(prefix, []).extend(
            (tuple(r["doc_ids"]), tuple(r["inputs"]), tuple(r["targets"])) for r in rows
        )
    # Locations are relative to the root: DIR for DIR/masked, MDIR for a set of its own.
    listed: dict[str, set[tuple[str, int, str, int]]] = {}
    for rel, row in masked_lineage:
        if rel.startswith(lineage_dir):
            if row["doc_id"] in listed:
                found.damaged.append(f"{rel}: two masked-lineage rows of {row['doc_id']}")
            listed[row["doc_id"]] = {
                (m["parquet_file"], m["parquet_row"], m["tfrecord_file"], m["tfrecord_index"])
                for m in row["masked"]
            }
    if listed != holding:
        wrong = sorted(set(listed) ^ set(holding)) or sorted(
            d for d in listed if listed[d] != holding.get(d)
        )
        found.damaged.append(f"{prefix}masked lineage is not the data's: {wrong[:3]}")


# --- files before and after --------------------------------------------------------------------


def snapshot(root: Path) -> dict[str, tuple[str, int, int]]:
    """rel -> (sha256, inode, size) of every committed file of ``root``."""
    from pipeline.io.commit import output_files

    out = {}
    for rel, where in output_files(str(root)).items():
        st = os.stat(where)
        out[rel] = (hashlib.sha256(Path(where).read_bytes()).hexdigest(), st.st_ino, st.st_size)
    return out


def kind_of(rel: str) -> str:
    if rel.startswith("forget/"):
        return "forget/ (ledger, reports, registry)"
    if rel.startswith(("masked/", "lineage/masked/")):
        return "masked set (DIR/masked)"
    if _DATA_TFRECORD.search(rel) or rel.startswith("tfrecord/"):
        return "TFRecord shards"
    if rel.startswith("lineage/"):
        return "lineage"
    if rel.startswith("parquet/"):
        return "Parquet shards"
    return "metadata"


def changes(
    before: dict[str, tuple[str, int, int]], after: dict[str, tuple[str, int, int]]
) -> dict[str, dict[str, int]]:
    """Per kind of file: rewritten, byte-identical (and of those, the same inode), added,
    removed; with bytes."""
    out: dict[str, Counter[str]] = defaultdict(Counter)
    for rel in sorted(set(before) | set(after)):
        row = out[kind_of(rel)]
        if rel not in after:
            row["removed"] += 1
        elif rel not in before:
            row["added"] += 1
        elif before[rel][0] != after[rel][0]:
            row["rewritten"] += 1
            row["rewritten_bytes"] += after[rel][2]
        else:
            row["identical"] += 1
            row["identical_bytes"] += after[rel][2]
            row["identical_same_inode"] += before[rel][1] == after[rel][1]
    total: Counter[str] = Counter()
    for row in out.values():
        total.update(row)
    return {**{k: dict(v) for k, v in sorted(out.items())}, "all": dict(total)}


# --- the rebuild against the post-forget DIR ---------------------------------------------------


@dataclass(frozen=True)
class Page:
    url: str
    lines: tuple[str, ...]


def wet_pages(paths: Iterable[Path]) -> dict[str, Page]:
    """doc_id (the WARC-Record-ID's UUID) -> URL and lines (split as clean_page splits, stripped)
    of every conversion record of the WET input."""
    pages = {}
    for path in paths:
        with gzip.open(path, "rb") as f:
            data = f.read()
        for chunk in re.split(rb"(?:^|\r?\n)(?=WARC/1\.0\r\n)", data):
            head, sep, body = chunk.partition(b"\r\n\r\n")
            if not sep:
                continue
            headers = dict(
                (k.strip().lower(), v.strip())
                for k, _, v in (ln.partition(":") for ln in head.decode().split("\r\n")[1:])
            )
            if headers.get("warc-type") != "conversion" or "warc-target-uri" not in headers:
                continue
            length = int(headers["content-length"])
            text = body[:length].decode("utf-8", "replace")
            doc_id = headers["warc-record-id"].strip("<>").removeprefix("urn:uuid:")
            pages[doc_id] = Page(
                headers["warc-target-uri"], tuple(s.strip() for s in text.splitlines())
            )
    return pages


def _md5(url: str) -> str:
    return hashlib.md5(url.encode("utf-8")).hexdigest()


def compare_rebuild(
    after: dict[str, Doc],
    rebuild: dict[str, Doc],
    forgotten_docs: dict[str, Doc],
    pages: dict[str, Page],
    domains: frozenset[str],
) -> dict[str, Any]:
    """Every difference between the rebuild and the post-forget DIR, counted by category.

    A line is *credited to a forgotten page* when a page of a forgotten domain in the WET input
    holds it and that page's URL has a smaller md5 than the document's (3.1.0's line dedup keeps
    a line in the page with the smallest md5 of its URL); subdivided by whether that page was a
    document ``c4 forget`` removed or a page a later rule had dropped (a domain in the ledger
    blocks it at ingest all the same)."""
    owners: dict[str, list[tuple[str, bool]]] = defaultdict(list)  # line -> (md5, was a doc)
    for doc_id, page in pages.items():
        if in_domains(url_host(page.url), domains):
            for line in set(page.lines):
                if line:
                    owners[line].append((_md5(page.url), doc_id in forgotten_docs))

    def credited(line: str, url: str) -> str | None:
        mine = _md5(url)
        smaller = [was_doc for md5, was_doc in owners.get(line, ()) if md5 < mine]
        if not smaller:
            return None
        return "a forgotten document" if any(smaller) else "a page of the domain a rule had dropped"

    counts: Counter[str] = Counter()
    examples: dict[str, list[str]] = defaultdict(list)

    def note(category: str, doc_id: str, n: int = 1) -> None:
        counts[category] += n
        if len(examples[category]) < 5:
            examples[category].append(doc_id)

    for doc_id in sorted(set(after) | set(rebuild)):
        a, r = after.get(doc_id), rebuild.get(doc_id)
        if a is not None and r is not None:
            if (a.url, a.split) != (r.url, r.split):
                note("unexplained: url or split differs", doc_id)
            if a.text == r.text:
                counts["documents identical"] += 1
                continue
            note("documents with lines given back", doc_id)
            ops = difflib.SequenceMatcher(None, a.text.split("\n"), r.text.split("\n"), False)
            for tag, i1, i2, j1, j2 in ops.get_opcodes():
                if tag == "equal":
                    continue
                if tag != "insert":
                    note("unexplained: lines lost or changed in the rebuild", doc_id, i2 - i1)
                for line in r.text.split("\n")[j1:j2]:
                    why = credited(line, r.url)
                    note(
                        f"lines given back, credited to {why}" if why else "unexplained: line",
                        doc_id,
                    )
        elif r is not None:
            why = [credited(line, r.url) for line in r.text.split("\n")]
            if any(why):
                note("documents back in the rebuild (had lost lines to a forgotten page)", doc_id)
            else:
                note("unexplained: document only in the rebuild", doc_id)
        else:
            assert a is not None
            page = pages.get(doc_id)
            if page and any(credited(line, a.url) for line in page.lines if line):
                note("documents dropped by the rebuild (lines given back, then a rule)", doc_id)
            else:
                note("unexplained: document only after the forget", doc_id)
    unexplained = sum(n for k, n in counts.items() if k.startswith("unexplained"))
    return {
        "counts": dict(sorted(counts.items())),
        "unexplained": unexplained,
        "examples": {k: v for k, v in sorted(examples.items())},
    }


# --- the whole run -----------------------------------------------------------------------------


def derive(work: Path, inputs: list[Path], num_shards: int, vocab_size: int, *extra: str) -> Any:
    """``c4 build`` into ``work/dir`` (``extra``: e.g. ``--forget_ledger F``), ``c4 mask`` into
    ``DIR/masked`` (seed 0) and ``work/mdir`` (seed 1), ``c4 vocab train`` to
    ``work/vocab.model``: each command's figures."""
    dir_ = str(work / "dir")
    build = ["build", "--input", *map(str, inputs), "--output", dir_]
    vocab = ["vocab", "train", dir_, "--output", str(work / "vocab.model")]
    return {
        "build": c4(*build, "--num_shards", str(num_shards), *extra),
        "mask DIR/masked": c4("mask", dir_, "--seed", "0"),
        "mask MDIR": c4("mask", dir_, "--output", str(work / "mdir"), "--seed", "1"),
        "vocab train": c4(*vocab, "--vocab_size", str(vocab_size)),
    }


def run(
    work: Path,
    inputs: list[Path],
    num_shards: int = 32,
    share: float = 0.01,
    vocab_size: int = VOCAB_SIZE,
    reps: int = 1,
) -> dict[str, Any]:
    """Build, mask twice, train a vocabulary, forget ``share`` of the domains, scan, rebuild,
    compare. Every figure and every finding in one dict (``assert_proven`` asserts on it).

    ``reps`` > 1 times the forget and the rebuild that many times in all (medians reported),
    each on an output derived again (a forget cannot be undone)."""
    original, again = work / "original", work / "rebuild"
    dir_, mdir, vocab = original / "dir", original / "mdir", original / "vocab.model"
    setup = derive(original, inputs, num_shards, vocab_size)
    pre = scan(dir_, frozenset(), frozenset())
    pre_mdir = scan(mdir, frozenset(), frozenset())
    domains, distinct = pick_domains((d.url for d in pre.documents.values()), share)
    request, nothing = work / "domains.txt", work / "nothing.txt"
    request.write_text("".join(f"{d}\n" for d in domains))
    nothing.write_text("nothing-matches.invalid\n")
    wanted = frozenset(domains)
    forgotten = {i: d for i, d in pre.documents.items() if in_domains(url_host(d.url), wanted)}
    ids = frozenset(forgotten)
    before = {"DIR": snapshot(dir_), "MDIR": snapshot(mdir)}
    vocab_sha = hashlib.sha256(vocab.read_bytes()).hexdigest()

    # The fixed part of a forget: start-up and reading DIR's lineage, for a request that
    # matches nothing (it changes nothing: checked).
    floor = c4("forget", str(dir_), "--domains", str(nothing))
    unchanged_by_nothing = {"DIR": snapshot(dir_), "MDIR": snapshot(mdir)} == before
    forgets = [c4("forget", str(dir_), "--domains", str(request))]
    after_files = {"DIR": snapshot(dir_), "MDIR": snapshot(mdir)}
    verify = c4("forget", str(dir_), "--domains", str(request), "--verify")
    scans = {"DIR": scan(dir_, wanted, ids), "MDIR": scan(mdir, wanted, ids)}
    report = json.loads((dir_ / "forget" / "report-0001.json").read_text())
    kept = {i: d for i, d in pre.documents.items() if i not in forgotten}

    ledger = str(dir_ / "forget" / "ledger.json")
    rebuilds = [derive(again, inputs, num_shards, vocab_size, "--forget_ledger", ledger)]
    scans["rebuild"] = scan(again / "dir", wanted, ids)
    scans["rebuild MDIR"] = scan(again / "mdir", wanted, ids)
    compared = compare_rebuild(
        scans["DIR"].documents, scans["rebuild"].documents, forgotten, wet_pages(inputs), wanted
    )
    rebuild_stats = json.loads((again / "dir" / "stats.json").read_text())
    for rep in range(1, reps):
        other = work / f"rep{rep}"
        derive(other / "o", inputs, num_shards, vocab_size)
        forgets.append(c4("forget", str(other / "o" / "dir"), "--domains", str(request)))
        ledger = str(other / "o" / "dir" / "forget" / "ledger.json")
        rebuilds.append(
            derive(other / "r", inputs, num_shards, vocab_size, "--forget_ledger", ledger)
        )
        shutil.rmtree(other)
    chains = [{k: sum(t[k] for t in r.values()) for k in FIGURES[:2]} for r in rebuilds]
    seconds = {
        "forget": _median(forgets),
        "forget matching nothing (start-up, reading lineage)": _figures(floor),
        "verify": _figures(verify),
        "rebuild (build only)": _median([r["build"] for r in rebuilds]),
        "rebuild + masks + vocab": _median(chains),
    }
    for what in ("rebuild (build only)", "rebuild + masks + vocab"):
        for k in FIGURES[:2]:
            seconds[f"forget / {what}, {k}"] = round(seconds["forget"][k] / seconds[what][k], 3)
    seconds["runs"] = {
        "setup": {k: _figures(v) for k, v in setup.items()},
        "forget": [_figures(t) for t in forgets],
        "rebuild": [{k: _figures(v) for k, v in r.items()} for r in rebuilds],
    }
    return {
        "wet_MB": round(wet_megabytes(inputs), 3),
        "wet_files": len(inputs),
        "num_shards": num_shards,
        "reps": reps,
        "documents_before": len(pre.documents),
        "distinct_domains": distinct,
        "domains_forgotten": domains,
        "documents_forgotten": len(forgotten),
        "report_matched_doc_ids_equal_scan": sorted(m["doc_id"] for m in report["matched"]["list"])
        == sorted(forgotten),
        "forget_matching_nothing_changed_nothing": unchanged_by_nothing,
        "masked": {
            "DIR/masked": masked_removal(pre.masked[MASKED], scans["DIR"].masked[MASKED], ids),
            "MDIR": masked_removal(pre_mdir.masked[""], scans["MDIR"].masked[""], ids),
        },
        "report_collateral_documents": {
            "DIR/masked": report["masked"]["collateral"]["documents"],
            "MDIR": [s["collateral"]["documents"] for s in report["derived"]["sets"]],
        },
        "other_documents_unchanged": scans["DIR"].documents == kept,
        "vocabulary_unchanged": hashlib.sha256(vocab.read_bytes()).hexdigest() == vocab_sha,
        "vocabulary_tainted_in_report": str(vocab.resolve()) in json.dumps(report["derived"]),
        "files": {name: changes(before[name], after_files[name]) for name in before},
        "scan": {name: s.summary() for name, s in scans.items()},
        "rebuild_ledger_blocked": rebuild_stats["counters"].get("forget/filtered:ledger", 0),
        "rebuild_vs_forget": compared,
        "seconds": seconds,
    }


FIGURES = ("wall_seconds", "cpu_seconds", "peak_rss_MB")


def _median(runs: list[dict[str, Any]]) -> dict[str, float]:
    return {k: round(statistics.median(r[k] for r in runs), 3) for k in FIGURES if k in runs[0]}


MASKED = "masked/"


def masked_removal(
    before: list[tuple[tuple[str, ...], tuple[int, ...], tuple[int, ...]]],
    after: list[tuple[tuple[str, ...], tuple[int, ...], tuple[int, ...]]],
    forgotten: frozenset[str],
) -> dict[str, Any]:
    """What forget did to a masked set, from the two scans: the examples holding a forgotten
    document must be gone and every other example unchanged, in order; the other documents of
    the removed examples are the collateral."""
    removed = [e for e in before if forgotten.intersection(e[0])]
    kept = [e for e in before if not forgotten.intersection(e[0])]
    collateral = {d for e in removed for d in e[0]} - forgotten
    left = Counter(d for e in after for d in e[0])
    return {
        "examples_before": len(before),
        "examples_after": len(after),
        "examples_holding_forgotten_documents": len(removed),
        "others_unchanged_in_order": after == kept,
        "collateral_documents": len(collateral),
        "collateral_documents_with_no_example_left": sum(1 for d in collateral if not left[d]),
    }


def _figures(timed: dict[str, Any]) -> dict[str, float]:
    return {k: timed[k] for k in FIGURES if k in timed}


def assert_proven(result: dict[str, Any]) -> None:
    """Everything the run must show; raises AssertionError naming what failed."""
    for name, found in result["scan"].items():
        assert found["remains"] == 0 and found["damaged"] == 0, (name, found["findings"])
    assert result["documents_forgotten"] > 0
    assert result["report_matched_doc_ids_equal_scan"]
    assert result["forget_matching_nothing_changed_nothing"]
    for name, masked in result["masked"].items():
        assert masked["others_unchanged_in_order"], (name, masked)
        assert (
            masked["examples_before"] - masked["examples_after"]
            == masked["examples_holding_forgotten_documents"]
        ), (name, masked)
    report = result["report_collateral_documents"]
    assert report["DIR/masked"] == result["masked"]["DIR/masked"]["collateral_documents"]
    assert report["MDIR"] == [result["masked"]["MDIR"]["collateral_documents"]]
    assert result["other_documents_unchanged"]
    assert result["vocabulary_unchanged"] and result["vocabulary_tainted_in_report"]
    assert result["rebuild_vs_forget"]["unexplained"] == 0, result["rebuild_vs_forget"]
    assert result["rebuild_ledger_blocked"] >= result["documents_forgotten"]
    for name, files in result["files"].items():
        assert files["all"].get("identical", 0) == files["all"].get("identical_same_inode", 0), (
            name,
            files,
        )
        assert files["all"].get("rewritten", 0) > 0, (name, files)


def markdown(result: dict[str, Any]) -> str:
    s = result["seconds"]
    lines = [
        f"# c4 forget at scale: {result['wet_MB']:.1f} MB of WET in {result['wet_files']} files, "
        f"{result['num_shards']} shards",
        "",
        f"{result['documents_before']:,} documents, {result['distinct_domains']:,} distinct "
        f"domains; forgotten: {len(result['domains_forgotten'])} domains (1 %), "
        f"{result['documents_forgotten']} documents. Seconds: medians of {result['reps']} run(s).",
        "",
        "| command | wall s | CPU s |",
        "|---|---:|---:|",
    ]
    for name, row in s.items():
        if isinstance(row, dict) and "wall_seconds" in row:
            lines.append(f"| {name} | {row['wall_seconds']:.1f} | {row['cpu_seconds']:.1f} |")
    lines.append("")
    lines += [f"- {name}: {value:.3f}" for name, value in s.items() if isinstance(value, float)]
    lines += ["", "| set | kind | rewritten | identical (same inode) | added | removed |"]
    lines.append("|---|---|---:|---:|---:|---:|")
    for set_name, kinds in result["files"].items():
        for kind, row in kinds.items():
            lines.append(
                f"| {set_name} | {kind} | {row.get('rewritten', 0)} | {row.get('identical', 0)} "
                f"({row.get('identical_same_inode', 0)}) | {row.get('added', 0)} | "
                f"{row.get('removed', 0)} |"
            )
    lines += ["", "| rebuild vs post-forget | count |", "|---|---:|"]
    for name, n in result["rebuild_vs_forget"]["counts"].items():
        lines.append(f"| {name} | {n} |")
    lines += ["", "| scan | files | documents | masked examples | remains | damaged |"]
    lines.append("|---|---:|---:|---:|---:|---:|")
    for name, found in result["scan"].items():
        files = sum(found["files_read"].values())
        masked = sum(found["masked_examples"].values())
        lines.append(
            f"| {name} | {files} | {found['documents']} | {masked} | {found['remains']} | "
            f"{found['damaged']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=float, default=60)
    ap.add_argument("--files", type=int, default=4)
    ap.add_argument("--num_shards", type=int, default=32)
    ap.add_argument("--share", type=float, default=0.01)
    ap.add_argument("--reps", type=int, default=3, help="forgets and rebuilds timed (medians)")
    ap.add_argument("--results", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    scratch = RESULTS / "tmp"
    inputs = corpus(scratch / "forget_scale", args.mb, args.files)
    with tempfile.TemporaryDirectory(dir=scratch) as tmp:
        result = run(Path(tmp), inputs, args.num_shards, args.share, reps=args.reps)
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "forget_scale.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.results / "forget_scale.md").write_text(markdown(result))
    print(markdown(result))
    assert_proven(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
