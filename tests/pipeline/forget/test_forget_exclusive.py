"""Two ``c4 forget`` runs on one DIR cannot interleave (issue 17.4): DIR's lock refuses one.

Twenty trials, each on a fresh copy of a small 3-shard build with a masked set: two forgets of
different domains (both touch the same shards) started together, in either order, some with
the second a little later so that it also lands while the first works and after it ended.
Every time: one exits 0; the other exits 0 (it ran after, on the first's result) or 2 (refused,
one line); never do both rewrite the same old generation (each deletion report starts where the
previous one ended); the ledger holds what every successful run asked; ``--verify`` of the
union passes; the counts in ``stats.json``, ``dataset_info.json`` and ``masked/config.json``
equal a fresh scan of the shards.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from pipeline.cli import main
from pipeline.formats import tfrecord
from tests.conftest import WET_DIR, output_tree

pytestmark = pytest.mark.slow

C4 = [sys.executable, "-m", "pipeline.cli"]
WET = WET_DIR / "CC-MAIN-2016-50.excerpt-25.warc.wet.gz"
KEPT = 14
# Two domains whose pages share shards: each forget rewrites the same files.
DOMAINS = {"a": ("abc.net.au", 2), "b": ("biomedsearch.com", 4)}
TRIALS = 20
# Where the second starts, seconds after the first: mostly together, a few while the first
# works or after it ended (a forget here takes about 1 s, most of it starting Python).
DELAYS = (0.0,) * 14 + (0.3, 0.6, 0.9, 1.2, 1.6, 2.5)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("exclusive") / "out"
    argv = ["build", "--input", str(WET), "--output", str(out), "--num_shards", "3", "--mask"]
    assert main(argv) == 0
    return out


def start(directory: Path, domains: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "C4_PROGRESS_INTERVAL": "0", "C4_BUILD_REPORT": "0"}
    return subprocess.Popen(
        [*C4, "forget", str(directory), "--domains", str(domains)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def scan(out: Path) -> None:
    """The metadata's counts are what a fresh scan of the shards gives."""
    files = output_tree(out)
    stats = json.loads(files["stats.json"].read_text())
    info = json.loads(files["c4/en/3.1.0/dataset_info.json"].read_text())
    assert stats["reconciliation"]["balanced"]
    kept = 0
    for split in info["splits"]:
        name = split["name"]
        parquet = sorted(r for r in files if r.startswith(f"parquet/{name}/"))
        shards = sorted(r for r in files if r.startswith(f"c4/en/3.1.0/c4-{name}.tfrecord-"))
        tables = [pq.read_table(files[r]) for r in parquet]
        records = [list(tfrecord.read_tfrecord(io.BytesIO(files[r].read_bytes()))) for r in shards]
        lengths = [t.num_rows for t in tables]
        assert [len(r) for r in records] == lengths
        assert [int(n) for n in split.get("shardLengths", [])] == (lengths if any(lengths) else [])
        num_bytes = sum(len(x) for shard in records for x in shard)
        assert int(split.get("numBytes", 0)) == num_bytes
        text_bytes = sum(
            len(t.encode()) for table in tables for t in table.column("text").to_pylist()
        )
        written = stats["splits"][name]
        assert (written["documents"], written["shard_lengths"]) == (sum(lengths), lengths)
        assert (written["num_bytes"], written["text_bytes"]) == (num_bytes, text_bytes)
        lineage = [pq.read_table(files[f"lineage/{r[len('parquet/') :]}"]) for r in parquet]
        assert [t.num_rows for t in lineage] == lengths
        kept += sum(lengths)
    assert stats["reconciliation"]["kept"] == kept
    masked = json.loads(files["masked/config.json"].read_text())
    for name, totals in masked["splits"].items():
        examples = [r for r in files if r.startswith(f"masked/parquet/{name}/")]
        rows = sum(pq.read_table(files[r]).num_rows for r in examples)
        assert totals["examples"] == rows


def reports(out: Path) -> list[dict[str, Any]]:
    paths = sorted(p for r, p in output_tree(out).items() if r.startswith("forget/report-"))
    return [json.loads(p.read_text()) for p in paths if p.suffix == ".json"]


def test_two_forgets_started_together_never_interleave(template: Path, tmp_path: Path) -> None:
    requests = {}
    for key, (domain, _) in DOMAINS.items():
        requests[key] = tmp_path / f"{key}.txt"
        requests[key].write_text(domain + "\n")
    outcomes: Counter[str] = Counter()
    started = time.monotonic()
    for trial in range(TRIALS):
        target = tmp_path / f"trial-{trial}"
        shutil.copytree(template, target, symlinks=True)
        first, second = ("a", "b") if trial % 2 == 0 else ("b", "a")
        procs = {first: start(target, requests[first])}
        time.sleep(DELAYS[trial])
        procs[second] = start(target, requests[second])
        ended = {key: (p.wait(timeout=120), *p.communicate()) for key, p in procs.items()}
        codes = {key: code for key, (code, _, _) in ended.items()}
        where = f"trial {trial}: {ended}"
        assert sorted(codes.values()) in ([0, 0], [0, 2]), where
        for _, err in (e[1:] for e in ended.values() if e[0] == 2):
            assert len(err.strip().splitlines()) == 1, where
            assert "is changing this directory" in err, where
        done = [key for key in (first, second) if codes[key] == 0]
        # One deletion report per run that succeeded, each starting where the last one ended:
        # no two runs changed the same old generation.
        found = reports(target)
        assert len(found) == len(done), where
        kept = KEPT
        for report in found:  # report-0001, report-0002: in the order they were written
            assert report["counts"]["kept_before"] == kept, where
            kept = report["counts"]["kept_after"]
        assert kept == KEPT - sum(DOMAINS[key][1] for key in done), where
        ledger = json.loads((target / "forget/ledger.json").read_text())
        assert sorted(ledger["domains"]) == sorted(DOMAINS[key][0] for key in done), where
        union = tmp_path / "union.txt"
        union.write_text("".join(DOMAINS[key][0] + "\n" for key in done))
        assert main(["forget", str(target), "--domains", str(union), "--verify"]) == 0, where
        scan(target)
        assert not (target / ".c4/lock").exists()
        outcomes["both ran" if len(done) == 2 else "one refused"] += 1
        shutil.rmtree(target)
    print(f"{TRIALS} trials in {time.monotonic() - started:.0f} s: {dict(outcomes)}")
    assert outcomes["one refused"] > 0 and outcomes["both ran"] > 0
