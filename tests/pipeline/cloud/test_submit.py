"""``c4 submit``: every missing or bad Dataflow option named on its own line (exit 2, before any
work), the DataflowRunner options it assembles, and ``--dry_run``: the real DataflowRunner builds
the whole job (graph, worker pool, environment) with no network call.
"""

from __future__ import annotations

import gzip
import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.build import stage_labels
from pipeline.cli import main
from pipeline.cloud.submit import SHUFFLE_EXPERIMENT, DataflowSettings, default_job_name
from pipeline.config import make_build_config
from tests.conftest import REPO

PROJECT = ["--project", "my-project-123", "--region", "us-central1"]
TEMP = ["--temp_location", "gs://my-bucket/tmp"]
IMAGE = ["--sdk_container_image", "us-central1-docker.pkg.dev/my-project-123/c4/c4-pipeline:0.1.0"]
WET = [
    "crawl-data/CC-MAIN-2019-18/segments/1555578517558.8/wet/"
    f"CC-MAIN-20190418101243-20190418122311-0000{i}.warc.wet.gz"
    for i in range(3)
]
LOCAL_ONLY = {"127.0.0.1", "::1", "localhost"}


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any name lookup or connection beyond this machine fails the test."""
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: object) -> None:
        host = address[0] if isinstance(address, tuple) else address
        if self.family in (socket.AF_INET, socket.AF_INET6) and host not in LOCAL_ONLY:
            raise AssertionError(f"network call to {address!r}")
        real_connect(self, address)

    def getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
        if host not in LOCAL_ONLY and host is not None:
            raise AssertionError(f"name lookup of {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture
def listing(tmp_path: Path) -> Path:
    """A crawl's wet.paths.gz (relative Common Crawl paths), read locally: resolves to https://."""
    path = tmp_path / "wet.paths.gz"
    path.write_bytes(gzip.compress(("\n".join(WET) + "\n").encode()))
    return path


def _inputs(listing: Path) -> list[str]:
    return ["--input", str(listing), "--cc_base_url", "https://data.commoncrawl.org/"]


def _errors(capsys: pytest.CaptureFixture[str], argv: list[str]) -> list[str]:
    assert main(["submit", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    return captured.err.strip().splitlines()


def test_every_missing_option_is_named_on_its_own_line(
    capsys: pytest.CaptureFixture[str], listing: Path, no_network: None
) -> None:
    lines = _errors(capsys, [*_inputs(listing), "--output", "gs://my-bucket/c4"])
    flags = [line.split()[2] for line in lines]
    assert flags == ["--project:", "--region:", "--temp_location:", "--sdk_container_image:"]
    assert all(line.startswith("c4 submit: ") and "missing" in line for line in lines)
    assert "--setup_file" in lines[-1]


def test_local_input_and_output_are_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, no_network: None
) -> None:
    wet = tmp_path / "x.warc.wet.gz"
    wet.write_bytes(gzip.compress(b"WARC/1.0\r\n\r\n"))
    lines = _errors(
        capsys, [*PROJECT, *TEMP, *IMAGE, "--input", str(wet), "--output", str(tmp_path / "o")]
    )
    assert [line.split()[2] for line in lines] == ["--output:", "--input:"]


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--project", "My Project"], "--project:"),
        (["--region", "central"], "--region:"),
        (["--temp_location", "/tmp/x"], "--temp_location:"),
        (["--staging_location", "gs://x/y"], "--staging_location:"),
        (["--max_num_workers", "0"], "--max_num_workers:"),
        (["--num_workers", "900"], "--num_workers:"),
        (["--setup_file", "/nonexistent/setup.py"], "--sdk_container_image:"),
        (["--runner", "DirectRunner"], "--runner:"),
        (["--job_file", "job.json"], "--job_file:"),
        (["--machine_type", "Big Machine"], "--machine_type:"),
    ],
)
def test_bad_values_are_named(
    capsys: pytest.CaptureFixture[str],
    listing: Path,
    no_network: None,
    argv: list[str],
    flag: str,
) -> None:
    base = [*PROJECT, *TEMP, *IMAGE, *_inputs(listing), "--output", "gs://my-bucket/c4"]
    lines = _errors(capsys, [*base, *argv])
    assert flag in [line.split()[2] for line in lines], lines


def test_unparsable_value_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    lines = _errors(capsys, ["--max_num_workers", "many"])
    assert len(lines) == 1 and "--max_num_workers" in lines[0]


