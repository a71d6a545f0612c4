"""benchmarks/clean_throughput.py helpers (the benchmark itself runs with `make bench`)."""

from __future__ import annotations

import gzip

import pytest

from benchmarks.clean_throughput import check_identical, features, wet_bytes


def test_wet_bytes_counts_decompressed(tmp_path):
    p = tmp_path / "x.gz"
    p.write_bytes(gzip.compress(b"a" * 1000) + gzip.compress(b"b" * 10))
    assert wet_bytes([p]) == 1010


def test_check_identical_refuses_a_difference():
    doc = {
        "url": "u",
        "text": "t",
        "split": "train",
        "content-type": "c",
        "content-length": "1",
        "timestamp": "ts",
    }
    check_identical([doc], [dict(doc)], "3.1.0")
    with pytest.raises(SystemExit):
        check_identical([doc], [{**doc, "text": "t2"}], "3.1.0")
    # 1.0.0 compares url, text and split only.
    assert features("1.0.0") == ("url", "text", "split")
    check_identical([doc], [{**doc, "timestamp": "other"}], "1.0.0")
