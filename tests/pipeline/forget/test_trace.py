"""``c4 trace DIR --url|--doc_id|--domain`` on a real build with masked output."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from filters.lineage import content_digest, document_domain
from pipeline.cli import main
from tests.pipeline.forget import fixtures as ff


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ff.build(tmp_path_factory.mktemp("trace") / "out")


def _trace(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[dict], str]:
    code = main(["trace", *argv, "--json"])
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines() if line.strip()]
    return code, rows, captured.err


def test_trace_by_doc_id_url_and_domain(built: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = next(r for r in ff.parquet_rows(built) if "mayoclinic" in r["url"])
    for flag, value in (
        ("--doc_id", doc["doc_id"]),
        ("--url", doc["url"].replace("http://www.", "HTTPS://WWW.")),
        ("--domain", "MayoClinic.org"),
    ):
        code, rows, _ = _trace(capsys, str(built), flag, value)
        assert code == 0
        assert [r["doc_id"] for r in rows] == [doc["doc_id"]]
    row = rows[0]
    assert row["source_file"] == doc["source_file"]
    assert row["record_offset"] == doc["record_offset"]
    assert row["sha256"] == content_digest(doc["text"])
    # Where it lives: the TFRecord example at that position is this document, as is the row.
    example = ff.tfrecord_examples(built / row["tfrecord_file"])[row["tfrecord_index"]]
    assert example["text"][0].decode() == doc["text"]
    parquet = ff.parquet_rows(built, row["parquet_file"])
    assert parquet[row["parquet_row"]]["doc_id"] == doc["doc_id"]
    assert row["masked"]
    for place in row["masked"]:
        path, number = place.split("#")
        assert doc["doc_id"] in ff.parquet_rows(built, path)[int(number)]["doc_ids"]


def test_trace_domain_covers_subdomains(built: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, rows, _ = _trace(capsys, str(built), "--domain", "biomedsearch.com")
    expected = {
        r["doc_id"]
        for r in ff.parquet_rows(built)
        if document_domain(r["url"]).endswith("biomedsearch.com")
    }
    assert code == 0 and len(expected) > 1
    assert {r["doc_id"] for r in rows} == expected


def test_trace_readable_and_not_found(built: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trace", str(built), "--domain", "mayoclinic.org"]) == 0
    out = capsys.readouterr().out
    assert "came from" in out and "tfrecord" in out and "masked" in out
    assert main(["trace", str(built), "--domain", "nowhere.example"]) == 1
    assert "no document matches" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["--url", "not a url"],
        ["--domain", "a/b"],
        ["--doc_id", "xyz"],
        [],
        ["--url", "http://a.com/", "--domain", "a.com"],
    ],
)
def test_trace_usage_errors(
    built: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["trace", str(built), *argv]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_trace_reads_the_masked_lineage_and_falls_back_to_a_scan(
    built: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert ff.masked_lineage(built) == ff.masked_scan(built)
    doc = next(r for r in ff.parquet_rows(built) if "mayoclinic" in r["url"])
    _, [expected], _ = _trace(capsys, str(built), "--doc_id", doc["doc_id"])
    places = ff.masked_lineage(built)[doc["doc_id"]]
    assert expected["masked"] == [f"{p}#{r}" for p, r, _, _ in places]
    # The table is what trace reads: with the masked Parquet gone, it still answers from it.
    table_only = ff.copy(built, tmp_path / "table_only")
    for path in (table_only / "masked" / "parquet").rglob("*.parquet"):
        path.unlink()
    _, [row], _ = _trace(capsys, str(table_only), "--doc_id", doc["doc_id"])
    assert row["masked"] == expected["masked"]
    # An output masked before the table existed: the scan gives the same answer.
    older = ff.copy(built, tmp_path / "older")
    shutil.rmtree(older / "lineage" / "masked")
    _, [row], _ = _trace(capsys, str(older), "--doc_id", doc["doc_id"])
    assert row["masked"] == expected["masked"]


def test_trace_after_forget(
    built: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = ff.copy(built, tmp_path / "out")
    doc = next(r for r in ff.parquet_rows(out) if "mayoclinic" in r["url"])
    ids = tmp_path / "ids.txt"
    ids.write_text(doc["doc_id"] + "\n", encoding="utf-8")
    assert main(["forget", str(out), "--doc_ids", str(ids)]) == 0
    capsys.readouterr()
    code, rows, err = _trace(capsys, str(out), "--doc_id", doc["doc_id"])
    assert code == 0 and rows == [] and "forgotten" in err
