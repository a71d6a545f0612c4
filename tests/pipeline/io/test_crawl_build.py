"""``c4 build --crawl`` against a fake Common Crawl on 127.0.0.1, faults included.

The server holds ``crawl-data/<crawl>/wet.paths.gz`` listing ``crawl-data/...`` paths whose files
are the real WET of tests/data; a local mirror holds the same tree. The HTTPS build (``--cc_base_url
http://127.0.0.1:PORT``) must equal the mirror's build, byte for byte, ``source_file`` included.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.config import make_build_config
from pipeline.io.expand import expand_remote
from tests.conftest import REAL_WET, output_tree
from tests.pipeline.io.fault_server import FaultServer, fault_server

CRAWL = "CC-MAIN-2019-18"
OTHER = "CC-MAIN-2019-22"
WET_DIR = f"crawl-data/{CRAWL}/segments/1555578517558.8/wet"
NAMES = [p.name for p in REAL_WET]


def _tree(root: Path) -> dict[str, bytes]:
    return {rel: p.read_bytes() for rel, p in output_tree(root).items()}


def _data_files(tree: dict[str, bytes]) -> dict[str, bytes]:
    """The documents: TFRecord shards and Parquet (stats differ when a file failed)."""
    return {n: d for n, d in tree.items() if n.startswith("parquet/") or ".tfrecord-" in n}


def _listing(names: list[str], wet_dir: str = WET_DIR) -> bytes:
    return gzip.compress("".join(f"{wet_dir}/{n}\n" for n in names).encode())


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local mirror of the fake crawls (what ``--cc_base_url DIR`` reads)."""
    root = tmp_path_factory.mktemp("mirror")
    wet = root / WET_DIR
    wet.mkdir(parents=True)
    for path in REAL_WET:
        (wet / path.name).write_bytes(path.read_bytes())
    (root / f"crawl-data/{CRAWL}/wet.paths.gz").write_bytes(_listing(NAMES))
    (root / f"crawl-data/{OTHER}").mkdir()
    (root / f"crawl-data/{OTHER}/wet.paths.gz").write_bytes(_listing(NAMES[:1]))
    return root


@pytest.fixture
def server(mirror: Path) -> Iterator[FaultServer]:
    with fault_server() as s:
        for path in mirror.rglob("*"):
            if path.is_file():
                s.files["/" + str(path.relative_to(mirror))] = path.read_bytes()
        yield s


@pytest.fixture(scope="module")
def mirror_build(mirror: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("mirror-build") / "out"
    assert (
        main(["build", "--crawl", CRAWL, "--cc_base_url", str(mirror), "--output", str(out)]) == 0
    )
    return _tree(out)


def test_crawl_over_https_equals_the_mirror_build(
    server: FaultServer, mirror_build: dict[str, bytes], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert main(["build", "--crawl", CRAWL, "--cc_base_url", server.url, "--output", str(out)]) == 0
    tree = _tree(out)
    assert sorted(tree) == sorted(mirror_build)
    for name, data in mirror_build.items():
        # config.json names where the files were read from; run.json holds the run's timings.
        if name not in ("config.json", "run.json"):
            assert tree[name] == data, name
    config = json.loads(tree["config.json"])
    assert config["crawls"] == [CRAWL]
    assert [i["path"] for i in config["inputs"]] == [f"{server.url}/{WET_DIR}/{n}" for n in NAMES]
    assert [i["source_file"] for i in config["inputs"]] == [f"{WET_DIR}/{n}" for n in NAMES]


def test_faults_are_retried_and_a_missing_file_is_a_dead_letter(
    server: FaultServer, mirror: Path, tmp_path: Path
) -> None:
    faults = ["429", "503", "reset", "truncate"]
    for name, fault in zip(NAMES, faults, strict=False):
        server.faults[f"/{WET_DIR}/{name}"] = [fault]
    lost = NAMES[len(faults)]
    server.faults[f"/{WET_DIR}/{lost}"] = ["404"]
    out = tmp_path / "out"
    assert main(["build", "--crawl", CRAWL, "--cc_base_url", server.url, "--output", str(out)]) == 0
    # What the job should have kept: the mirror's build of every file but the lost one.
    kept = [str(mirror / WET_DIR / n) for n in NAMES if n != lost]
    expected = tmp_path / "expected"
    assert main(["build", "--input", *kept, "--output", str(expected)]) == 0
    tree, want = _tree(out), _tree(expected)
    assert _data_files(tree) == _data_files(want)
    letters = [json.loads(line) for line in tree["dead_letter/download.jsonl"].splitlines()]
    assert len(letters) == 1
    assert letters[0]["source_file"] == f"{WET_DIR}/{lost}"
    assert letters[0]["reason"].startswith("download_failed: HTTP 404 ")
    stats = json.loads(tree["stats.json"])
    assert stats["reconciliation"]["balanced"]
    assert stats["counters"]["download/retries"] == len(faults)
    for name, fault in zip(NAMES, faults, strict=False):
        ranges = server.requests_for(f"/{WET_DIR}/{name}")
        assert len(ranges) == 2, (name, fault)
        if fault == "truncate":
            assert ranges[1] is not None and ranges[1].startswith("bytes=")


def test_several_crawls_and_max_wet_files(server: FaultServer) -> None:
    config = make_build_config(
        None,
        "unused",
        crawls=[f"{CRAWL},{OTHER}", CRAWL],
        max_wet_files=2,
        cc_base_url=server.url,
        expand_remote=expand_remote,
    )
    assert config.crawls == (CRAWL, OTHER)
    assert [i.source_file for i in config.inputs] == [
        f"{WET_DIR}/{NAMES[0]}",
        f"{WET_DIR}/{NAMES[1]}",
        f"{WET_DIR}/{NAMES[0]}",
    ]
    assert [i.file_index for i in config.inputs] == [0, 1, 2]


def test_https_wet_and_listing_inputs(server: FaultServer) -> None:
    url = f"{server.url}/{WET_DIR}/{NAMES[0]}"
    assert expand_remote(url) == [url]
    listing = f"{server.url}/crawl-data/{CRAWL}/wet.paths.gz"
    assert expand_remote(listing) == [f"{server.url}/{WET_DIR}/{n}" for n in NAMES]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--crawl", "CC-MAIN-19-18"], "c4 build: --crawl: 'CC-MAIN-19-18' is not a crawl id"),
        (
            ["--crawl", CRAWL, "--max_wet_files", "0"],
            "c4 build: --max_wet_files: must be at least 1",
        ),
        (["--crawl", "CC-MAIN-2099-01"], "c4 build: --crawl: cannot read "),
    ],
)
def test_crawl_usage_errors(
    server: FaultServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    full = ["build", *argv, "--cc_base_url", server.url, "--output", str(tmp_path / "o")]
    assert main(full) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()
