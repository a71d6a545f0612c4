"""pipeline/config.py: input expansion, output-dir refusal, validation, JSON round trip."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from filters.spec import UsageError
from pipeline.config import (
    SAMPLE_WET,
    BuildConfig,
    check_output_dir,
    expand_inputs,
    make_build_config,
)
from tests.conftest import REAL_WET


@pytest.fixture()
def wet_tree(tmp_path: Path) -> Path:
    """Real WET files copied under names whose sorted order differs from REAL_WET's."""
    d = tmp_path / "wets"
    (d / "sub").mkdir(parents=True)
    shutil.copy(REAL_WET[0], d / "b.warc.wet.gz")
    shutil.copy(REAL_WET[1], d / "a.warc.wet.gz")
    shutil.copy(REAL_WET[2], d / "sub" / "c.warc.wet.gz")
    (d / "notes.md").write_text("not a WET file\n")
    return d


def test_bundled_sample_is_the_default(tmp_path: Path) -> None:
    assert SAMPLE_WET.is_file()
    config = make_build_config(None, str(tmp_path / "out"))
    assert [f.path for f in config.inputs] == [str(SAMPLE_WET)]
    assert config.inputs[0].source_file == "CC-MAIN-2016-50.excerpt-25.warc.wet.gz"
    assert (config.config, config.c4_version, config.language_detector) == (
        "en",
        "3.1.0",
        "langdetect-rs",
    )


def test_directories_and_globs_sort_within_an_argument_but_keep_argument_order(
    wet_tree: Path,
) -> None:
    files = expand_inputs([str(wet_tree / "sub"), str(wet_tree)])
    names = [Path(f.path).relative_to(wet_tree).as_posix() for f in files]
    assert names == ["sub/c.warc.wet.gz", "a.warc.wet.gz", "b.warc.wet.gz", "sub/c.warc.wet.gz"]
    assert [f.file_index for f in files] == [0, 1, 2, 3]
    globbed = expand_inputs([str(wet_tree / "*.wet.gz")])
    assert [Path(f.path).name for f in globbed] == ["a.warc.wet.gz", "b.warc.wet.gz"]


@pytest.mark.parametrize("name", ["wet.paths", "wet.paths.gz", "list.txt"])
def test_listing_files_relative_and_absolute(wet_tree: Path, name: str) -> None:
    body = f"b.warc.wet.gz\n\n{wet_tree / 'a.warc.wet.gz'}\nsub/c.warc.wet.gz\n"
    listing = wet_tree / name
    if name.endswith(".gz"):
        with gzip.open(listing, "wt", encoding="utf-8") as f:
            f.write(body)
    else:
        listing.write_text(body, encoding="utf-8")
    files = expand_inputs([str(listing)])
    assert [Path(f.path).name for f in files] == ["b.warc.wet.gz", "a.warc.wet.gz", "c.warc.wet.gz"]
    based = expand_inputs([str(listing)], cc_base_url=str(wet_tree / "sub"))
    assert based[0].path == str(wet_tree / "sub" / "b.warc.wet.gz")


def test_a_wet_file_without_the_usual_suffix_is_sniffed(tmp_path: Path) -> None:
    odd = tmp_path / "records.gz"
    shutil.copy(REAL_WET[0], odd)
    assert [f.path for f in expand_inputs([str(odd)])] == [str(odd)]


def test_crawl_data_paths_keep_their_common_crawl_name(tmp_path: Path) -> None:
    d = tmp_path / "crawl-data" / "CC-MAIN-2016-50" / "segments" / "1" / "wet"
    d.mkdir(parents=True)
    shutil.copy(REAL_WET[0], d / "x.warc.wet.gz")
    (f,) = expand_inputs([str(d / "x.warc.wet.gz")])
    assert f.source_file == "crawl-data/CC-MAIN-2016-50/segments/1/wet/x.warc.wet.gz"


@pytest.mark.parametrize("arg", ["/nonexistent/x.warc.wet.gz", "/nonexistent/*.wet.gz"])
def test_no_match_is_a_usage_error_naming_the_flag(arg: str) -> None:
    with pytest.raises(UsageError, match=r"^--input: no WET files matched"):
        expand_inputs([arg])


@pytest.mark.parametrize(
    ("config", "version", "flag"),
    [
        ("en.noclean", "1.0.0", "--c4_version"),
        ("webtext", "3.1.0", "--config"),
        ("en", "9", "--c4_version"),
    ],
)
def test_bad_pairs_are_refused(tmp_path: Path, config: str, version: str, flag: str) -> None:
    with pytest.raises(UsageError, match=rf"^{flag}:"):
        make_build_config(None, str(tmp_path), config=config, c4_version=version)


def test_detector_and_shards_are_validated(tmp_path: Path) -> None:
    out = str(tmp_path / "o")
    assert make_build_config(None, out, language_detector="langdetect").language_detector == (
        "langdetect"
    )
    mc4 = make_build_config(None, out + "m", config="multilingual")
    assert mc4.language_detector == "cld3"
    with pytest.raises(UsageError, match=r"^--language_detector:"):
        make_build_config(None, out, language_detector="fasttext")
    with pytest.raises(UsageError, match=r"^--language_detector:"):
        make_build_config(None, out, config="multilingual", language_detector="langdetect")
    with pytest.raises(UsageError, match=r"^--num_shards:"):
        make_build_config(None, out, num_shards=0)


def test_output_dir_of_another_config_or_version_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "c4" / "en" / "2.2.0").mkdir(parents=True)
    check_output_dir(str(out), "en", "2.2.0")  # the same build may be rerun into it
    with pytest.raises(UsageError, match=r"^--output: .* already holds c4 en 2.2.0"):
        check_output_dir(str(out), "en", "3.1.0")
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text(
        json.dumps({"config": "realnewslike", "c4_version": "3.1.0"})
    )
    with pytest.raises(UsageError, match=r"realnewslike 3\.1\.0"):
        make_build_config(None, str(other))
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(UsageError, match=r"^--output:"):
        check_output_dir(str(a_file), "en", "3.1.0")


def test_json_round_trip_is_stable(tmp_path: Path) -> None:
    config = make_build_config(
        [str(p) for p in REAL_WET[:2]],
        str(tmp_path / "o"),
        c4_version="2.2.0",
        num_shards=3,
        beam_args=["--direct_num_workers", "2"],
    )
    text = config.to_json()
    assert BuildConfig.from_json(text) == config
    assert BuildConfig.from_json(text).to_json() == text
    data = json.loads(text)
    assert data["c4_version"] == "2.2.0"
    assert [i["file_index"] for i in data["inputs"]] == [0, 1]
    with pytest.raises(AttributeError):
        config.num_shards = 4  # type: ignore[misc]
