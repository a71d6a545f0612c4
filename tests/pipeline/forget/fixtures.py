"""A built, masked DIR of two real WET samples, for the trace/forget/lineage tests.

Built once per test session into a temporary directory (``c4 build`` then ``c4 mask``, through
``pipeline.cli.main``), then copied for each test that changes it.
"""

from __future__ import annotations

import hashlib
import io
import shutil
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from pipeline.cli import main
from pipeline.formats import tfrecord
from tests.conftest import REAL_WET, output_tree

INPUTS = [str(p) for p in REAL_WET if "excerpt-25." in p.name or "excerpt-262" in p.name]
NUM_SHARDS = "4"


def build(out: Path, *extra: str, mask: bool = True) -> Path:
    """``c4 build`` (4 shards) of the 25- and 262-record excerpts into ``out``, then ``c4 mask``."""
    assert len(INPUTS) == 2, f"WET samples missing from tests/data/wet: {INPUTS}"
    argv = ["build", "--input", *INPUTS, "--output", str(out), "--num_shards", NUM_SHARDS]
    assert main([*argv, *extra]) == 0
    if mask:
        assert main(["mask", str(out)]) == 0
    return out


def copy(base: Path, dest: Path) -> Path:
    shutil.copytree(base, dest)
    return dest


def digests(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root``, by relative path."""
    return {rel: hashlib.sha256(p.read_bytes()).hexdigest() for rel, p in output_tree(root).items()}


def parquet_rows(root: Path, pattern: str = "parquet/*/*.parquet") -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in sorted(root.glob(pattern)):
        rows.extend(pq.read_table(path).to_pylist())
    return rows


def tfrecord_examples(path: Path) -> list[dict[str, Any]]:
    data = path.read_bytes()
    return [tfrecord.decode_example(r) for r in tfrecord.read_tfrecord(io.BytesIO(data))]


Location = tuple[str, int, str, int]


def masked_lineage(root: Path, table: str = "lineage/masked") -> dict[str, list[Location]]:
    """doc_id -> masked locations, as the masked-lineage table under ``root/table`` lists them."""
    found: dict[str, list[Location]] = {}
    for row in parquet_rows(root, f"{table}/*/*.parquet"):
        assert row["doc_id"] not in found, f"two rows for {row['doc_id']}"
        found[row["doc_id"]] = [
            (m["parquet_file"], m["parquet_row"], m["tfrecord_file"], m["tfrecord_index"])
            for m in row["masked"]
        ]
    return found


def masked_scan(root: Path, masked: str = "masked") -> dict[str, list[Location]]:
    """The same, from a fresh scan of the masked Parquet files' ``doc_ids`` (paths from root).

    ``masked=""`` when ``root`` is itself the masked output (``c4 mask --output MDIR``).
    """
    found: dict[str, list[Location]] = {}
    prefix = f"{masked}/" if masked else ""
    for path in sorted(root.glob(f"{prefix}parquet/*/*.parquet")):
        name = path.relative_to(root).as_posix()
        split_file = name[len(prefix + "parquet/") :]
        twin = f"{prefix}tfrecord/{split_file[: -len('.parquet')]}.tfrecord"
        assert (root / twin).is_file(), twin
        for i, row in enumerate(pq.read_table(path).to_pylist()):
            for doc_id in sorted(set(row["doc_ids"])):
                found.setdefault(doc_id, []).append((name, i, twin, i))
    return found