def test_settings_assemble_dataflow_options() -> None:
    settings = DataflowSettings(
        project="my-project-123",
        region="europe-west4",
        temp_location="gs://my-bucket/tmp",
        staging_location="gs://my-bucket/tmp/staging",
        machine_type="n2-standard-4",
        max_num_workers=64,
        sdk_container_image="img:1",
        job_name="c4-en-3-1-0-x",
        extra_args=("--network=default",),
    )
    args = settings.beam_args()
    assert args[0] == "--runner=DataflowRunner"
    for expected in (
        "--project=my-project-123",
        "--region=europe-west4",
        "--temp_location=gs://my-bucket/tmp",
        "--staging_location=gs://my-bucket/tmp/staging",
        "--machine_type=n2-standard-4",
        "--max_num_workers=64",
        f"--experiments={SHUFFLE_EXPERIMENT}",
        "--sdk_container_image=img:1",
        "--sdk_location=container",
        "--job_name=c4-en-3-1-0-x",
    ):
        assert expected in args
    assert args[-1] == "--network=default"
    assert not any(a.startswith(("--setup_file", "--dry_run")) for a in args)
    worker_shuffle = DataflowSettings(
        "p", "r", "gs://b/t", "gs://b/s", setup_file="/x/setup.py", dataflow_shuffle=False
    )
    assert not any("shuffle_mode" in a for a in worker_shuffle.beam_args())
    assert "--setup_file=/x/setup.py" in worker_shuffle.beam_args()


def test_default_job_name_is_a_valid_dataflow_name() -> None:
    name = default_job_name("en.noclean", "3.1.0", now=0)
    assert name == "c4-en-noclean-3-1-0-19700101-000000"


def _dry_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, listing: Path, extra: list[str]
) -> dict:
    job_file = tmp_path / "job.json"
    argv = [
        "submit", *PROJECT, *TEMP, *_inputs(listing), "--output", "gs://my-bucket/c4",
        "--machine_type", "n1-standard-4", "--max_num_workers", "123",
        "--dry_run", "--job_file", str(job_file), *extra,
    ]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    assert "not submitted" in capsys.readouterr().out
    return json.loads(job_file.read_text())


def test_dry_run_builds_the_dataflow_job_with_our_stages(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, listing: Path, no_network: None
) -> None:
    job = _dry_run(capsys, tmp_path, listing, IMAGE)
    config = make_build_config([str(listing)], "gs://my-bucket/c4", cc_base_url="https://x/")
    expected = [*stage_labels(config), "WriteC4"]
    assert {"ReadWet", "DedupUrls", "CleanPages", "DedupText", "FilterLanguage"} <= set(expected)
    assert job["c4_stages"] == {label: True for label in expected}
    assert job["type"] == "JOB_TYPE_BATCH"
    assert job["name"].startswith("c4-en-3-1-0-")
    env = job["environment"]
    (pool,) = env["workerPools"]
    assert pool["machineType"] == "n1-standard-4"
    assert pool["autoscalingSettings"]["maxNumWorkers"] == 123
    assert pool["workerHarnessContainerImage"] == IMAGE[1]
    options = env["sdkPipelineOptions"]["options"]
    assert options["project"] == "my-project-123" and options["region"] == "us-central1"
    # Beam appends the job's own directory to both.
    assert options["temp_location"].startswith("gs://my-bucket/tmp/c4-en-3-1-0-")
    assert options["staging_location"].startswith("gs://my-bucket/tmp/staging/c4-en-3-1-0-")
    assert SHUFFLE_EXPERIMENT in options["experiments"]
    assert "my-bucket/tmp/c4-en-3-1-0-" in env["tempStoragePrefix"]


def test_dry_run_setup_file_stages_our_sdist(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, listing: Path, no_network: None
) -> None:
    source = _package_tree(tmp_path / "src")
    job = _dry_run(capsys, tmp_path, listing, ["--setup_file", str(source / "setup.py")])
    options = job["environment"]["sdkPipelineOptions"]["options"]
    assert "sdk_container_image" not in options or not options["sdk_container_image"]
    assert all(job["c4_stages"].values())
    # Our sdist, built out of the source tree (pipeline/cloud/sdist.py), staged for the workers
    # to pip-install at start-up, as Beam's stager would have staged --setup_file's.
    (sdist,) = options["extra_packages"]
    assert Path(sdist).name == "c4_pipeline-0.1.0.tar.gz"
    assert {"c4_pipeline-0.1.0.tar.gz", "extra_packages.txt"} <= set(job["c4_staged_files"])
    assert not options.get("setup_file")


