"""``c4 build`` with gs:// input and output on a real GCS emulator equals the local build.

The real WET of tests/data goes to an emulator bucket, ``c4 build --input gs://... --output
gs://...`` runs through ``pipeline.cli.main``, and every file it wrote is read back from the
bucket and compared with a local build of the same files: same bytes everywhere but
``config.json`` (which records the paths), so the same documents, ids, ``doc_id`` and
``source_file``.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import google.cloud.storage as storage
import pyarrow.parquet as pq
import pytest
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from filters.spec import UsageError
from pipeline.cli import main
from pipeline.config import make_build_config
from pipeline.io.expand import expand_remote
from pipeline.io.gcs import EMULATOR_ENV, connect_anonymously_if_emulated
from tests.conftest import EDGE_DIR, REAL_WET, output_tree

# The real WET plus a file that ends inside a gzip member: dead letters go to gs:// too.
BROKEN = EDGE_DIR / "CC-MAIN-2016-50.appended_zip_fragment_unexpected_eof.wet.gz"
INPUTS = sorted([*REAL_WET, BROKEN], key=lambda p: p.name)


def _bucket(name_hint: str) -> storage.Bucket:
    client = storage.Client(project="test")
    return client.create_bucket(f"{name_hint}-{uuid.uuid4().hex[:8]}")


def _upload(bucket: storage.Bucket, prefix: str, files: list[Path]) -> None:
    for path in files:
        bucket.blob(f"{prefix}/{path.name}").upload_from_filename(str(path))


def _download_tree(bucket: storage.Bucket, prefix: str) -> dict[str, bytes]:
    """The output's objects; the manifest left out, as ``output_tree`` leaves it out locally
    (it gives config.json's size, which names DIR)."""
    return {
        blob.name[len(prefix) + 1 :]: blob.download_as_bytes()
        for blob in bucket.list_blobs(prefix=prefix + "/")
        if blob.name != f"{prefix}/manifest.json"
    }


def _local_tree(root: Path) -> dict[str, bytes]:
    return {rel: p.read_bytes() for rel, p in output_tree(root).items()}


class Builds:
    def __init__(self, local: dict[str, bytes], remote: dict[str, bytes], bucket: str) -> None:
        self.local = local
        self.remote = remote
        self.bucket = bucket


@pytest.fixture(scope="module")
def builds(gcs_emulator: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Builds]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(EMULATOR_ENV, gcs_emulator)
        bucket = _bucket("c4-build")
        _upload(bucket, "wet", INPUTS)
        local_dir = tmp_path_factory.mktemp("local") / "out"
        assert main(["build", "--input", *map(str, INPUTS), "--output", str(local_dir)]) == 0
        gs_input = f"gs://{bucket.name}/wet/*.wet.gz"
        gs_output = f"gs://{bucket.name}/out"
        assert main(["build", "--input", gs_input, "--output", gs_output]) == 0
        yield Builds(_local_tree(local_dir), _download_tree(bucket, "out"), bucket.name)


def test_gs_build_writes_the_same_files_as_the_local_one(builds: Builds) -> None:
    assert sorted(builds.remote) == sorted(builds.local)
    assert any(name.startswith("dead_letter/") for name in builds.local)
    assert "report.html" in builds.remote and "run.json" in builds.remote
    for name, data in builds.local.items():
        if name not in ("config.json", "run.json"):  # they name the paths, and the run
            assert builds.remote[name] == data, name


def test_gs_build_same_documents_ids_and_sources(builds: Builds) -> None:
    def rows(tree: dict[str, bytes]) -> list[dict[str, object]]:
        out: list[dict[str, object]] = []
        for name in sorted(n for n in tree if n.startswith("parquet/")):
            out.extend(pq.read_table(io.BytesIO(tree[name])).to_pylist())
        return out

    local, remote = rows(builds.local), rows(builds.remote)
    assert local and remote == local
    assert {r["source_file"] for r in remote} <= {p.name for p in INPUTS}


def test_gs_config_json_records_the_gs_inputs(builds: Builds) -> None:
    remote = json.loads(builds.remote["config.json"])
    local = json.loads(builds.local["config.json"])
    assert [i["path"] for i in remote["inputs"]] == [
        f"gs://{builds.bucket}/wet/{p.name}" for p in INPUTS
    ]
    assert remote["output_dir"] == f"gs://{builds.bucket}/out"
    assert [i["source_file"] for i in remote["inputs"]] == [
        i["source_file"] for i in local["inputs"]
    ]


def test_gs_output_holding_another_version_is_refused(
    builds: Builds, gcs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["build", "--input", f"gs://{builds.bucket}/wet/", "--output"]
    assert main([*argv, f"gs://{builds.bucket}/out", "--c4_version", "2.2.0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("c4 build: --output: ") and "already holds c4 en 3.1.0" in err
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize("where", ["empty-prefix", "no-bucket"])
def test_missing_gs_input_is_a_usage_error(
    gcs: str, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    bucket = _bucket("c4-empty").name if where == "empty-prefix" else "c4-no-such-bucket"
    argv = ["build", "--input", f"gs://{bucket}/nothing/*.wet.gz", "--output"]
    assert main([*argv, f"gs://{_bucket('c4-out').name}/out"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("c4 build: --input: ") and len(err.strip().splitlines()) == 1


def test_gs_blocklists_are_read_where_the_job_is_built(gcs: str) -> None:
    # What a Flex Template launcher does: it has no local copy of the blocklist.
    bucket = _bucket("c4-blocklist")
    bucket.blob("lists/urls.txt").upload_from_string("# spam\nhttp://Example.com/a\n")
    bucket.blob("lists/domains.txt").upload_from_string("example.org\n")
    config = make_build_config(
        [str(REAL_WET[0])],
        "/tmp/unused",
        blocklist_urls=f"gs://{bucket.name}/lists/urls.txt",
        blocklist_domains=f"gs://{bucket.name}/lists/domains.txt",
    )
    assert len(config.blocklist_urls) == 1 and config.blocklist_domains == ("example.org",)
    with pytest.raises(UsageError, match="--blocklist_urls: cannot read gs://"):
        make_build_config(
            [str(REAL_WET[0])], "/tmp/unused", blocklist_urls=f"gs://{bucket.name}/nope.txt"
        )


def test_gs_globs_prefixes_and_listings_expand(gcs: str) -> None:
    bucket = _bucket("c4-expand")
    _upload(bucket, "mirror/crawl-data/CC-MAIN-2016-50/wet", REAL_WET[:2])
    lines = "".join(f"crawl-data/CC-MAIN-2016-50/wet/{p.name}\n" for p in REAL_WET[:2])
    bucket.blob("mirror/crawl-data/CC-MAIN-2016-50/wet.paths").upload_from_string(lines)
    root = f"gs://{bucket.name}/mirror"
    expected = sorted(f"{root}/crawl-data/CC-MAIN-2016-50/wet/{p.name}" for p in REAL_WET[:2])
    assert expand_remote(f"{root}/crawl-data/CC-MAIN-2016-50/wet/*.wet.gz") == expected
    assert expand_remote(f"{root}/crawl-data/CC-MAIN-2016-50/wet/") == expected
    assert expand_remote(f"{root}/crawl-data/CC-MAIN-2016-50/wet") == expected
    # Relative listing lines resolve against the root holding crawl-data/.
    assert expand_remote(f"{root}/crawl-data/CC-MAIN-2016-50/wet.paths") == sorted(expected)


def test_beam_reaches_the_emulator_anonymously_at_once(gcs: str) -> None:
    # Beam alone would first search for credentials for ~30 s (and probe the GCE metadata
    # server); connect_anonymously_if_emulated makes the first access immediate.
    started = time.monotonic()
    assert connect_anonymously_if_emulated()
    bucket = _bucket("c4-anon")
    tmp, final = f"gs://{bucket.name}/a.tmp", f"gs://{bucket.name}/a"
    with FileSystems.create(tmp, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        f.write(b"payload")
    FileSystems.rename([tmp], [final])
    assert not FileSystems.exists(tmp)
    with FileSystems.open(final, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        assert f.read() == b"payload"
    assert time.monotonic() - started < 10


def test_c4_report_and_inspect_read_a_gs_build(
    builds: Builds, gcs: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = f"gs://{builds.bucket}/out"
    page = tmp_path / "report.html"
    assert main(["report", out, "--output", str(page)]) == 0
    local = builds.local["report.html"].decode("utf-8")
    # The build's own page, but for the link to its run.json, which is in the bucket.
    assert page.read_text(encoding="utf-8") == local.replace(
        'href="run.json"', f'href="{out}/run.json"'
    )
    capsys.readouterr()
    assert main(["inspect", out, "--sample", "2"]) == 0
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("── ")]
    assert len(printed) == 2
