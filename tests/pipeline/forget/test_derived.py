"""Every output derived from a DIR is registered in it and forgotten with it (issue 17.2).

A real build of the WET samples with ``DIR/masked``, a set masked elsewhere (``c4 mask DIR
--output MDIR --epoch 1``) and a vocabulary (``c4 vocab train``): the registry names them, MDIR
names DIR; ``c4 forget DIR`` and ``c4 forget MDIR`` reach every set; ``--verify`` reads them and
fails on one it cannot reach; ``--unregister`` drops one deleted on purpose; a rebuild keeps the
registry and keeps its ``masked`` entry true.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from filters.lineage import document_domain
from pipeline import derived
from pipeline.cli import main
from tests.pipeline.forget import fixtures as ff

DOMAINS = ("abc.net.au", "urlm.com")


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("derived")
    ff.build(root / "out")
    assert main(["mask", str(root / "out"), "--output", str(root / "m1"), "--epoch", "1"]) == 0
    return root


def relocate(base: Path, dest: Path) -> tuple[Path, Path]:
    """A copy of DIR and MDIR at ``dest``, the registry and MDIR's source pointing at it (as a
    user moving both would fix them)."""
    out, mdir = ff.copy(base / "out", dest / "out"), ff.copy(base / "m1", dest / "m1")
    registry = out / derived.REGISTRY
    registry.write_text(registry.read_text().replace(str(base / "m1"), str(mdir)))
    config = mdir / "config.json"
    config.write_text(config.read_text().replace(str(base / "out"), str(out)))
    return out, mdir


@pytest.fixture()
def dirs(base: Path, tmp_path: Path) -> tuple[Path, Path]:
    return relocate(base, tmp_path)


def _domains(tmp_path: Path) -> str:
    path = tmp_path / "domains.txt"
    path.write_text("\n".join(DOMAINS) + "\n", encoding="utf-8")
    return str(path)


def _gone_ids(out: Path) -> set[str]:
    def listed(url: str) -> bool:
        domain = document_domain(url)
        return any(domain == d or domain.endswith("." + d) for d in DOMAINS)

    return {r["doc_id"] for r in ff.parquet_rows(out) if listed(r["url"])}


def _held(root: Path, masked: str) -> set[str]:
    rows = ff.parquet_rows(root, f"{masked}parquet/*/*.parquet")
    return {d for r in rows for d in r["doc_ids"]}


def _report(out: Path, number: int = 1) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / f"forget/report-{number:04d}.json").read_text())
    return data


def test_mask_registers_its_set_and_names_its_source(base: Path) -> None:
    entries = derived.load(str(base / "out"))
    assert [(e.kind, e.path) for e in entries] == [
        ("masked", str(base / "m1")),
        ("masked", "masked"),
    ]
    config = json.loads((base / "m1/config.json").read_text())
    assert config["source"] == str(base / "out") and config["epoch"] == 1
    # DIR/masked names no absolute path: DIR stays movable, its bytes do not depend on where.
    assert "source" not in json.loads((base / "out/masked/config.json").read_text())


def test_forget_dir_forgets_every_registered_set(
    dirs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, mdir = dirs
    gone = _gone_ids(out)
    assert gone & _held(mdir, "") and gone & _held(out, "masked/")
    before = ff.parquet_rows(mdir, "parquet/*/*.parquet")
    assert main(["forget", str(out), "--domains", _domains(tmp_path)]) == 0
    assert not gone & _held(mdir, "") and not gone & _held(out, "masked/")
    # MDIR lost exactly its examples holding a forgotten document, the rest in order.
    expected = [r for r in before if not gone & set(r["doc_ids"])]
    assert ff.parquet_rows(mdir, "parquet/*/*.parquet") == expected
    assert ff.masked_lineage(mdir, "lineage") == ff.masked_scan(mdir, "")
    # One report names the set, what it lost, and its collateral.
    report = _report(out)
    [entry] = report["derived"]["sets"]
    assert entry["path"] == str(mdir) and entry["status"] == "changed"
    assert entry["removed_examples"] == len(before) - len(expected) > 0
    assert (
        f"masked set {mdir}: {entry['removed_examples']} example(s) removed"
        in (out / "forget/report-0001.txt").read_text()
    )
    assert not (out / "forget/report-0002.json").exists()
    capsys.readouterr()
    assert main(["forget", str(out), "--verify"]) == 0
    assert f"masked set {mdir}:" in capsys.readouterr().out
    # Again: nothing left anywhere, nothing changes.
    settled = ff.digests(out), ff.digests(mdir)
    assert main(["forget", str(out), "--domains", _domains(tmp_path)]) == 0
    assert (ff.digests(out), ff.digests(mdir)) == settled


def test_a_reader_that_goes_away_does_not_stop_the_forget_halfway(
    dirs: tuple[Path, Path], tmp_path: Path
) -> None:
    """``c4 forget DIR ... | head -1``: standard output closed before the first line. DIR, then
    the set outside it, are forgotten all the same, the report says so, no traceback, exit 0
    (``pipeline/stdio.py``)."""
    import os
    import subprocess
    import sys

    out, mdir = dirs
    gone = _gone_ids(out)
    command = [sys.executable, "-m", "pipeline.cli", "forget", str(out)]
    proc = subprocess.Popen(
        [*command, "--domains", _domains(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "C4_PROGRESS_INTERVAL": "0"},
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before the command prints anything
    errors = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == 0, errors
    assert "Traceback" not in errors and "BrokenPipe" not in errors, errors
    assert not gone & _held(mdir, "") and not gone & _held(out, "masked/")
    [entry] = _report(out)["derived"]["sets"]
    assert entry["status"] == "changed" and entry["removed_examples"] > 0


def test_forget_through_the_masked_set(dirs: tuple[Path, Path], tmp_path: Path) -> None:
    out, mdir = dirs
    gone = _gone_ids(out)
    assert main(["forget", str(mdir), "--domains", _domains(tmp_path)]) == 0
    assert not gone & {r["doc_id"] for r in ff.parquet_rows(out)}
    assert not gone & _held(mdir, "") and not gone & _held(out, "masked/")
    assert main(["forget", str(mdir), "--verify"]) == 0
    assert main(["forget", str(out), "--verify"]) == 0


def test_verify_reads_the_sets(dirs: tuple[Path, Path], tmp_path: Path) -> None:
    out, mdir = dirs
    shard = sorted((mdir / "parquet/train").glob("*.parquet"))[0]
    stale = shard.read_bytes()
    assert main(["forget", str(out), "--domains", _domains(tmp_path)]) == 0
    assert main(["forget", str(out), "--verify"]) == 0
    # The set's shard from before the forget, put back: its forgotten documents are found.
    shard.unlink()
    shard.write_bytes(stale)
    assert main(["forget", str(out), "--verify"]) == 1
    assert main(["forget", str(mdir), "--verify"]) == 1


def test_an_unreachable_set_fails_and_is_named(
    dirs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, mdir = dirs
    moved = tmp_path / "moved"
    mdir.rename(moved)
    capsys.readouterr()
    # A forget meanwhile does DIR, names the set it could not reach, exits 1...
    assert main(["forget", str(out), "--domains", _domains(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"registered masked set {mdir} of {out} was not forgotten: unreachable" in err
    [entry] = _report(out)["derived"]["sets"]
    assert entry["status"] == "unreachable"
    # ...--verify fails on it, by name...
    assert main(["forget", str(out), "--verify"]) == 3
    captured = capsys.readouterr()
    assert f"damaged: {mdir}: registered masked set unreachable" in captured.out
    assert str(mdir) in captured.err.splitlines()[-1]
    # ...and once the set is back, a rerun finishes it in the same report.
    moved.rename(mdir)
    assert main(["forget", str(out), "--domains", _domains(tmp_path)]) == 0
    [entry] = _report(out)["derived"]["sets"]
    assert entry["status"] == "changed" and entry["removed_examples"] > 0
    assert not (out / "forget/report-0002.json").exists()
    assert main(["forget", str(out), "--verify"]) == 0
    # A damaged config.json is unreachable too.
    (mdir / "config.json").unlink()
    (mdir / "config.json").write_text("{not json")
    assert main(["forget", str(out), "--verify"]) == 3


def test_unregister_a_set_deleted_on_purpose(
    dirs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, mdir = dirs
    assert main(["forget", str(out), "--domains", _domains(tmp_path)]) == 0
    shutil.rmtree(mdir)
    assert main(["forget", str(out), "--verify"]) == 3
    capsys.readouterr()
    assert main(["forget", str(out), "--unregister", str(mdir)]) == 0
    assert f"unregistered: masked {mdir}" in capsys.readouterr().out
    assert [e.path for e in derived.load(str(out))] == ["masked"]
    assert main(["forget", str(out), "--verify"]) == 0
    assert main(["forget", str(out), "--unregister", str(mdir)]) == 2
    assert "is not registered" in capsys.readouterr().err


def test_a_vocabulary_trained_on_dir_is_registered_and_tainted(
    dirs: tuple[Path, Path], tmp_path: Path
) -> None:
    out, _ = dirs
    model = tmp_path / "own.model"
    assert main(["vocab", "train", str(out), "--output", str(model), "--vocab_size", "500"]) == 0
    [vocab] = [e for e in derived.load(str(out)) if e.kind == "vocabulary"]
    assert vocab.path == str(model) and vocab.sha256 and not vocab.tainted_by
    assert main(["forget", str(out), "--domains", _domains(tmp_path)]) == 0
    [named] = _report(out)["derived"]["vocabularies"]
    assert named["path"] == str(model) and named["tainted"] is True
    assert f"vocabulary {model}: TAINTED" in (out / "forget/report-0001.txt").read_text()
    [vocab] = [e for e in derived.load(str(out)) if e.kind == "vocabulary"]
    assert vocab.tainted_by == ("forget/report-0001.json",)
    # Trained again after the forget: registered anew, clean until the next forget.
    assert main(["vocab", "train", str(out), "--output", str(model), "--vocab_size", "500"]) == 0
    [vocab] = [e for e in derived.load(str(out)) if e.kind == "vocabulary"]
    assert not vocab.tainted_by


def test_a_rebuild_keeps_the_registry_and_its_masked_entry_true(
    dirs: tuple[Path, Path], tmp_path: Path
) -> None:
    out, mdir = dirs
    argv = ["build", "--input", *ff.INPUTS, "--output", str(out), "--num_shards", ff.NUM_SHARDS]
    assert main([*argv, "--mask"]) == 0
    assert [e.path for e in derived.load(str(out))] == sorted([str(mdir), "masked"])
    assert main(argv) == 0  # no masked/ any more: its entry goes, MDIR's stays
    assert [e.path for e in derived.load(str(out))] == [str(mdir)]
    gone = _gone_ids(out)
    assert main(["forget", str(out), "--domains", _domains(tmp_path)]) == 0
    assert not gone & _held(mdir, "")
    assert main(["forget", str(out), "--verify"]) == 0
