"""Deletions are permanent (issue 17.1): ``c4 build`` applies the forget ledger at ingest.

A rebuild into a DIR whose ``forget/ledger.json`` lists items drops their pages while reading
and says so; a forgotten doc_id blocks its URL (a copy under a new id stays out);
``--forget_ledger FILE`` carries a ledger to a new output; a build that would drop a ledger is
refused unless ``--drop_forget_ledger`` says so; a rebuild without ``--mask`` leaves no stale
``masked/``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from pathlib import Path

import pytest

from pipeline.cli import main
from tests.conftest import WET_DIR, output_tree
from tests.pipeline.forget import fixtures as ff

WET = WET_DIR / "CC-MAIN-2016-50.excerpt-25.warc.wet.gz"
# Three of its 14 kept documents, one way each: a doc_id, a URL, a domain (two pages).
DOC_ID = "25b07336-ded8-4cf9-81af-e6b16327f6e5"  # www.mayoclinic.org/...
URL = "http://www.alamocommunitycollege.org/Alamo-Community-College-radiology-classes.php"
DOMAIN = "abc.net.au"
INGEST_COUNTER = "forget/filtered:ledger"  # filters/ledger.py, spelled out: it is the contract
KEYS = ("urls", "domains", "doc_ids", "sha256", "records", "url_sha256")
GONE = 4  # documents removed by the forget
BLOCKED = 6  # pages the ledger drops while reading (two more abc.net.au pages a rule dropped)


def build(out: Path, *extra: str) -> int:
    return main(["build", "--input", str(WET), "--output", str(out), "--num_shards", "2", *extra])


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def rows(out: Path) -> list[dict[str, object]]:
    return ff.parquet_rows(out, "lineage/*/*.parquet")


def tree(out: Path) -> dict[str, bytes]:
    return {rel: p.read_bytes() for rel, p in output_tree(out).items()}


def counters(out: Path) -> dict[str, int]:
    stats = json.loads((out / "stats.json").read_text())
    assert stats["reconciliation"]["balanced"]
    return dict(stats["counters"])


@pytest.fixture(scope="module")
def forgotten(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A build of WET (2 shards, masked) from which DOC_ID, URL and DOMAIN were forgotten."""
    root = tmp_path_factory.mktemp("ledger")
    out = root / "out"
    assert build(out, "--mask") == 0
    (root / "ids.txt").write_text(DOC_ID + "\n")
    (root / "urls.txt").write_text(URL + "\n")
    (root / "domains.txt").write_text(DOMAIN + "\n")
    argv = [
        "forget",
        str(out),
        "--doc_ids",
        str(root / "ids.txt"),
        "--urls",
        str(root / "urls.txt"),
    ]
    assert main([*argv, "--domains", str(root / "domains.txt")]) == 0
    assert len(rows(out)) == 14 - GONE
    return out


@pytest.fixture()
def out(forgotten: Path, tmp_path: Path) -> Path:
    target = tmp_path / "out"
    shutil.copytree(forgotten, target, symlinks=True)
    return target


def _assert_none_forgotten(out: Path) -> None:
    urls = {str(r["url"]) for r in rows(out)}
    assert DOC_ID not in {r["doc_id"] for r in rows(out)}
    assert URL not in urls and not any(DOMAIN in u for u in urls)
    assert not any("mayoclinic" in u for u in urls)


