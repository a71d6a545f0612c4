"""``c4 forget`` on a real build of the WET samples (with masked output).

Forget a domain, a URL list and doc_ids; untouched shards stay byte-identical; no masked example
holds a forgotten document; ``--verify`` passes, and fails on a planted copy; a second forget
changes nothing; bad requests change nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from filters.lineage import content_digest, document_domain
from pipeline.cli import main
from pipeline.formats import tfrecord
from tests.pipeline.forget import fixtures as ff


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ff.build(tmp_path_factory.mktemp("forget") / "out")


@pytest.fixture()
def out(base: Path, tmp_path: Path) -> Path:
    return ff.copy(base, tmp_path / "out")


def _write(path: Path, *lines: str) -> str:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return str(path)


def _forgotten(rows: list[dict[str, Any]], domain: str) -> list[dict[str, Any]]:
    return [r for r in rows if document_domain(r["url"]).endswith(domain)]


def _check_removed(out: Path, before: dict[str, str], gone: list[dict[str, Any]]) -> None:
    """Every trace of ``gone`` left the data, masked output and lineage; the rest is intact."""
    gone_ids = {r["doc_id"] for r in gone}
    rows = ff.parquet_rows(out)
    assert not gone_ids & {r["doc_id"] for r in rows}
    for shard in sorted((out / "c4/en/3.1.0").glob("c4-train.tfrecord-*")):
        urls = {e["url"][0].decode() for e in ff.tfrecord_examples(shard)}
        assert not urls & {r["url"] for r in gone}
    for row in ff.parquet_rows(out, "masked/parquet/*/*.parquet"):
        assert not gone_ids & set(row["doc_ids"])
    assert not gone_ids & {r["doc_id"] for r in ff.parquet_rows(out, "lineage/*/*.parquet")}
    # The masked lineage is what a fresh scan of the surviving masked examples gives.
    table = ff.masked_lineage(out)
    assert table == ff.masked_scan(out) and not gone_ids & set(table)
    # Shards without a forgotten document are byte-identical.
    after = ff.digests(out)
    touched = {r["parquet_file"] for r in ff.parquet_rows(out, "lineage/*/*.parquet")}
    lineage_before = [r for r in gone]
    changed_parquet = {k for k in after if k.startswith("parquet/") and after[k] != before[k]}
    assert changed_parquet == {r["parquet_file"] for r in lineage_before}
    assert changed_parquet <= touched | changed_parquet
    # TFDS metadata and stats agree with the shards.
    info = json.loads((out / "c4/en/3.1.0/dataset_info.json").read_text())
    lengths = [int(n) for n in info["splits"][0]["shardLengths"]]
    assert lengths == [len(pq.read_table(p)) for p in sorted((out / "parquet/train").glob("*"))]
    stats = json.loads((out / "stats.json").read_text())
    assert stats["reconciliation"]["balanced"]
    assert stats["counters"]["forget/removed"] == len(gone)
    num_bytes = sum(
        len(r)
        for p in sorted((out / "c4/en/3.1.0").glob("c4-train.tfrecord-*"))
        for r in tfrecord.read_tfrecord(str(p))
    )
    assert info["splits"][0]["numBytes"] == str(num_bytes)


def test_forget_domain_then_verify_and_again(out: Path, tmp_path: Path) -> None:
    rows = ff.parquet_rows(out)
    gone = _forgotten(rows, "abc.net.au") + _forgotten(rows, "au.urlm.com")
    lineage = {r["doc_id"]: r for r in ff.parquet_rows(out, "lineage/*/*.parquet")}
    gone = [{**r, "parquet_file": lineage[r["doc_id"]]["parquet_file"]} for r in gone]
    assert len(gone) == 3
    before = ff.digests(out)
    masked_before = ff.parquet_rows(out, "masked/parquet/*/*.parquet")
    domains = _write(tmp_path / "domains.txt", "# takedown 42", "ABC.net.au", "urlm.com")
    assert main(["forget", str(out), "--domains", domains]) == 0
    _check_removed(out, before, gone)
    # urlm.com matches au.urlm.com, never au-urlm.com.
    assert any(r["url"].startswith("http://au-urlm.com") for r in ff.parquet_rows(out))
    # Masked: exactly the examples holding a forgotten doc are gone, the rest unchanged in order.
    gone_ids = {r["doc_id"] for r in gone}
    expected = [r for r in masked_before if not gone_ids & set(r["doc_ids"])]
    assert ff.parquet_rows(out, "masked/parquet/*/*.parquet") == expected
    assert len(expected) < len(masked_before)
    twin = sorted((out / "masked/tfrecord/train").glob("*"))[0]
    assert [e["inputs"] for e in ff.tfrecord_examples(twin)] == [r["inputs"] for r in expected]
    # The report: what was asked and matched, digests only, never a text.
    report_text = (out / "forget/report-0001.json").read_text()
    report = json.loads(report_text)
    assert report["matched"]["documents"] == 3
    assert {d["sha256"] for d in report["matched"]["list"]} == {
        content_digest(r["text"]) for r in gone
    }
    summary = (out / "forget/report-0001.txt").read_text()
    for row in gone:
        for line in row["text"].splitlines():
            if len(line) > 20:
                assert line not in report_text and line not in summary
    assert report["masked"]["vocab"]["tainted"] is False
    # Verify scans the files; a second forget changes nothing at all.
    assert main(["forget", str(out), "--verify"]) == 0
    assert main(["forget", str(out), "--domains", domains, "--verify"]) == 0
    settled = ff.digests(out)
    assert main(["forget", str(out), "--domains", domains]) == 0
    assert ff.digests(out) == settled


def test_forget_urls_and_doc_ids(out: Path, tmp_path: Path) -> None:
    rows = ff.parquet_rows(out)
    by_domain = {document_domain(r["url"]): r for r in rows}
    mayo, epa = by_domain["www.mayoclinic.org"], by_domain["blog.epa.gov"]
    doc = by_domain["custom-cursors.com"]
    # Another scheme, host case and a tracking query: still the same normalized URL.
    shouted = mayo["url"].replace("http://www.mayoclinic.org", "https://WWW.MayoClinic.org")
    urls = _write(tmp_path / "urls.txt", shouted, epa["url"] + "?utm_source=x")
    ids = _write(tmp_path / "ids.txt", doc["doc_id"])
    lineage = {r["doc_id"]: r for r in ff.parquet_rows(out, "lineage/*/*.parquet")}
    gone = [{**r, "parquet_file": lineage[r["doc_id"]]["parquet_file"]} for r in (mayo, epa, doc)]
    before = ff.digests(out)
    assert main(["forget", str(out), "--urls", urls, "--doc_ids", ids]) == 0
    _check_removed(out, before, gone)
    assert main(["forget", str(out), "--verify"]) == 0
    # The doc_id is known as forgotten: asking again is not an error, and changes nothing.
    settled = ff.digests(out)
    assert main(["forget", str(out), "--doc_ids", ids]) == 0
    assert ff.digests(out) == settled


def test_verify_finds_a_planted_copy(out: Path, tmp_path: Path) -> None:
    rows = ff.parquet_rows(out)
    victim = next(r for r in rows if document_domain(r["url"]) == "blog.marxy.org")
    ids = _write(tmp_path / "ids.txt", victim["doc_id"])
    assert main(["forget", str(out), "--doc_ids", ids]) == 0
    assert main(["forget", str(out), "--verify"]) == 0
    # A copy of the forgotten text comes back under another URL: found by its digest.
    shard = sorted((out / "c4/en/3.1.0").glob("c4-train.tfrecord-*"))[0]
    features = {"text": victim["text"], "url": "http://mirror.example/copy"}
    with shard.open("ab") as f:
        f.write(tfrecord.frame_record(tfrecord.encode_example(features)))
    assert main(["forget", str(out), "--verify"]) == 1


def test_verify_finds_a_forgotten_doc_id_in_the_masked_lineage(out: Path, tmp_path: Path) -> None:
    victim = next(r for r in ff.parquet_rows(out) if document_domain(r["url"]) == "blog.marxy.org")
    [table] = sorted((out / "lineage/masked/train").glob("*.parquet"))
    before = table.read_bytes()
    assert victim["doc_id"] in {r["doc_id"] for r in pq.read_table(table).to_pylist()}
    ids = _write(tmp_path / "ids.txt", victim["doc_id"])
    assert main(["forget", str(out), "--doc_ids", ids]) == 0
    assert table.read_bytes() != before and main(["forget", str(out), "--verify"]) == 0
    # A stale table (as a run stopped before rewriting it would leave) fails the verify...
    table.write_bytes(before)
    assert main(["forget", str(out), "--verify"]) == 1
    # ...and forgetting again repairs it from the masked shards.
    assert main(["forget", str(out), "--doc_ids", ids]) == 0
    assert ff.masked_lineage(out) == ff.masked_scan(out)
    assert main(["forget", str(out), "--verify"]) == 0


def test_verify_fails_on_what_was_never_forgotten(out: Path, tmp_path: Path) -> None:
    domains = _write(tmp_path / "d.txt", "biomedsearch.com")
    assert main(["forget", str(out), "--domains", domains, "--verify"]) == 1


@pytest.mark.parametrize(
    ("flag", "lines", "message"),
    [
        ("--doc_ids", ["00000000-0000-0000-0000-000000000000"], "unknown doc_id"),
        ("--doc_ids", ["not-a-doc-id"], "not a doc_id"),
        ("--urls", ["not a url"], "not a URL"),
        ("--urls", ["ftp://example.com/x"], "not an http(s) URL"),
        ("--domains", ["http://example.com/"], "not a domain"),
        ("--domains", ["exa mple.com"], "not a domain"),
        ("--domains", ["# only a comment"], "lists nothing"),
    ],
)
def test_bad_requests_change_nothing(
    out: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    flag: str,
    lines: list[str],
    message: str,
) -> None:
    before = ff.digests(out)
    request = _write(tmp_path / "request.txt", *lines)
    assert main(["forget", str(out), flag, request]) == 2
    err = capsys.readouterr().err
    assert flag in err and message in err and len(err.strip().splitlines()) == 1
    assert ff.digests(out) == before


def test_no_list_and_not_a_c4_dir(out: Path, tmp_path: Path) -> None:
    before = ff.digests(out)
    assert main(["forget", str(out)]) == 2
    assert ff.digests(out) == before
    (tmp_path / "plain").mkdir()
    domains = _write(tmp_path / "d.txt", "example.com")
    assert main(["forget", str(tmp_path / "plain"), "--domains", domains]) == 2
    assert main(["forget", str(tmp_path / "missing"), "--domains", domains]) == 2


def test_dead_letter_excerpts_and_a_trained_vocabulary(out: Path, tmp_path: Path) -> None:
    # A dead letter whose excerpt names a page of the domain, and a vocabulary not shipped.
    letter = {
        "excerpt": "WARC-Target-URI: http://www.mayoclinic.org/x private words",
        "reason": "invalid_utf8",
        "record_offset": 7,
        "source_file": "x.wet.gz",
        "stage": "split-wet-file",
    }
    (out / "dead_letter").mkdir(exist_ok=True)
    (out / "dead_letter/split-wet-file.jsonl").write_text(json.dumps(letter) + "\n")
    config_path = out / "masked/config.json"
    config = json.loads(config_path.read_text())
    config["vocab"]["source"] = str(out / "vocab.model")  # as ``c4 vocab train DIR`` makes
    config_path.write_text(json.dumps(config))
    domains = _write(tmp_path / "d.txt", "mayoclinic.org")
    assert main(["forget", str(out), "--domains", domains]) == 0
    redacted = json.loads((out / "dead_letter/split-wet-file.jsonl").read_text())
    assert redacted["excerpt"] == "" and redacted["redacted"] == "c4 forget"
    assert redacted["record_offset"] == 7
    report = json.loads((out / "forget/report-0001.json").read_text())
    assert report["masked"]["vocab"]["tainted"] is True
    assert "TAINTED" in (out / "forget/report-0001.txt").read_text()
    masked = json.loads(config_path.read_text())
    assert masked["forgotten"]["examples"] == report["masked"]["removed_examples"] > 0
    assert masked["splits"]["train"]["examples"] == len(
        ff.parquet_rows(out, "masked/parquet/*/*.parquet")
    )
    assert main(["forget", str(out), "--verify"]) == 0
    # A dead letter naming a forgotten URL that comes back is found by --verify.
    with (out / "dead_letter/split-wet-file.jsonl").open("a") as f:
        f.write(json.dumps({**letter, "record_offset": 9}) + "\n")
    assert main(["forget", str(out), "--verify"]) == 1
