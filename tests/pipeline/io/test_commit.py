"""The commit protocol on local disks (``pipeline/io/commit.py``) and DIR's lock."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.io import commit as protocol
from pipeline.io import generations
from pipeline.io.lock import BusyError, acquire
from tests.conftest import dir_snapshot


def write(commit: protocol.Commit, rel: str, data: bytes) -> None:
    path = Path(commit.write_dir, rel)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def commit_files(out: Path, files: dict[str, bytes], owns: tuple[str, ...] = ("",)) -> None:
    commit = protocol.begin(str(out), owns=owns)
    for rel, data in files.items():
        write(commit, rel, data)
    commit.publish()


def test_publish_switches_every_entry_at_once(tmp_path: Path) -> None:
    out = tmp_path / "out"
    commit_files(out, {"parquet/train/a": b"1", "stats.json": b"{}"})
    assert (out / "parquet/train/a").read_bytes() == b"1"
    assert os.readlink(out / "parquet") == ".c4/current/parquet"
    commit_files(out, {"parquet/train/b": b"2", "stats.json": b"[]"})
    # Old files of a replaced output are gone; only one generation is left.
    assert sorted(p.name for p in (out / "parquet/train").iterdir()) == ["b"]
    assert len(list((out / ".c4/generations").iterdir())) == 1
    assert set(protocol.output_files(str(out))) == {"parquet/train/b", "stats.json"}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["files"]["stats.json"] == {"at": "stats.json", "bytes": 2}


def test_an_entry_the_new_generation_lacks_disappears(tmp_path: Path) -> None:
    out = tmp_path / "out"
    commit_files(out, {"masked/config.json": b"{}", "stats.json": b"{}"})
    commit_files(out, {"stats.json": b"{}"})
    assert not os.path.lexists(out / "masked")


def test_kept_files_are_hard_links_not_copies(tmp_path: Path) -> None:
    out = tmp_path / "out"
    commit_files(out, {"parquet/train/a": b"1", "masked/x": b"old"})
    before = (out / "parquet/train/a").stat().st_ino
    commit_files(out, {"masked/x": b"new"}, owns=("masked/",))
    assert (out / "parquet/train/a").stat().st_ino == before
    assert (out / "masked/x").read_bytes() == b"new"


def test_abort_leaves_dir_exactly_as_before(tmp_path: Path) -> None:
    out = tmp_path / "out"
    commit_files(out, {"parquet/train/a": b"1"})
    before = dir_snapshot(out)
    commit = protocol.begin(str(out), owns=("",))
    write(commit, "parquet/train/b", b"2")
    commit.abort()
    assert dir_snapshot(out) == before


def test_abort_of_a_first_build_leaves_no_directory(tmp_path: Path) -> None:
    out = tmp_path / "new" / "out"
    out.parent.mkdir()
    commit = protocol.begin(str(out), owns=("",))
    write(commit, "stats.json", b"{}")
    commit.abort()
    assert not out.exists()


def test_a_killed_commands_generation_is_dropped_by_the_next(tmp_path: Path) -> None:
    out = tmp_path / "out"
    commit_files(out, {"stats.json": b"1"})
    # A command in another process stages a generation and dies before its switch.
    code = (
        "import sys, os; from pipeline.io import commit as c; "
        "k = c.begin(sys.argv[1], owns=('',)); "
        "open(os.path.join(k.write_dir, 'stats.json'), 'w').write('2'); os._exit(9)"
    )
    subprocess.run([sys.executable, "-c", code, str(out)], check=False)
    assert len(list((out / ".c4/generations").iterdir())) == 2
    assert (out / "stats.json").read_text() == "1"
    (out / ".c4/lock").unlink()  # what the dead process held (its pid is gone: stale anyway)
    commit_files(out, {"stats.json": b"3"})
    assert len(list((out / ".c4/generations").iterdir())) == 1


def test_a_dir_written_before_generations_is_adopted(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "parquet/train").mkdir(parents=True)
    (out / "parquet/train/a").write_bytes(b"1")
    (out / "stats.json").write_bytes(b"{}")
    commit_files(out, {"masked/x": b"m"}, owns=("masked/",))
    assert (out / "parquet").is_symlink() and (out / "parquet/train/a").read_bytes() == b"1"
    assert set(protocol.output_files(str(out))) == {"parquet/train/a", "stats.json", "masked/x"}


def test_a_copy_made_following_links_still_commits(tmp_path: Path) -> None:
    out = tmp_path / "out"
    commit_files(out, {"parquet/train/a": b"1", "stats.json": b"{}"})
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)  # follows links: real entries and a real .c4/current
    commit_files(copy, {"masked/x": b"m"}, owns=("masked/",))
    assert set(protocol.output_files(str(copy))) == {"parquet/train/a", "stats.json", "masked/x"}
    assert (copy / ".c4/current").is_symlink()


def test_a_second_command_is_refused_while_one_holds_the_lock(tmp_path: Path) -> None:
    out = tmp_path / "out"
    commit = protocol.begin(str(out), owns=("",), command="c4 build")
    with pytest.raises(BusyError, match=r"c4 build \(pid \d+ on .*\) is changing this directory"):
        protocol.begin(str(out), owns=("",), command="c4 forget")
    commit.abort()
    protocol.begin(str(out), owns=("",)).abort()  # free again


def test_a_dead_holders_lock_is_taken_over(tmp_path: Path) -> None:
    out = tmp_path / "out"
    code = "import sys; from pipeline.io.lock import acquire; acquire(sys.argv[1], 'x')"
    subprocess.run([sys.executable, "-c", code, str(out)], check=True)
    assert (out / ".c4/lock").exists()
    acquire(str(out), "c4 forget").release()
    assert not (out / ".c4/lock").exists()


def test_a_hand_made_dir_is_untouched_until_the_switch(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "parquet/train").mkdir(parents=True)
    (out / "parquet/train/a").write_bytes(b"1")
    before = dir_snapshot(out)
    commit = protocol.begin(str(out), owns=("masked/",))
    write(commit, "masked/x", b"m")
    commit.abort()
    assert dir_snapshot(out) == before


def test_a_switch_killed_after_moving_real_entries_aside_is_undone(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "parquet/train").mkdir(parents=True)
    (out / "parquet/train/a").write_bytes(b"1")
    commit = protocol.begin(str(out), owns=("masked/",))
    generations.retire_legacy(str(out))  # what publish does first; then the process dies
    commit.lock.release() if commit.lock else None
    protocol.recover(str(out))
    assert (out / "parquet/train/a").read_bytes() == b"1" and not (out / "parquet").is_symlink()


def test_every_entry_a_build_may_write_is_one_a_legacy_dir_adopts() -> None:
    """``generations`` (a floor module: it may not import the summary) names the top-level
    entries it adopts from a DIR written before generations; a new output of the build that it
    did not name would be left behind, outside the generation, at the first switch."""
    from pipeline.io.generations import _OUTPUT_ENTRIES
    from pipeline.summary import build_outputs

    written = {p.split("/", 1)[0] for p in build_outputs({"config": "en", "c4_version": "3.1.0"})}
    assert written <= _OUTPUT_ENTRIES, written - _OUTPUT_ENTRIES
