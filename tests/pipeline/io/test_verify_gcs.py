"""``c4 forget --verify`` on a ``gs://`` DIR (real GCS emulator): strays are found by listing
the bucket; the commit protocol's private area and staging areas are not strays."""

from __future__ import annotations

import uuid
from pathlib import Path

import google.cloud.storage as storage

from pipeline.cli import main
from tests.conftest import output_tree
from tests.pipeline.forget import fixtures as ff


def test_verify_on_gs_finds_strays_and_skips_private_areas(gcs: str, tmp_path: Path) -> None:
    built = ff.build(tmp_path / "built", mask=False)
    tree = {rel: p.read_bytes() for rel, p in output_tree(built).items()}
    bucket = storage.Client(project="test").create_bucket(f"verify-{uuid.uuid4().hex[:8]}")
    for name, data in tree.items():
        bucket.blob(f"out/{name}").upload_from_string(data)
    gs_dir = f"gs://{bucket.name}/out"
    domains = tmp_path / "domains.txt"
    domains.write_text("abc.net.au\n", encoding="utf-8")
    assert main(["forget", gs_dir, "--domains", str(domains)]) == 0
    assert main(["forget", gs_dir, "--verify"]) == 0
    # A staging area (under the TFDS directory) and the private area: not the dataset's, not
    # strays, even holding shard-like files.
    private = [
        "out/c4/en/3.1.0/.c4-staging-0123456789abcdef/c4-train.tfrecord-00000-of-00004",
        "out/.c4/staging/0123456789abcdef/parquet/train/part-00000-of-00004.parquet",
    ]
    for name in private:
        bucket.blob(name).upload_from_string(b"staged")
    assert main(["forget", gs_dir, "--verify"]) == 0
    # The pre-forget copy of a shard beside it: a stray holding a forgotten document.
    after = {b.name: b.download_as_bytes() for b in bucket.list_blobs(prefix="out/parquet/")}
    [changed, *_] = [n for n, data in after.items() if data != tree[n[len("out/") :]]]
    bucket.blob(changed + ".old").upload_from_string(tree[changed[len("out/") :]])
    assert main(["forget", gs_dir, "--verify"]) == 1
    bucket.blob(changed + ".old").delete()
    bucket.blob("out/parquet/train/notes.txt").upload_from_string(b"notes")
    assert main(["forget", gs_dir, "--verify"]) == 3
