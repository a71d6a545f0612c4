"""``c4 forget --verify`` cannot be fooled: a real build, masked, with two domains forgotten.

Exit codes: 0 clean; 1 something listed remains (a stray copy holding a forgotten document, a
restored masked TFRecord); 3 the dataset is damaged or unreadable (a flipped bit, a truncated or
missing shard, a count that is not the data's, a stray file with nothing forgotten in it). Each
failure ends with one line on stderr and never a traceback.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline.cli import main
from tests.pipeline.forget import fixtures as ff

TFDS = "c4/en/3.1.0"
FORGOTTEN = ("abc.net.au", "urlm.com")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ff.build(tmp_path_factory.mktemp("verify") / "out")


@pytest.fixture(scope="module")
def forgotten(built: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = ff.copy(built, tmp_path_factory.mktemp("forgotten") / "out")
    domains = tmp_path_factory.mktemp("request") / "domains.txt"
    domains.write_text("\n".join(FORGOTTEN) + "\n", encoding="utf-8")
    assert main(["forget", str(out), "--domains", str(domains)]) == 0
    return out


@pytest.fixture()
def out(forgotten: Path, tmp_path: Path) -> Path:
    return ff.copy(forgotten, tmp_path / "out")


def _changed(built: Path, out: Path, prefix: str) -> list[str]:
    """Files under ``prefix`` the forget rewrote (relative paths)."""
    before, after = ff.digests(built), ff.digests(out)
    return sorted(k for k in after if k.startswith(prefix) and before.get(k) != after[k])


def _verify(out: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["forget", str(out), "--verify"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_a_forgotten_dir_verifies_clean(out: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, printed, err = _verify(out, capsys)
    assert code == 0, printed
    assert "counts agree" in printed and not err


@pytest.mark.parametrize("name", ["{}.old", ".{}.bak"])
def test_a_stray_parquet_copy_with_forgotten_documents_remains(
    built: Path, out: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    [shard, *_] = _changed(built, out, "parquet/")
    stray = out / Path(shard).parent / name.format(Path(shard).name)
    shutil.copyfile(built / shard, stray)
    if not stray.name.startswith("."):  # what makes it matter: a directory read takes it in
        assert pq.read_table(out / "parquet/train").num_rows > sum(
            pq.read_metadata(p).num_rows for p in (out / "parquet/train").glob("*.parquet")
        )
    code, printed, err = _verify(out, capsys)
    rel = stray.relative_to(out).as_posix()
    assert code == 1, printed
    assert f"remains: {rel}#" in printed and f"damaged: {rel}: stray file" in printed
    assert "remain in" in _one_line(err)


def test_a_stray_tfrecord_copy_with_forgotten_documents_remains(
    built: Path, out: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    [shard, *_] = _changed(built, out, TFDS + "/c4-train")
    shutil.copyfile(built / shard, out / f"{shard}.bak")
    code, printed, err = _verify(out, capsys)
    assert code == 1, printed
    assert f"remains: {shard}.bak#" in printed and "domain:" in printed
    _one_line(err)


@pytest.mark.parametrize(
    ("stray", "content"),
    [
        ("parquet/train/{untouched}.old", "copy"),  # a copy with nothing forgotten in it
        ("parquet/train/notes.txt", "text"),  # not a dataset file: pyarrow chokes on it
        ("parquet/train/.{untouched}.swp", "copy"),  # hidden, but named like a dataset file
        ("lineage/train/part-00000-of-00002.parquet", "copy"),  # an older build's name
        (TFDS + "/c4-validation.tfrecord-00000-of-00001", "garbage"),  # unreadable
        ("parquet.old/train/{untouched}", "copy"),  # a whole directory beside the dataset
        ("vocab.model", "garbage"),  # anything not on the allow-list (and not registered)
        ("masked/tfrecord/train/part-00000-of-00001.tfrecord.bak", "garbage"),
    ],
)
def test_a_stray_file_without_forgotten_documents_is_damage(
    built: Path, out: Path, capsys: pytest.CaptureFixture[str], stray: str, content: str
) -> None:
    changed = {Path(p).name for p in _changed(built, out, "parquet/")}
    untouched = next(p for p in sorted((out / "parquet/train").glob("*")) if p.name not in changed)
    path = out / stray.format(untouched=untouched.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"copy": untouched.read_bytes(), "text": b"notes\n", "garbage": os.urandom(64)}
    path.write_bytes(data[content])
    code, printed, err = _verify(out, capsys)
    assert code == 3, printed
    rel = path.relative_to(out).as_posix()
    assert f"damaged: {rel}: stray file" in printed and "remains:" not in printed
    assert rel in _one_line(err)


def test_what_may_be_beside_the_dataset(
    built: Path, out: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The allow-list: ledger and reports, dead letters, drops, report, hidden files that are no
    dataset file, and the commit protocol's private area, old generations included."""
    assert (out / "forget/ledger.json").is_file() and (out / "forget/report-0001.json").is_file()
    (out / "dead_letter").mkdir()
    (out / "dead_letter/split-wet-file.jsonl").write_text("")
    (out / "drops").mkdir()
    (out / "drops/part-00000.parquet").write_bytes(b"the drop record's own format")
    (out / "parquet/train/.DS_Store").write_bytes(b"\0")
    (out / "report.html").write_text("<html></html>")
    # A vocabulary trained on DIR and registered in it (``forget/derived.json``) may live there.
    path = out / "forget/derived.json"
    registry = json.loads(path.read_text()) if path.exists() else {"format": 1, "derived": []}
    registry["derived"].append({"kind": "vocabulary", "path": str(out / "vocab.model")})
    path.write_text(json.dumps(registry))
    (out / "vocab.model").write_bytes(b"a model")
    old_generation = out / ".c4/generations/0123456789abcdef"
    shutil.copytree(built, old_generation)  # the data before the forget, not reachable
    code, printed, _ = _verify(out, capsys)
    assert code == 0, printed
    # A dataset file is no report: in forget/ too, it is a stray.
    (out / "forget/part-00000-of-00004.parquet").write_bytes(b"x")
    code, printed, _ = _verify(out, capsys)
    assert code == 3 and "damaged: forget/part-00000-of-00004.parquet: stray file" in printed


