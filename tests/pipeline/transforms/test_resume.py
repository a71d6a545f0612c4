"""``c4 build --resumable`` (issue 18.6): a killed build, run again, reuses its finished work and
ends byte-identical to an uninterrupted one."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import WET_DIR, output_tree

pytestmark = pytest.mark.slow

C4 = [sys.executable, "-m", "pipeline.cli"]
INPUTS = [
    WET_DIR / "CC-MAIN-2026-12.excerpt-262.warc.wet.gz",
    WET_DIR / "CC-MAIN-2016-50.excerpt-25.warc.wet.gz",
]


def run(args: list[str], kill_at: int = 0, log: Path | None = None) -> int:
    env = {**os.environ, "C4_PROGRESS_INTERVAL": "0"}
    if log is not None:
        env.update(C4_FAULT_LOG=str(log), C4_FAULT_KILL_AT=str(kill_at))
    proc = subprocess.run([*C4, *args], env=env, capture_output=True, start_new_session=True)
    return proc.returncode


def data(out: Path) -> dict[str, bytes]:
    """Every output file but those that name DIR or time the run."""
    return {
        rel: p.read_bytes()
        for rel, p in output_tree(out).items()
        if rel not in ("config.json", "run.json")
    }


def spoil_keeping_identity(path: Path) -> None:
    """Overwrite a file with zeros, same size and mtime: read again, it would give nothing."""
    st = path.stat()
    path.write_bytes(b"\0" * st.st_size)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


@pytest.mark.parametrize("runner", [[], ["--runner", "DaskRunner"]], ids=["direct", "dask"])
def test_a_killed_resumable_build_reuses_its_work(tmp_path: Path, runner: list[str]) -> None:
    inputs = []
    for source in INPUTS:
        shutil.copy2(source, tmp_path / source.name)
        inputs.append(str(tmp_path / source.name))
    plain = tmp_path / "plain"
    assert run(["build", "--input", *inputs, "--output", str(plain), "--mask"]) == 0
    out = tmp_path / "out"
    args = ["build", "--input", *inputs, "--output", str(out), "--mask", "--resumable", *runner]
    # Killed at its first shard write: every per-file stage and the language decisions done.
    log = tmp_path / "log"
    counting = ["build", "--input", *inputs, "--output", str(tmp_path / "count"), "--resumable"]
    assert run([*counting, "--mask"], log=log) == 0
    first_shard = next(i for i, w in enumerate(log.read_text().splitlines(), 1) if "tfrecord" in w)
    assert run(args, kill_at=first_shard, log=tmp_path / "kill.log") == -signal.SIGKILL
    resume = next((out / ".c4/resume").iterdir())
    assert len(list(resume.glob("bundle-*.files.json"))) == len(inputs)  # one spill a file
    assert list(resume.glob("language/*.pkl")) and list(resume.glob("sentences/*.pkl"))
    assert not (out / "stats.json").exists()  # nothing committed
    for path in inputs:  # proof of reuse: the files themselves can no longer be read
        spoil_keeping_identity(Path(path))
    assert run(args) == 0
    assert data(out) == data(plain)
    assert not (out / ".c4/resume").exists()  # done: nothing kept


def test_a_resumable_build_writes_what_a_plain_one_does(tmp_path: Path) -> None:
    inputs = [str(p) for p in INPUTS]
    assert run(["build", "--input", *inputs, "--output", str(tmp_path / "a")]) == 0
    assert run(["build", "--input", *inputs, "--output", str(tmp_path / "b"), "--resumable"]) == 0
    assert data(tmp_path / "a") == data(tmp_path / "b")
