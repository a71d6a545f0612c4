"""Issue 16, item 2: the summary of ``c4 build`` names every output written and only those,
masked sets included (``--mask``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline import summary
from pipeline.cli import main
from tests.conftest import EDGE_DIR


def _stats(documents: int, dead: int = 0) -> dict:
    return {
        "config": "en",
        "c4_version": "3.1.0",
        "splits": {
            "train": {"documents": documents, "num_bytes": 1, "text_bytes": 1, "num_shards": 1},
            "validation": {"documents": 0, "num_bytes": 0, "text_bytes": 0, "num_shards": 0},
        },
        "reconciliation": {
            "input_records": documents + dead,
            "kept": documents,
            "dropped": {},
            "dropped_total": 0,
            "dead_lettered": dead,
            "balanced": True,
            "unaccounted": 0,
        },
        "counters": {},
    }


def _outputs(text: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index("outputs:") + 1
    return [line.strip() for line in lines[start:] if line.startswith("  ")]


def test_the_given_outputs_are_listed_in_order() -> None:
    text = summary.format_summary(
        _stats(3), "out/", outputs=["c4/en/3.1.0/", "parquet/", "masked/", "stats.json"]
    )
    assert _outputs(text) == ["out/c4/en/3.1.0/", "out/parquet/", "out/masked/", "out/stats.json"]


def test_without_a_look_at_dir_the_stats_decide() -> None:
    empty = _outputs(summary.format_summary(_stats(0, dead=1), "out"))
    assert "out/parquet/" not in empty and "out/lineage/" not in empty
    assert "out/dead_letter/" in empty and "out/c4/en/3.1.0/" in empty
    full = _outputs(summary.format_summary(_stats(5), "out"))
    assert "out/parquet/" in full and "out/dead_letter/" not in full


def test_masked_splits_are_rows() -> None:
    masked = {"splits": {"train": {"examples": 57, "documents": 14, "shards": 1}}}
    text = summary.format_summary(_stats(14), "out", masked=masked)
    assert any(
        line.split()
        == ["masked:", "train", "57", "examples", "from", "14", "documents,", "1", "shard(s)"]
        for line in text.splitlines()
    ), text


def _summary(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 0
    return capsys.readouterr().out


def _written(out: Path, listed: list[str]) -> None:
    for path in listed:
        assert Path(path).exists(), f"the summary lists {path}, which does not exist"
    for entry in out.iterdir():
        name = entry.name + ("/" if entry.is_dir() else "")
        if name in ("c4/", ".c4/"):
            continue  # listed as c4/<config>/<version>/; the commit protocol's own area
        assert f"{out}/{name}" in listed, f"{name} written but not listed"


def test_a_build_without_documents_lists_only_what_it_wrote(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Before: parquet/ and lineage/ were listed, and did not exist."""
    out = tmp_path / "out"
    broken = EDGE_DIR / "CC-MAIN-2016-50.corrupt_two_warcinfo.wet.gz"
    text = _summary(capsys, ["build", "--input", str(broken), "--output", str(out)])
    assert re.search(r"kept: train\s+0$", text, re.MULTILINE)
    listed = _outputs(text)
    assert f"{out}/parquet/" not in listed and f"{out}/lineage/" not in listed
    _written(out, listed)


def test_a_masked_build_names_its_masked_set(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Before: the summary of ``c4 build --mask`` never mentioned masking."""
    out = tmp_path / "out"
    text = _summary(capsys, ["build", "--mask", "--output", str(out)])
    assert re.search(r"^  masked: train\s+\d+ examples from 14 documents", text, re.MULTILINE)
    listed = _outputs(text)
    assert f"{out}/masked/" in listed
    _written(out, listed)
