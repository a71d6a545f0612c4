"""pipeline.io.urls (pure) and the input resolution of pipeline.config that uses it."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import pytest

from filters.spec import UsageError
from filters.wet import source_file_name
from pipeline.config import make_build_config
from pipeline.io import urls
from tests.conftest import REAL_WET


def test_parse_crawls_repeated_and_comma_lists() -> None:
    values = ["CC-MAIN-2019-18, CC-MAIN-2019-22", "CC-MAIN-2019-18", ""]
    assert urls.parse_crawls(values) == ("CC-MAIN-2019-18", "CC-MAIN-2019-22")
    assert urls.parse_crawls(None) == ()


@pytest.mark.parametrize("bad", ["CC-MAIN-2019", "cc-main-2019-18", "CC-MAIN-2019-18/x", "2019-18"])
def test_parse_crawls_refuses_what_is_not_a_crawl_id(bad: str) -> None:
    with pytest.raises(UsageError, match=r"^--crawl: "):
        urls.parse_crawls([bad])


def test_crawl_listing_default_and_override() -> None:
    assert (
        urls.crawl_listing("CC-MAIN-2019-18", "")
        == "https://data.commoncrawl.org/crawl-data/CC-MAIN-2019-18/wet.paths.gz"
    )
    assert (
        urls.crawl_listing("CC-MAIN-2019-18", "http://127.0.0.1:8080/")
        == "http://127.0.0.1:8080/crawl-data/CC-MAIN-2019-18/wet.paths.gz"
    )


def test_listing_lines_resolve_against_the_crawl_root() -> None:
    listing = "https://h/cc/crawl-data/CC-MAIN-2019-18/wet.paths.gz"
    root = urls.listing_root(listing)
    assert root == "https://h/cc"
    text = "# comment\n\ncrawl-data/CC-MAIN-2019-18/a.warc.wet.gz\ngs://b/c.warc.wet.gz\n"
    assert urls.listing_paths(text, root) == [
        "https://h/cc/crawl-data/CC-MAIN-2019-18/a.warc.wet.gz",
        "gs://b/c.warc.wet.gz",
    ]
    assert urls.listing_root("gs://b/lists/mine.paths") == "gs://b/lists"


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("https://data.commoncrawl.org/crawl-data/CC-MAIN-2019-18/s/wet/x.warc.wet.gz", "s"),
        ("gs://bucket/mirror/crawl-data/CC-MAIN-2019-18/s/wet/x.warc.wet.gz", "s"),
        ("gs://bucket/wet/x.warc.wet.gz", "x.warc.wet.gz"),
        ("https://example.org/x.warc.wet.gz", "x.warc.wet.gz"),
    ],
)
def test_source_file_of_remote_inputs(path: str, name: str) -> None:
    expected = "crawl-data/CC-MAIN-2019-18/s/wet/x.warc.wet.gz" if name == "s" else name
    assert source_file_name(path) == expected


def test_max_wet_files_caps_each_argument(tmp_path: Path) -> None:
    paths = [str(p) for p in REAL_WET]
    listing = tmp_path / "mine.paths.gz"
    listing.write_bytes(gzip.compress("\n".join(paths).encode()))
    glob = str(REAL_WET[0].parent / "*.warc.wet.gz")
    config = make_build_config([glob, str(listing)], str(tmp_path / "o"), max_wet_files=2)
    assert [i.path for i in config.inputs] == sorted(paths)[:2] + paths[:2]
    assert config.max_wet_files == 2


def test_crawl_from_a_local_mirror(tmp_path: Path) -> None:
    wet = tmp_path / "crawl-data/CC-MAIN-2019-18/segments/1/wet"
    wet.mkdir(parents=True)
    (wet / REAL_WET[0].name).write_bytes(REAL_WET[0].read_bytes())
    lines = f"crawl-data/CC-MAIN-2019-18/segments/1/wet/{REAL_WET[0].name}\n"
    (tmp_path / "crawl-data/CC-MAIN-2019-18/wet.paths.gz").write_bytes(
        gzip.compress(lines.encode())
    )
    config = make_build_config(
        None, str(tmp_path / "o"), crawls=["CC-MAIN-2019-18"], cc_base_url=str(tmp_path)
    )
    assert [i.source_file for i in config.inputs] == [lines.strip()]
    assert config.inputs[0].path == str(wet / REAL_WET[0].name)


def test_remote_crawl_needs_the_launchers_expansion(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"^--crawl: "):
        make_build_config(None, str(tmp_path / "o"), crawls=["CC-MAIN-2019-18"])


def test_config_and_urls_stay_free_of_beam() -> None:
    code = "import sys, pipeline.config, pipeline.io.urls; print('apache_beam' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