def _package_tree(root: Path) -> Path:
    """What ``setup.py`` packages, copied: a source tree of our own to watch."""
    root.mkdir()
    for name in ("setup.py", "README.md", "pyproject.toml"):
        shutil.copy2(REPO / name, root / name)
    for package in ("filters", "pipeline"):
        shutil.copytree(
            REPO / package, root / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    return root


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")
    }


def test_setup_file_leaves_the_source_tree_untouched(tmp_path: Path, listing: Path) -> None:
    """Before: Beam's stager printed ``No module named build`` and ran ``setup.py sdist`` in the
    source tree, which wrote ``c4_pipeline.egg-info/`` there."""
    source = _package_tree(tmp_path / "src")
    before = _snapshot(source)
    argv = [
        "submit", *PROJECT, *TEMP, *_inputs(listing), "--output", "gs://my-bucket/c4",
        "--setup_file", str(source / "setup.py"), "--dry_run",
    ]  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", *argv], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "No module named build" not in done.stderr
    assert _snapshot(source) == before


# Run as ``python -c``: every connection and name lookup beyond this machine fails, and says so.
_OFFLINE = """
import socket, sys
LOCAL = {"127.0.0.1", "::1", "localhost", None}
connect, getaddrinfo = socket.socket.connect, socket.getaddrinfo
def blocked(what):
    sys.stderr.write(f"BLOCKED {what!r}\\n")
    raise OSError(f"network blocked by the test: {what!r}")
def guarded_connect(self, address):
    host = address[0] if isinstance(address, tuple) else None
    if self.family in (socket.AF_INET, socket.AF_INET6) and host not in LOCAL:
        blocked(address)
    return connect(self, address)
def guarded_getaddrinfo(host, *args, **kwargs):
    if host not in LOCAL:
        blocked(host)
    return getaddrinfo(host, *args, **kwargs)
socket.socket.connect = guarded_connect
socket.getaddrinfo = guarded_getaddrinfo
from pipeline.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_dry_run_of_a_crawl_fetches_nothing_and_says_so(tmp_path: Path) -> None:
    """Before: it fetched the crawl's listing (retrying a DNS failure for 1 min 42 s)."""
    argv = [
        "submit", *PROJECT, *TEMP, *IMAGE, "--crawl", "CC-MAIN-2019-18", "--max_wet_files", "2",
        "--output", "gs://my-bucket/c4", "--dry_run",
    ]  # fmt: skip
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", _OFFLINE, *argv], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "BLOCKED" not in done.stderr
    assert "nothing remote was read or written" in done.stdout
    listing = "https://data.commoncrawl.org/crawl-data/CC-MAIN-2019-18/wet.paths.gz"
    assert f"1 remote input(s) left unexpanded ({listing})" in done.stdout
    assert time.monotonic() - started < 60


def test_the_offline_guard_blocks() -> None:
    """The guard above does stop a lookup (so its silence means something)."""
    code = _OFFLINE.replace("from pipeline.cli import main\nsys.exit(main(sys.argv[1:]))", "")
    code += "\nimport urllib.request\nurllib.request.urlopen('https://data.commoncrawl.org/')\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "BLOCKED 'data.commoncrawl.org'" in done.stderr


@pytest.mark.slow
def test_a_jobs_own_publish_registers_its_masked_set_like_c4_build(tmp_path: Path) -> None:
    """``c4 submit`` publishes from the job's last step (``_PublishFn``), not from this process:
    that step registers ``masked`` exactly as ``c4 build`` does, so ``c4 forget DIR`` rewrites
    a submitted build's masked set too, and a later job without ``--mask`` unregisters it."""
    from dataclasses import replace

    import apache_beam as beam

    from pipeline import derived
    from pipeline.build import build_pipeline
    from pipeline.cloud.submit import staged_commit
    from tests.conftest import REAL_WET, output_tree

    out = tmp_path / "out"

    def job(mask: bool) -> None:
        config = make_build_config([str(REAL_WET[1])], str(out), mask=mask)
        commit = staged_commit(config)
        with beam.Pipeline(runner="DirectRunner") as pipeline:
            build_pipeline(pipeline, replace(config, staging_dir=commit.write_dir), commit)

    job(mask=True)
    assert "masked/config.json" in output_tree(out)
    assert [e.path for e in derived.load(str(out))] == ["masked"]
    job(mask=False)
    assert not any(name.startswith("masked/") for name in output_tree(out))
    assert derived.load(str(out)) == []