def test_a_rebuild_applies_the_ledger_and_says_so(
    out: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = (out / "forget/ledger.json").read_bytes()
    reports = sorted(p.name for p in (out / "forget").glob("report-*"))
    code, stdout, _ = run(capsys, "build", "--input", str(WET), "--output", str(out))
    assert code == 0
    lines = [line for line in stdout.splitlines() if line.startswith("forget ledger:")]
    assert lines == [
        f"forget ledger: 6 item(s) applied (1 URL(s), 1 domain(s), 4 doc_id(s)) from "
        f"{out}/forget/ledger.json; {BLOCKED} page(s) blocked ({INGEST_COUNTER})"
    ]
    assert counters(out)[INGEST_COUNTER] == BLOCKED
    assert len(rows(out)) == 14 - GONE
    _assert_none_forgotten(out)
    # forget/ is kept: the same ledger, the same deletion reports.
    assert (out / "forget/ledger.json").read_bytes() == ledger
    assert sorted(p.name for p in (out / "forget").glob("report-*")) == reports
    assert run(capsys, "forget", str(out), "--verify")[0] == 0


def test_a_rebuild_without_mask_leaves_no_stale_masked_set(
    out: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert any(rel.startswith("masked/") for rel in tree(out))
    assert run(capsys, "build", "--input", str(WET), "--output", str(out))[0] == 0
    files = tree(out)
    assert not any(rel.startswith(("masked/", "lineage/masked/")) for rel in files)
    assert not (out / "masked").exists() and not (out / "lineage/masked").exists()
    manifest = json.loads((out / "manifest.json").read_text())["files"]
    assert not any(rel.startswith("masked/") for rel in manifest)


def _with_new_record_id(tmp_path: Path) -> Path:
    """WET with DOC_ID's record under another WARC-Record-ID: the same page, a new doc_id."""
    text = gzip.decompress(WET.read_bytes())
    old = f"<urn:uuid:{DOC_ID}>".encode()
    assert text.count(old) == 1
    new = b"<urn:uuid:00000000-1111-2222-3333-444444444444>"
    path = tmp_path / "CC-MAIN-2016-50.renamed.warc.wet.gz"
    path.write_bytes(gzip.compress(text.replace(old, new), mtime=0))
    return path


def test_a_forgotten_doc_id_blocks_its_page_under_a_new_id(
    out: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = json.loads((out / "forget/ledger.json").read_text())
    assert len(ledger["url_sha256"]) == GONE  # one per removed document, no URL spelled out
    assert not any("mayoclinic" in line for line in (out / "forget/ledger.json").read_text())
    renamed = _with_new_record_id(tmp_path)
    code, stdout, _ = run(capsys, "build", "--input", str(renamed), "--output", str(out))
    assert code == 0 and f"; {BLOCKED} page(s) blocked" in stdout
    _assert_none_forgotten(out)


def test_an_old_ledger_without_url_hashes_gets_them_from_the_reports(
    out: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = out / "forget/ledger.json"
    old = json.loads(path.read_text())
    del old["url_sha256"]  # as c4 forget wrote it before url_sha256 existed
    path.unlink()  # a hard link into the current generation: replaced, not changed in place
    path.write_text(json.dumps(old, indent=2, sort_keys=True) + "\n")
    renamed = _with_new_record_id(tmp_path)
    assert run(capsys, "build", "--input", str(renamed), "--output", str(out))[0] == 0
    _assert_none_forgotten(out)
    upgraded = json.loads(path.read_text())
    assert sorted(upgraded) == sorted(KEYS) and len(upgraded["url_sha256"]) == GONE
    # Without the reports the ledger still reads, and its doc_ids still apply.
    shutil.rmtree(tmp_path / "plain", ignore_errors=True)
    plain = tmp_path / "plain"
    (plain / "forget").mkdir(parents=True)
    (plain / "forget/ledger.json").write_text(json.dumps({"doc_ids": [DOC_ID]}))
    code, stdout, _ = run(capsys, "build", "--input", str(WET), "--output", str(plain))
    assert code == 0 and "1 doc_id(s)" in stdout and "; 1 page(s) blocked" in stdout
    assert DOC_ID not in {r["doc_id"] for r in rows(plain)}


def test_forget_ledger_carries_the_ledger_to_a_new_output(
    out: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    carried = tmp_path / "carried.json"
    shutil.copyfile(out / "forget/ledger.json", carried)
    new = tmp_path / "new"
    argv = ["build", "--input", str(WET), "--output", str(new), "--forget_ledger", str(carried)]
    code, stdout, _ = run(capsys, *argv)
    assert code == 0
    assert f"from {carried}; {BLOCKED} page(s) blocked" in stdout
    assert (new / "forget/ledger.json").read_bytes() == carried.read_bytes()
    assert counters(new)[INGEST_COUNTER] == BLOCKED
    _assert_none_forgotten(new)
    assert run(capsys, "forget", str(new), "--verify")[0] == 0
    # A ledger that holds DIR's and more is no drop: it replaces DIR's, reports kept.
    more = json.loads(carried.read_text())
    more["domains"].append("biomedsearch.com")
    carried.write_text(json.dumps(more))
    argv[4] = str(out)
    code, stdout, _ = run(capsys, *argv)
    assert code == 0 and "(1 URL(s), 2 domain(s), 4 doc_id(s))" in stdout
    assert json.loads((out / "forget/ledger.json").read_text())["domains"] == [
        "abc.net.au",
        "biomedsearch.com",
    ]
    assert list((out / "forget").glob("report-0001.json"))
    assert not any("biomedsearch" in str(r["url"]) for r in rows(out))


def _digests(out: Path) -> dict[str, str]:
    return {rel: hashlib.sha256(data).hexdigest() for rel, data in tree(out).items()}


@pytest.mark.parametrize(
    "case", ["other_ledger", "empty_ledger", "unreadable_own", "missing_file", "bad_file"]
)
def test_a_build_that_would_drop_the_ledger_is_refused(
    out: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    other = tmp_path / "other.json"
    argv = ["build", "--input", str(WET), "--output", str(out)]
    if case == "other_ledger":  # names another file that lacks DIR's entries
        other.write_text(json.dumps({"domains": ["biomedsearch.com"]}))
        argv += ["--forget_ledger", str(other)]
    elif case == "empty_ledger":
        other.write_text("{}")
        argv += ["--forget_ledger", str(other)]
    elif case == "unreadable_own":
        path = out / "forget/ledger.json"
        path.unlink()
        path.write_text("{not json")
    elif case == "missing_file":
        argv += ["--forget_ledger", str(tmp_path / "nowhere.json")]
    else:
        other.write_text(json.dumps({"doc_ids": "not a list"}))
        argv += ["--forget_ledger", str(other)]
    before = _digests(out)
    code, _, stderr = run(capsys, *argv)
    assert code == 2
    assert len(stderr.strip().splitlines()) == 1 and stderr.startswith("c4 build: ")
    flag = "--output" if case == "unreadable_own" else "--forget_ledger"
    assert flag in stderr
    if case in ("other_ledger", "empty_ledger", "unreadable_own"):
        assert "--drop_forget_ledger" in stderr
    assert _digests(out) == before and not (out / ".c4/lock").exists()


def test_drop_forget_ledger_says_so_explicitly(
    out: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, stdout, _ = run(
        capsys, "build", "--input", str(WET), "--output", str(out), "--drop_forget_ledger"
    )
    assert code == 0 and "forget ledger: none applied (--drop_forget_ledger)" in stdout
    assert len(rows(out)) == 14 and not (out / "forget").exists()
    assert INGEST_COUNTER not in counters(out)
    # With --forget_ledger: that ledger replaces DIR's forget/ (its reports do not stay).
    assert run(capsys, "forget", str(out), "--doc_ids", str(_ids(tmp_path)))[0] == 0
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"domains": [DOMAIN]}))
    argv = ["build", "--input", str(WET), "--output", str(out), "--forget_ledger", str(other)]
    assert run(capsys, *argv)[0] == 2
    code, stdout, _ = run(capsys, *argv, "--drop_forget_ledger")
    assert code == 0 and "; 4 page(s) blocked" in stdout  # the abc.net.au pages read
    assert sorted(rel for rel in tree(out) if rel.startswith("forget/")) == ["forget/ledger.json"]
    assert DOC_ID in {r["doc_id"] for r in rows(out)}


def _ids(tmp_path: Path) -> Path:
    path = tmp_path / "ids.txt"
    path.write_text(DOC_ID + "\n")
    return path
