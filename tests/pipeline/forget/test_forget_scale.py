"""``c4 forget`` at scale (issue 17.7), end to end: ``benchmarks/forget_scale.py``'s run, asserted.

A corpus of ``C4_FORGET_SCALE_MB`` MB of WET (default 50, the issue's size: about 1 CPU-minute,
1-2 minutes of wall on 2 cores, most of it the commands' start-up; set it lower for a quick
local run) in 4 files, built into 16 shards, masked twice (``DIR/masked`` and a registered MDIR)
with a registered vocabulary; 1 % of its domains forgotten; then an independent scan of every
TFRecord and Parquet file of DIR and MDIR (no forgotten document left, every count and lineage
row the data's, every other document and masked example unchanged), and a rebuild with the
ledger whose every difference from the post-forget DIR is one docs/forget.md allows. No timing
is asserted.

The scanner's own rules (hosts, TFRecord framing, the difference categories) are checked first,
on small cases, so that a scan finding nothing means something.
"""

from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path

import pytest

from benchmarks import forget_scale as fs

MB = float(os.environ.get("C4_FORGET_SCALE_MB", "50"))


def test_hosts_compare_as_docs_forget_md_says() -> None:
    assert fs.url_host("HTTPS://WWW.Example.com:8080/a") == "www.example.com"
    assert fs.url_host("http://user@BÜCHER.de/x") == "xn--bcher-kva.de"
    assert fs.url_host("http://ΣΑΣ.gr/") == fs.host_key("σασ.gr") != fs.host_key("σας.gr")
    assert fs.host_key("straße.de") != "strasse.de"
    assert fs.in_domains(
        fs.url_host("http://shop.xn--bcher-kva.de/"), frozenset(["xn--bcher-kva.de"])
    )
    assert fs.in_domains("au.urlm.com", frozenset(["urlm.com"]))
    assert not fs.in_domains("au-urlm.com", frozenset(["urlm.com"]))


def test_pick_domains_is_one_percent_by_sha256_without_www() -> None:
    urls = [f"http://www.site{i}.org/p" for i in range(300)] + ["http://site0.org/q"]
    picked, distinct = fs.pick_domains(urls, 0.01)
    assert distinct == 300 and len(picked) == 3
    assert picked == fs.pick_domains(reversed(urls), 0.01)[0]
    assert all(not d.startswith("www.") for d in picked)


def test_tfrecord_reader_checks_framing_and_crcs(tmp_path: Path) -> None:
    import tensorflow as tf

    path = tmp_path / "x.tfrecord"
    with tf.io.TFRecordWriter(str(path)) as writer:  # TensorFlow's own framing
        for record in (b"one", b"two"):
            writer.write(record)
    assert list(fs.tfrecords(path)) == [b"one", b"two"]
    data = bytearray(path.read_bytes())
    data[13] ^= 1  # a byte of the first record's data
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="data CRC"):
        list(fs.tfrecords(path))
    path.write_bytes(struct.pack("<Q", 3) + b"\0" * 4)
    with pytest.raises(ValueError, match=r"length CRC|truncated"):
        list(fs.tfrecords(path))


def _doc(doc_id: str, url: str, *lines: str) -> fs.Doc:
    return fs.Doc(doc_id, url, "\n".join(lines), "train")


def test_compare_rebuild_explains_only_what_dedup_credited_to_a_forgotten_page() -> None:
    forgotten_url = "http://gone.org/a"
    others = {
        u: fs._md5(u)
        for u in (f"http://kept.org/{i}" for i in range(40))
        if fs._md5(u) > fs._md5(forgotten_url)
    }
    late, later, *_ = sorted(others, key=others.get)  # type: ignore[arg-type]
    pages = {
        "f": fs.Page(forgotten_url, ("Shared line.", "Gone line.")),
        "k1": fs.Page(late, ("Own line.", "Shared line.")),
        "k2": fs.Page(later, ("Another line.",)),
    }
    domains = frozenset(["gone.org"])
    forgotten = {"f": _doc("f", forgotten_url, "Shared line.", "Gone line.")}
    after = {"k1": _doc("k1", late, "Own line.")}
    rebuild = {"k1": _doc("k1", late, "Own line.", "Shared line.")}
    result = fs.compare_rebuild(after, rebuild, forgotten, pages, domains)
    assert result["unexplained"] == 0
    assert result["counts"]["lines given back, credited to a forgotten document"] == 1
    # A line no forgotten page holds, or one the rebuild lost, is unexplained.
    rebuild["k1"] = _doc("k1", late, "Own line.", "Invented line.")
    assert fs.compare_rebuild(after, rebuild, forgotten, pages, domains)["unexplained"] == 1
    rebuild["k1"] = _doc("k1", late, "Shared line.")  # "Own line." lost: unexplained
    assert fs.compare_rebuild(after, rebuild, forgotten, pages, domains)["unexplained"] == 1
    # A page back in the rebuild, or gone from it, is explained only through such a line.
    back = fs.compare_rebuild(
        {}, {"k1": _doc("k1", late, "Shared line.")}, forgotten, pages, domains
    )
    assert back["unexplained"] == 0
    gone = fs.compare_rebuild(
        {"k2": _doc("k2", later, "Another line.")}, {}, forgotten, pages, domains
    )
    assert gone["unexplained"] == 1


@pytest.mark.slow
def test_forget_at_scale_is_proven_by_an_independent_scan(tmp_path: Path) -> None:
    inputs = fs.corpus(tmp_path / "wet", MB, 4)
    result = fs.run(tmp_path, inputs, num_shards=16)
    fs.assert_proven(result)
    assert result["wet_MB"] >= MB * 0.99
    assert result["documents_forgotten"] < result["documents_before"] / 10
    dir_files = result["files"]["DIR"]
    # Only the shards holding a forgotten document were rewritten: others are byte-identical.
    for kind in ("TFRecord shards", "Parquet shards", "lineage"):
        assert dir_files[kind].get("rewritten", 0) >= 1
        assert dir_files[kind].get("removed", 0) == dir_files[kind].get("added", 0) == 0
    assert result["scan"]["DIR"]["documents"] == (
        result["documents_before"] - result["documents_forgotten"]
    )
    for name in ("DIR/masked", "MDIR"):
        assert result["masked"][name]["examples_holding_forgotten_documents"] >= 1

    # The scan is not blind: a kept domain is found, and a damaged shard is named.
    rebuilt = tmp_path / "rebuild" / "dir"
    kept_url = next(iter(fs.scan(rebuilt, frozenset(), frozenset()).documents.values())).url
    host = fs.url_host(kept_url)
    assert fs.scan(rebuilt, frozenset([host]), frozenset()).remains
    copy = tmp_path / "copy"
    shutil.copytree(rebuilt, copy, symlinks=True)
    shard = next(p for p in sorted((copy / "c4").rglob("c4-train.tfrecord-*")))
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 1
    shard.unlink()  # a hard link of the committed generation: write a new file
    shard.write_bytes(bytes(data))
    assert any("CRC" in f for f in fs.scan(copy, frozenset(), frozenset()).damaged)
