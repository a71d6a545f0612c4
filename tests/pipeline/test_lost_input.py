"""``c4 build`` on an input directory holding a damaged WET file, a WARC file and a dangling
symlink: every record read or dead-lettered, and the bytes no record count covers shown beside
the balance (stats.json, the summary, the data card, each dead letter).

Real DirectRunner, real files (tests/data/wet, tests/data/warc).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.config import expand_inputs
from tests.conftest import TEST_DATA, WET_DIR
from tests.filters.test_wet_resync import member_offsets

EXCERPT_25 = WET_DIR / "CC-MAIN-2016-50.excerpt-25.warc.wet.gz"
WARC = TEST_DATA / "warc" / "CC-MAIN-2024-22.whirlwind.warc.gz"


@pytest.mark.slow
def test_damage_wrong_input_and_a_dangling_symlink_are_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = EXCERPT_25.read_bytes()
    offsets = member_offsets(raw)
    damaged = bytearray(raw)
    damaged[offsets[10] + 1] ^= 1  # one bit of member 10's gzip magic
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / EXCERPT_25.name).write_bytes(bytes(damaged))
    warc = inputs / "CC-MAIN-2024-22.whirlwind.warc.wet.gz"  # a WARC under a WET name
    shutil.copy(WARC, warc)
    (inputs / "CC-MAIN-gone.warc.wet.gz").symlink_to(tmp_path / "nowhere.warc.wet.gz")
    out = tmp_path / "out"

    assert main(["build", "--input", str(inputs), "--output", str(out)]) == 0

    letters = [
        json.loads(line)
        for line in (out / "dead_letter" / "split-wet-file.jsonl").read_text().splitlines()
    ]
    by_file = {letter["source_file"]: letter for letter in letters}
    assert len(letters) == 3
    member = offsets[11] - offsets[10]
    corrupt = by_file[EXCERPT_25.name]
    assert (corrupt["reason"], corrupt["record_offset"], corrupt["lost_bytes"]) == (
        "corrupt_gzip",
        offsets[10],
        member,
    )
    assert corrupt["detail"].startswith(
        f"bytes {offsets[10]}-{offsets[11]} of the file ({member} bytes): gzip header damaged; "
        "WARC-Record-ID <urn:uuid:"
    )
    wrong = by_file[warc.name]
    assert wrong["reason"] == "not_wet"
    assert wrong["detail"].startswith("WARC request records \N{EM DASH} use a WET file")
    assert wrong["lost_bytes"] == WARC.stat().st_size - wrong["record_offset"]
    gone = by_file["CC-MAIN-gone.warc.wet.gz"]
    assert gone["reason"] == "unreadable: dangling symlink" and "lost_bytes" not in gone
    assert gone["detail"] == f"-> {tmp_path / 'nowhere.warc.wet.gz'}"

    stats = json.loads((out / "stats.json").read_text())
    rec = stats["reconciliation"]
    # Every record of the damaged file after member 10 was read: 26 records, one dead letter;
    # the WARC's warcinfo and its not_wet letter; the symlink's letter.
    assert rec["balanced"] and rec["input_records"] == 26 + 2 + 1
    assert rec["dead_lettered"] == 3
    assert rec["lost_bytes"] == member + wrong["lost_bytes"]
    assert stats["counters"]["input/lost_bytes"] == rec["lost_bytes"]
    printed = capsys.readouterr().out
    assert f"records yes; {rec['lost_bytes']:,} input bytes lost" in printed
    assert f"{rec['lost_bytes']:,} input bytes lost." in (out / "DATA_CARD.md").read_text()


def test_a_dangling_symlink_is_listed_not_skipped(tmp_path: Path) -> None:
    shutil.copy(EXCERPT_25, tmp_path / EXCERPT_25.name)
    (tmp_path / "gone.warc.wet.gz").symlink_to(tmp_path / "nowhere")
    expected = [str(tmp_path / EXCERPT_25.name), str(tmp_path / "gone.warc.wet.gz")]
    for arg in (str(tmp_path), str(tmp_path / "*.warc.wet.gz")):
        assert sorted(f.path for f in expand_inputs([arg])) == sorted(expected)


@pytest.mark.slow
def test_a_build_of_warc_and_wat_files_alone_fails_and_says_to_use_wet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every input a WARC or WAT file (no WET page in any): nothing was built, so the build
    fails (exit 1), DIR is not created, and each file's line says what it is and what to use;
    beside one WET file, the same WARC is one dead letter and the build succeeds."""
    wat = TEST_DATA / "warc" / "CC-MAIN-2024-22.whirlwind.warc.wat.gz"
    out = tmp_path / "out"
    assert main(["build", "--input", str(WARC), str(wat), "--output", str(out)]) == 1
    assert not out.exists()
    err = capsys.readouterr().err
    assert "none of the 2 input file(s) could be read" in err
    assert f"{WARC.name}: not_wet: WARC request records \N{EM DASH} use a WET file" in err
    assert f"{wat.name}: not_wet: WAT records (WARC metadata, JSON) \N{EM DASH} use a WET" in err
    assert main(["build", "--input", str(WARC), str(EXCERPT_25), "--output", str(out)]) == 0
    stats = json.loads((out / "stats.json").read_text())
    assert stats["counters"]["input/failed_files"] == 1
    assert stats["reconciliation"]["balanced"]
