"""``c4 report`` and ``c4 inspect`` from the command line: usage errors (one line, exit 2, before
any work), the sample ``c4 inspect`` prints, and ``c4 report`` on a build made before it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from filters.lineage import in_domains
from pipeline.cli import main
from tests.pipeline.report.fixtures import build, documents, lineage_rows, read_json


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("cmd") / "out")


def _usage_error(capsys: pytest.CaptureFixture[str], argv: list[str], flag: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith(f"c4 {argv[0]}:"), err
    assert flag in err, err


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["report"], "DIR"),
        (["report", "/nonexistent/build"], "DIR"),
        (["report", "{built}", "--compare", "/nonexistent/other"], "--compare"),
        (["report", "{built}", "--colour", "red"], "--colour"),
        (["inspect"], "DIR"),
        (["inspect", "/nonexistent/build"], "DIR"),
        (["inspect", "{built}", "--sample", "0"], "--sample"),
        (["inspect", "{built}", "--sample", "many"], "--sample"),
        (["inspect", "{built}", "--chars", "-1"], "--chars"),
        (["inspect", "{built}", "--domain", "not a domain"], "--domain"),
        (["inspect", "{built}", "--domain", "http://example.com/"], "--domain"),
    ],
)
def test_usage_errors_are_one_line_naming_the_flag(
    capsys: pytest.CaptureFixture[str], built: Path, argv: list[str], flag: str
) -> None:
    before = sorted(p.name for p in built.iterdir())
    _usage_error(capsys, [a.format(built=built) for a in argv], flag)
    assert sorted(p.name for p in built.iterdir()) == before, "no work before a usage error"


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "  report " in out and "  inspect " in out
    assert main(["inspect", "--help"]) == 0
    assert "--domain" in capsys.readouterr().out


def _key(url: str) -> bytes:
    return hashlib.blake2b(url.encode("utf-8"), digest_size=8).digest()


def _printed(out: str) -> list[str]:
    return [line.split(" ── ", 1)[1] for line in out.splitlines() if line.startswith("── ")]


def test_inspect_prints_the_smallest_keys_with_text_and_provenance(
    capsys: pytest.CaptureFixture[str], built: Path
) -> None:
    assert main(["inspect", str(built), "--sample", "4", "--chars", "0"]) == 0
    out = capsys.readouterr().out
    docs = sorted(documents(built), key=lambda d: _key(d["url"]))[:4]
    assert _printed(out) == [d["url"] for d in docs]
    for doc in docs:
        assert doc["text"] in out  # the whole text, --chars 0
        assert f"at offset {doc['record_offset']:,}" in out
        assert doc["record_id"] in out and doc["doc_id"] in out and doc["source_file"] in out
    # The report lists the same documents first.
    listed = read_json(built / "report" / "aggregates.json")["documents"][:4]
    assert [d["url"] for d in listed] == [d["url"] for d in docs]
    assert main(["inspect", str(built), "--sample", "4", "--chars", "0"]) == 0
    assert capsys.readouterr().out == out  # deterministic


def test_inspect_cuts_the_text_and_says_so(capsys: pytest.CaptureFixture[str], built: Path) -> None:
    assert main(["inspect", str(built), "--sample", "1", "--chars", "20"]) == 0
    out = capsys.readouterr().out
    doc = min(documents(built), key=lambda d: _key(d["url"]))
    assert doc["text"][:20] in out and doc["text"] not in out
    assert f"[… {len(doc['text']) - 20:,} more characters" in out


def test_inspect_one_domain_and_its_subdomains(
    capsys: pytest.CaptureFixture[str], built: Path
) -> None:
    rows = lineage_rows(built)
    parent = max(
        {".".join(r["domain"].split(".")[-2:]) for r in rows if r["domain"].count(".") >= 1},
        key=lambda d: (sum(1 for r in rows if in_domains(r["domain"], frozenset({d}))), d),
    )
    mine = [r for r in rows if in_domains(r["domain"], frozenset({parent}))]
    assert main(["inspect", str(built), "--domain", parent.upper(), "--sample", "50"]) == 0
    out = capsys.readouterr().out
    expected = sorted(mine, key=lambda r: _key(r["url"]))
    assert _printed(out) == [r["url"] for r in expected]


def test_report_on_a_build_made_before_the_report(tmp_path: Path, built: Path) -> None:
    old = build(tmp_path / "old", report=False)
    assert main(["report", str(old)]) == 0
    page = (old / "report.html").read_text(encoding="utf-8")
    assert "made before c4 report: its aggregates were recomputed from its outputs" in page
    kept = read_json(old / "report" / "aggregates.json")
    assert kept["source"] == "outputs"
    assert kept["domains"] == read_json(built / "report" / "aggregates.json")["domains"]


def test_forget_removes_the_report_and_c4_report_makes_it_without_the_document(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = build(tmp_path / "out")
    first = read_json(out / "report" / "aggregates.json")["documents"][0]
    assert first["url"] in (out / "report.html").read_text(encoding="utf-8")
    ids = tmp_path / "ids.txt"
    ids.write_text(first["doc_id"] + "\n")
    assert main(["forget", str(out), "--doc_ids", str(ids)]) == 0
    assert "report.html removed" in capsys.readouterr().out
    assert not (out / "report.html").exists()
    assert not (out / "report" / "aggregates.json").exists()
    assert main(["report", str(out)]) == 0
    page = (out / "report.html").read_text(encoding="utf-8")
    assert first["url"] not in page and first["excerpt"] not in page