def test_a_restored_masked_tfrecord_remains(
    built: Path, out: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The pre-forget masked TFRecord, put back: its Parquet twin no longer holds the examples
    that had forgotten tokens, so they are found, though TFRecords carry no doc_ids."""
    [twin] = _changed(built, out, "masked/tfrecord/")
    shutil.copyfile(built / twin, out / twin)
    code, printed, err = _verify(out, capsys)
    assert code == 1, printed
    removed = json.loads((out / "masked/config.json").read_text())["forgotten"]["examples"]
    assert removed > 0 and printed.count(f"remains: {twin}#") == removed
    assert twin in _one_line(err)


def _flip(path: Path, at: float) -> None:
    data = bytearray(path.read_bytes())
    data[int(len(data) * at)] ^= 0x10
    path.write_bytes(bytes(data))


def _truncate(path: Path, at: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * at)])


@pytest.mark.parametrize(
    ("damage", "rel"),
    [
        (lambda p: _flip(p, 0.5), TFDS + "/c4-train.tfrecord-00001-of-00004"),
        (lambda p: _truncate(p, 0.9), TFDS + "/c4-train.tfrecord-00002-of-00004"),
        (lambda p: _flip(p, 0.5), "parquet/train/part-00001-of-00004.parquet"),
        (lambda p: _truncate(p, 0.5), "parquet/train/part-00002-of-00004.parquet"),
        (lambda p: _flip(p, 0.3), "masked/tfrecord/train/part-00000-of-00001.tfrecord"),
        (lambda p: _truncate(p, 0.5), "lineage/train/part-00001-of-00004.parquet"),
        (lambda p: p.unlink(), "parquet/train/part-00003-of-00004.parquet"),
        (lambda p: p.unlink(), TFDS + "/features.json"),
    ],
    ids=[
        "flip-tfrecord",
        "cut-tfrecord",
        "flip-parquet",
        "cut-parquet",
        "flip-masked",
        "cut-lineage",
        "no-parquet",
        "no-features",
    ],
)
def test_a_damaged_shard_exits_3_with_one_line(
    out: Path, capsys: pytest.CaptureFixture[str], damage: object, rel: str
) -> None:
    damage(out / rel)  # type: ignore[operator]
    code, printed, err = _verify(out, capsys)
    assert code == 3, printed
    assert "remains:" not in printed
    line = _one_line(err)
    assert "damaged or unreadable" in line and rel in line


@pytest.mark.parametrize(
    ("rel", "path", "value"),
    [
        ("stats.json", ("splits", "train", "documents"), 1),
        ("stats.json", ("splits", "train", "text_bytes"), 1),
        ("stats.json", ("reconciliation", "kept"), 1),
        (TFDS + "/dataset_info.json", ("splits", 0, "numBytes"), "1"),
        (TFDS + "/dataset_info.json", ("splits", 0, "shardLengths", 0), "1"),
        ("masked/config.json", ("splits", "train", "examples"), 1),
        ("masked/config.json", ("splits", "train", "documents"), 1),
        ("masked/config.json", ("splits", "train", "targets_tokens"), 1),
    ],
)
def test_every_count_is_checked_against_the_data(
    out: Path, capsys: pytest.CaptureFixture[str], rel: str, path: tuple, value: object
) -> None:
    data = json.loads((out / rel).read_text())
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    (out / rel).write_text(json.dumps(data))
    code, printed, err = _verify(out, capsys)
    assert code == 3, printed
    assert Path(rel).name in _one_line(err) and "the data gives" in err


def test_lineage_that_does_not_describe_its_shard_is_damage(
    out: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pipeline import lineage

    path = out / "lineage/train/part-00001-of-00004.parquet"
    rows = pq.read_table(path).to_pylist()
    rows[0], rows[1] = rows[1], rows[0]
    path.write_bytes(lineage.lineage_bytes(rows))
    code, _, err = _verify(out, capsys)
    assert code == 3 and "does not describe" in _one_line(err)


def test_remains_win_over_damage(
    built: Path, out: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    [shard, *_] = _changed(built, out, "parquet/")
    shutil.copyfile(built / shard, out / f"{shard}.old")
    _flip(out / TFDS / "c4-train.tfrecord-00001-of-00004", 0.5)
    code, printed, err = _verify(out, capsys)
    assert code == 1 and "damaged: " in printed
    assert "damaged or stray file(s) too" in _one_line(err)


def test_an_unreadable_ledger_exits_3(out: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (out / "forget/ledger.json").write_text("{not json")
    code, _, err = _verify(out, capsys)
    assert code == 3 and "JSONDecodeError" in _one_line(err)


def test_the_page_of_a_forgotten_doc_id_is_found_by_its_url(
    out: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Forgotten by doc_id, back under another doc_id with another text: its URL gives it away."""
    from pipeline.formats import tfrecord

    victim = next(r for r in ff.parquet_rows(out) if "blog.marxy.org" in r["url"])
    (tmp_path / "ids.txt").write_text(victim["doc_id"] + "\n")
    assert main(["forget", str(out), "--doc_ids", str(tmp_path / "ids.txt")]) == 0
    shard = sorted((out / TFDS).glob("c4-train.tfrecord-*"))[0]
    features = {"text": "Another text altogether.", "url": victim["url"]}
    with shard.open("ab") as f:
        f.write(tfrecord.frame_record(tfrecord.encode_example(features)))
    code, printed, _ = _verify(out, capsys)
    rel = shard.relative_to(out).as_posix()
    assert code == 1 and f"remains: {rel}#" in printed
    assert "url of a forgotten document" in printed
