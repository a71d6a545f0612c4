"""SIGKILL at every file write of a rebuild and of a remask into an existing DIR (issue 18.2).

Each command runs in its own process group with ``C4_FAULT_KILL_AT=k`` (``pipeline/io/faults.py``):
the k-th file write kills the whole group, workers included, before it happens. After each kill,
every supported entry point is read (TFDS through ``dataset_info.json``, a plain directory read
of ``parquet/``, ``lineage/`` and ``masked/``, the manifest) and must show the complete old
output or the complete new one, all of them the same one. Rerunning the command then gives
exactly the uninterrupted result.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from tests.conftest import WET_DIR, output_tree

pytestmark = pytest.mark.slow

C4 = [sys.executable, "-m", "pipeline.cli"]
SMALL = WET_DIR / "CC-MAIN-2016-50.excerpt-5.warc.wet.gz"
LARGER = WET_DIR / "CC-MAIN-2016-50.excerpt-25.warc.wet.gz"
QUIET = {"C4_PROGRESS_INTERVAL": "0", "C4_BUILD_REPORT": "0"}


def run(args: Sequence[str], kill_at: int = 0, log: Path | None = None) -> int:
    env = {**os.environ, **QUIET}  # read now: a test may point STORAGE_EMULATOR_HOST somewhere
    if log is not None:
        env["C4_FAULT_LOG"] = str(log)
        env["C4_FAULT_KILL_AT"] = str(kill_at)
    proc = subprocess.run(
        [*C4, *args],
        env=env,
        capture_output=True,
        text=True,
        start_new_session=True,  # the kill takes the group: this test runner is not in it
        timeout=300,
    )
    return proc.returncode


def writes_of(args: Sequence[str], tmp: Path) -> list[str]:
    log = tmp / "writes.log"
    log.unlink(missing_ok=True)
    assert run(args, 0, log) == 0
    return log.read_text().splitlines()


def tfds_view(directory: Path) -> Any:
    import tensorflow_datasets as tfds

    version_dir = directory / "c4/en/3.1.0"
    builder = tfds.builder_from_directory(str(version_dir))
    urls = sorted(ex["url"].numpy() for ex in builder.as_dataset(split="train"))
    return (builder.info.splits["train"].num_examples, tuple(urls))


def table_view(path: Path, column: str) -> Any:
    if not path.exists():
        return None
    return tuple(sorted(map(str, pq.read_table(path).column(column).to_pylist())))


def manifest_view(directory: Path) -> Any:
    content = json.loads((directory / "manifest.json").read_text())
    for rel, entry in content["files"].items():
        assert (directory / entry["at"]).stat().st_size == entry["bytes"], rel
    return tuple(sorted(content["files"]))


def masked_view(directory: Path) -> Any:
    config = directory / "masked" / "config.json"
    if not config.exists():
        return None
    seed = json.loads(config.read_text())["seed"]
    return (seed, table_view(directory / "masked/parquet/train", "doc_ids"))


def view(directory: Path) -> dict[str, Any]:
    """What each entry point shows; raises if one of them is broken."""
    return {
        "tfds": tfds_view(directory),
        "parquet": table_view(directory / "parquet/train", "url"),
        "lineage": table_view(directory / "lineage/train", "doc_id"),
        "masked": masked_view(directory),
        "manifest": manifest_view(directory),
        "stats": json.loads((directory / "stats.json").read_text())["reconciliation"],
    }


def kill_matrix(tmp: Path, old_args: Sequence[str], new_args: Sequence[str], name: str) -> None:
    template = tmp / "template"
    assert run([*old_args, "--output", str(template)]) == 0
    old = view(template)
    fresh = tmp / "fresh"
    shutil.copytree(template, fresh, symlinks=True)
    writes = writes_of([*new_args, "--output", str(fresh)], tmp)
    new = view(fresh)
    assert new != old
    seen = []
    for k in range(1, len(writes) + 1):
        target = tmp / f"kill-{k}"
        shutil.copytree(template, target, symlinks=True)
        code = run([*new_args, "--output", str(target)], k, tmp / f"log-{k}")
        assert code == -signal.SIGKILL, (k, writes[k - 1], code)
        got = view(target)
        assert got in (old, new), (k, writes[k - 1])
        seen.append("old" if got == old else "new")
        # The same command again finishes the job: exactly the uninterrupted result.
        assert run([*new_args, "--output", str(target)]) == 0
        assert view(target) == new
        assert same_files(target, fresh)
        shutil.rmtree(target)
    print(f"{name}: {len(writes)} kill points: {seen.count('old')} old, {seen.count('new')} new")
    assert seen[0] == "old" and seen[-1] == "old"  # the last write is the switch itself


def same_files(a: Path, b: Path) -> bool:
    """Byte-identical outputs, but for the files that name their DIR or time their run."""
    skip = {"config.json", "run.json"}

    def files(root: Path) -> dict[str, bytes]:
        return {rel: p.read_bytes() for rel, p in output_tree(root).items() if rel not in skip}

    return files(a) == files(b)


def blocklist(tmp: Path) -> str:
    """A URL of LARGER's output: the rebuild leaves it out, so the two builds differ."""
    path = tmp / "blocklist.txt"
    path.write_text(
        "http://mobile.abc.net.au/news/2005-10-10/fire-crews-hopeful-of-relief-in-se-qld/2120904?pfm=sm\n"
    )
    return str(path)


