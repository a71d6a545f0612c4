"""``c4 trace`` and ``c4 forget`` on a ``gs://`` DIR (real GCS emulator) equal the local ones."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import google.cloud.storage as storage
import pytest

from pipeline.cli import main
from pipeline.io.gcs import EMULATOR_ENV
from tests.conftest import output_tree
from tests.pipeline.forget import fixtures as ff


def _tree(root: Path) -> dict[str, bytes]:
    return {rel: p.read_bytes() for rel, p in output_tree(root).items()}


def _data(tree: dict[str, bytes]) -> dict[str, bytes]:
    """Everything but the reports (they name the DIR and the time) and the manifest (it gives
    their sizes)."""
    return {
        k: v for k, v in tree.items() if not k.startswith("forget/report-") and k != "manifest.json"
    }


def test_forget_on_gs_equals_local(
    gcs_emulator: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = ff.build(tmp_path / "built", mask=True)
    local = tmp_path / "local"
    shutil.copytree(built, local)
    domains = tmp_path / "domains.txt"
    domains.write_text("abc.net.au\n", encoding="utf-8")
    monkeypatch.setenv(EMULATOR_ENV, gcs_emulator)
    bucket = storage.Client(project="test").create_bucket(f"forget-{uuid.uuid4().hex[:8]}")
    for name, data in _tree(built).items():
        bucket.blob(f"out/{name}").upload_from_string(data)
    gs_dir = f"gs://{bucket.name}/out"
    assert main(["trace", gs_dir, "--domain", "abc.net.au"]) == 0
    assert main(["forget", gs_dir, "--domains", str(domains)]) == 0
    assert main(["forget", str(local), "--domains", str(domains)]) == 0
    remote = {
        blob.name[len("out/") :]: blob.download_as_bytes()
        for blob in bucket.list_blobs(prefix="out/")
    }
    assert _data(remote) == _data(_tree(local))
    assert any(k.startswith("forget/report-") for k in remote)
    assert main(["forget", gs_dir, "--verify"]) == 0
    assert main(["forget", gs_dir, "--domains", str(domains)]) == 0  # nothing left: no change
    again = {b.name[len("out/") :]: b.download_as_bytes() for b in bucket.list_blobs(prefix="out/")}
    assert again == remote
