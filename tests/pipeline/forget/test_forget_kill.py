"""``c4 forget`` killed with SIGKILL at every file write (issue 17.4), on a 3-shard build with a
masked set: between the kill and the rerun every reader sees the old dataset; the same command
run again ends byte-identical to an uninterrupted forget, with exactly one deletion report.

``C4_FAULT_KILL_AT=k`` (``pipeline/io/faults.py``) kills the command's process group at its k-th
file write, before the write happens. The forget is one commit (``pipeline/io/commit.py``): its
last write is the switch of ``DIR/.c4/current``, so every kill leaves the old generation current.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from pipeline.cli import main
from tests.conftest import WET_DIR, output_tree

pytestmark = pytest.mark.slow

C4 = [sys.executable, "-m", "pipeline.cli"]
WET = WET_DIR / "CC-MAIN-2016-50.excerpt-25.warc.wet.gz"
QUIET = {"C4_PROGRESS_INTERVAL": "0", "C4_BUILD_REPORT": "0"}


def forget(directory: Path, request: Path, kill_at: int = 0, log: Path | None = None) -> int:
    env = {**os.environ, **QUIET}
    if log is not None:
        env.update(C4_FAULT_LOG=str(log), C4_FAULT_KILL_AT=str(kill_at))
    proc = subprocess.run(
        [*C4, "forget", str(directory), "--domains", str(request)],
        env=env,
        capture_output=True,
        text=True,
        start_new_session=True,  # the kill takes the group: not this test runner
        timeout=120,
    )
    return proc.returncode


def column(path: Path, name: str) -> tuple[str, ...]:
    return tuple(sorted(map(str, pq.read_table(path).column(name).to_pylist())))


def view(directory: Path) -> dict[str, Any]:
    """What each reader sees: TFDS, the Parquet, lineage and masked directories, the metadata."""
    import tensorflow_datasets as tfds

    builder = tfds.builder_from_directory(str(directory / "c4/en/3.1.0"))
    urls = sorted(ex["url"].numpy().decode() for ex in builder.as_dataset(split="train"))
    masked = directory / "masked/parquet/train"
    return {
        "tfds": (builder.info.splits["train"].num_examples, tuple(urls)),
        "parquet": column(directory / "parquet/train", "url"),
        "lineage": column(directory / "lineage/train", "doc_id"),
        "masked": tuple(sorted(str(ids) for ids in pq.read_table(masked).column("doc_ids"))),
        "masked_lineage": column(directory / "lineage/masked/train", "doc_id"),
        "stats": json.loads((directory / "stats.json").read_text())["splits"],
        "masked_config": json.loads((directory / "masked/config.json").read_text())["splits"],
        "ledger": (directory / "forget/ledger.json").read_text()
        if (directory / "forget/ledger.json").exists()
        else None,
        "reports": sorted(p.name for p in directory.glob("forget/report-*")),
    }


def files(directory: Path) -> dict[str, bytes]:
    """Every committed file; the deletion report without what names the run (DIR, time), the
    data card without the day of the forget."""
    out = {}
    for rel, path in output_tree(directory).items():
        data = path.read_bytes()
        if rel.startswith("forget/report-") and rel.endswith(".json"):
            report = json.loads(data)
            del report["dir"], report["time_utc"]
            data = json.dumps(report, sort_keys=True).encode()
        elif rel.startswith("forget/report-"):
            data = b"\n".join(data.splitlines()[1:])  # its first line: DIR and the time
        elif rel == "manifest.json":  # sizes of the report, which holds DIR's path
            continue
        elif rel == "DATA_CARD.md":  # "last on <the run's day>": a rerun after midnight differs
            data = re.sub(rb"last on \d{4}-\d{2}-\d{2}", b"last on DAY", data)
        out[rel] = data
    return out


def test_forget_killed_at_every_write(tmp_path: Path) -> None:
    started = time.monotonic()
    template = tmp_path / "template"
    argv = ["build", "--input", str(WET), "--output", str(template), "--num_shards", "3", "--mask"]
    assert main(argv) == 0
    request = tmp_path / "domains.txt"
    request.write_text("abc.net.au\nbiomedsearch.com\n")  # 6 documents, in all 3 shards
    old = view(template)
    fresh = tmp_path / "fresh"
    shutil.copytree(template, fresh, symlinks=True)
    log = tmp_path / "writes.log"
    assert forget(fresh, request, 0, log) == 0
    writes = log.read_text().splitlines()
    new = view(fresh)
    assert new != old and new["reports"] == ["report-0001.json", "report-0001.txt"]
    assert main(["forget", str(fresh), "--verify"]) == 0
    assert any("/masked/" in w for w in writes) and any("ledger.json" in w for w in writes)
    for k in range(1, len(writes) + 1):
        target = tmp_path / f"kill-{k}"
        shutil.copytree(template, target, symlinks=True)
        code = forget(target, request, k, tmp_path / f"log-{k}")
        assert code == -signal.SIGKILL, (k, writes[k - 1], code)
        assert view(target) == old, (k, writes[k - 1])
        # The rerun in this process (nothing to kill): it saves a Python start per kill point.
        assert main(["forget", str(target), "--domains", str(request)]) == 0, (k, writes[k - 1])
        # Byte-identical to the uninterrupted forget, its one deletion report included.
        assert files(target) == files(fresh), (k, writes[k - 1])
        shutil.rmtree(target)
    elapsed = time.monotonic() - started
    print(f"forget: {len(writes)} kill points, every one old until the rerun; {elapsed:.0f} s")


def test_forget_of_a_set_outside_dir_killed_after_dirs_switch(tmp_path: Path) -> None:
    """A set registered outside DIR (``c4 mask DIR --output M``) is switched in a commit of its
    own after DIR's, and the deletion report is completed after it. Killed at any write from
    DIR's switch to the end, the rerun ends byte-identical to an uninterrupted forget, DIR and
    M, with one report that says what M lost (not "unchanged": M had nothing left to lose).

    DIR's registry names M by its absolute path, so every run restores the pair in one place."""
    pair, saved = tmp_path / "pair", tmp_path / "saved"
    argv = ["build", "--input", str(WET), "--output", str(pair / "D"), "--num_shards", "3"]
    assert main([*argv, "--mask"]) == 0
    assert main(["mask", str(pair / "D"), "--output", str(pair / "M"), "--epoch", "1"]) == 0
    shutil.copytree(pair, saved, symlinks=True)
    request = tmp_path / "domains.txt"
    request.write_text("abc.net.au\nbiomedsearch.com\n")
    log = tmp_path / "writes.log"
    assert forget(pair / "D", request, 0, log) == 0
    writes = log.read_text().splitlines()
    want = {"D": files(pair / "D"), "M": files(pair / "M")}
    switch = writes.index(str(pair / "D/.c4/current"))
    report = json.loads((pair / "D/forget/report-0001.json").read_text())
    [section] = report["derived"]["sets"]
    assert section["status"] == "changed" and section["removed_examples"] > 0
    assert str(pair / "M/.c4/current") in writes[switch + 1 :]
    for k in range(switch + 2, len(writes) + 1):  # kills before DIR's switch: the test above
        shutil.rmtree(pair)
        shutil.copytree(saved, pair, symlinks=True)
        code = forget(pair / "D", request, k, tmp_path / f"log-{k}")
        assert code == -signal.SIGKILL, (k, writes[k - 1], code)
        assert main(["forget", str(pair / "D"), "--domains", str(request)]) == 0, k
        assert files(pair / "D") == want["D"], (k, writes[k - 1])
        assert files(pair / "M") == want["M"], (k, writes[k - 1])
        assert main(["forget", str(pair / "D"), "--verify"]) == 0, k