def test_rebuild_killed_at_every_write(tmp_path: Path) -> None:
    old = ["build", "--input", str(LARGER), "--mask"]
    new = ["build", "--input", str(SMALL), str(LARGER), "--num_shards", "2"]
    new += ["--blocklist_urls", blocklist(tmp_path)]
    kill_matrix(tmp_path, old, new, "rebuild")


def test_remask_killed_at_every_write(tmp_path: Path) -> None:
    template = tmp_path / "built"
    assert run(["build", "--input", str(LARGER), "--output", str(template), "--mask"]) == 0
    old = view(template)
    writes = writes_of(["mask", str(template), "--seed", "7"], tmp_path)
    new = view(template)
    assert new["masked"] != old["masked"] and new["masked"][0] == 7
    shutil.rmtree(template)
    assert run(["build", "--input", str(LARGER), "--output", str(template), "--mask"]) == 0
    seen = []
    for k in range(1, len(writes) + 1):
        target = tmp_path / f"kill-{k}"
        shutil.copytree(template, target, symlinks=True)
        code = run(["mask", str(target), "--seed", "7"], k, tmp_path / f"log-{k}")
        assert code == -signal.SIGKILL, (k, writes[k - 1], code)
        got = view(target)
        assert got in (old, new), (k, writes[k - 1])
        seen.append("old" if got == old else "new")
        assert run(["mask", str(target), "--seed", "7"]) == 0
        assert view(target) == new
        shutil.rmtree(target)
    print(f"remask: {len(writes)} kill points: {seen.count('old')} old, {seen.count('new')} new")


# --- gs:// ------------------------------------------------------------------------------------


def mirror(bucket: str, prefix: str, target: Path) -> Path:
    """What a reader of ``gs://bucket/prefix`` sees now: every object, copied to ``target``."""
    from google.cloud import storage

    client = storage.Client.create_anonymous_client()
    shutil.rmtree(target, ignore_errors=True)
    for blob in client.list_blobs(bucket, prefix=prefix + "/"):
        path = target / blob.name[len(prefix) + 1 :]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(blob.download_as_bytes())
    return target


def remote_view(directory: Path) -> dict[str, Any]:
    """TFDS through dataset_info.json, and the files the manifest names: the entry points that
    are atomic on gs:// (a raw listing of parquet/ is not, docs/layout.md says so)."""
    content = json.loads((directory / "manifest.json").read_text())
    parquet = [directory / e["at"] for rel, e in sorted(content["files"].items())]
    for path, (rel, entry) in zip(parquet, sorted(content["files"].items()), strict=True):
        assert path.stat().st_size == entry["bytes"], rel
    tables = [
        p
        for p, rel in zip(parquet, sorted(content["files"]), strict=True)
        if rel.startswith("parquet/train/")
    ]
    urls = sorted(u for p in tables for u in pq.read_table(p).column("url").to_pylist())
    return {"tfds": tfds_view(directory), "manifest_parquet": tuple(urls)}


def copy_prefix(bucket: Any, source: str, target: str) -> None:
    for blob in bucket.list_blobs(prefix=source + "/"):
        bucket.copy_blob(blob, bucket, target + blob.name[len(source) :])


def test_gs_rebuild_killed_at_every_write(gcs: str, tmp_path: Path) -> None:
    """On gs:// each entry point switches on its own (two objects cannot change at once): TFDS
    through dataset_info.json, the project's readers through the manifest."""
    from google.cloud import storage

    client = storage.Client.create_anonymous_client()
    client.project = "test"
    bucket = client.create_bucket(f"kill-{os.getpid()}")
    old_args = ["build", "--input", str(LARGER), "--num_shards", "2"]
    new_args = ["build", "--input", str(SMALL), str(LARGER), "--num_shards", "3"]
    new_args += ["--blocklist_urls", blocklist(tmp_path)]
    assert run([*old_args, "--output", f"gs://{bucket.name}/old"]) == 0
    old = remote_view(mirror(bucket.name, "old", tmp_path / "m"))
    copy_prefix(bucket, "old", "template")
    writes = writes_of([*new_args, "--output", f"gs://{bucket.name}/template"], tmp_path)
    new = remote_view(mirror(bucket.name, "template", tmp_path / "m"))
    assert old["tfds"] != new["tfds"] and old["manifest_parquet"] != new["manifest_parquet"]
    journal = next(i for i, w in enumerate(writes, 1) if w.endswith("/.c4/journal.json"))
    seen = []
    for k in range(1, len(writes) + 1):
        prefix = f"k{k}"
        copy_prefix(bucket, "old", prefix)
        out = f"gs://{bucket.name}/{prefix}"
        code = run([*new_args, "--output", out], k, tmp_path / f"log-{k}")
        assert code == -signal.SIGKILL, (k, writes[k - 1], code)
        got = remote_view(mirror(bucket.name, prefix, tmp_path / "m"))
        for entry in ("tfds", "manifest_parquet"):
            assert got[entry] in (old[entry], new[entry]), (k, entry, writes[k - 1])
        seen.append("".join("o" if got[e] == old[e] else "n" for e in sorted(got)))
        if k == 1 or k >= journal:  # the rerun settles a journal it finds, then builds
            assert run([*new_args, "--output", out]) == 0
            assert remote_view(mirror(bucket.name, prefix, tmp_path / "m")) == new
    print(f"gs rebuild: {len(writes)} kill points (manifest, tfds: o old, n new): {seen}")
    assert "nn" in seen  # killed while settling: both already show the new output
