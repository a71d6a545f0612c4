"""Derived sets on ``gs://`` (real GCS emulator): ``c4 mask gs://DIR --output gs://MDIR``
registers MDIR in DIR and names DIR in MDIR; ``c4 forget`` reaches it, ``--verify`` reads it and
fails when it is gone (issue 17.2)."""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path

import google.cloud.storage as storage
import pyarrow.parquet as pq
import pytest

from pipeline.cli import main
from tests.conftest import output_tree
from tests.pipeline.forget import fixtures as ff


def test_a_set_masked_on_gs_is_registered_and_forgotten(
    gcs: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    built = ff.build(tmp_path / "built", mask=False)
    bucket = storage.Client(project="test").create_bucket(f"derived-{uuid.uuid4().hex[:8]}")
    for name, path in output_tree(built).items():
        bucket.blob(f"out/{name}").upload_from_filename(str(path))
    gs_dir, gs_set = f"gs://{bucket.name}/out", f"gs://{bucket.name}/m1"
    assert main(["mask", gs_dir, "--output", gs_set]) == 0
    registry = json.loads(bucket.blob("out/forget/derived.json").download_as_bytes())
    assert registry["derived"] == [{"kind": "masked", "path": gs_set}]
    assert json.loads(bucket.blob("m1/config.json").download_as_bytes())["source"] == gs_dir

    def held() -> set[str]:
        ids = set()
        for blob in bucket.list_blobs(prefix="m1/parquet/"):
            table = pq.read_table(io.BytesIO(blob.download_as_bytes()))
            ids |= {d for row in table.column("doc_ids").to_pylist() for d in row}
        return ids

    rows = ff.parquet_rows(built)
    gone = {r["doc_id"] for r in rows if "abc.net.au" in r["url"]}
    assert gone and gone <= held()
    domains = tmp_path / "domains.txt"
    domains.write_text("abc.net.au\n", encoding="utf-8")
    assert main(["forget", gs_set, "--domains", str(domains)]) == 0  # through the set
    assert not gone & held()
    report = json.loads(bucket.blob("out/forget/report-0001.json").download_as_bytes())
    assert [s["status"] for s in report["derived"]["sets"]] == ["changed"]
    assert main(["forget", gs_dir, "--verify"]) == 0
    for blob in bucket.list_blobs(prefix="m1/"):
        blob.delete()
    capsys.readouterr()
    assert main(["forget", gs_dir, "--verify"]) == 3
    assert f"{gs_set}: registered masked set unreachable" in capsys.readouterr().out
