"""The project's TFDS reference harness: its pins, its install, and its output on the bundled WET.

The harness runs in its own virtualenv (``make reference``). Without it these tests fail, naming
``make reference``; they never skip.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from tests.reference import pins
from tests.reference_runner import (
    HARNESS_3,
    HARNESS_LEGACY,
    ReferenceNotSetUp,
    ReferenceOutput,
    reference_python,
    run_reference,
)

pytestmark = pytest.mark.reference

SAMPLE = pins.REPO / "pipeline" / "data" / "sample" / "CC-MAIN-2016-50.excerpt-25.warc.wet.gz"
SAMPLE_SHA256 = "5b3d773361e3ade3c848ff3aad0e07cef3697f314ebd35c1006c346f2a3724de"

# What each version keeps of the sample (26 records: a warcinfo record without a url and 25
# pages; 8 have too few sentences after cleaning, 3 have a bad word): page counts out of each
# stage, and the sha256 of the JSONL, the same from both runners. The JSONL digests are those of
# the development-only shared/reference harnesses on the same file (tests/reference/README.md,
# "Checked").
EXPECTED = {
    "3.1.0": {
        "stages": {
            "split_wet_file": (26, 25),
            "is_valid_length": (25, 25),
            "url_dedup": (25, 25),
            "clean_page": (25, 17),
            "remove_duplicate_text": (17, 17),
            "detect_english": (17, 17),
            "badwords": (17, 14),
            "split": (14, 14),
        },
        "sha256": "fdeb7633d360e97bff85ab88e567d7771f0bf478a14b53434de4961208ae7d1e",
    },
    "2.2.0": {
        "stages": {
            "split_wet_file": (26, 25),
            "is_valid_length": (25, 25),
            "url_dedup": (25, 25),
            "clean_page(+badwords)": (25, 14),
            "remove_duplicate_text(lines)": (14, 14),
            "is_language(en)": (14, 14),
            "split": (14, 14),
        },
        "sha256": "2ea3ae4040155d20a5915c338e2de29a0072a80ce6f7e4e52c648ef3b975d479",
    },
    "1.0.0": {
        "stages": {
            "split_wet_file": (26, 25),
            "is_valid_length": (25, 25),
            "url_dedup": (25, 25),
            "clean_page(+badwords)": (25, 14),
            "remove_duplicate_text(3-sentence windows)": (14, 14),
            "is_language(en)": (14, 14),
            "emit(train only)": (14, 14),
        },
        "sha256": "28263d9d4cfc8fc6fedcc6efa49ff674fae0840e52674bcf4020000bc89d0fde",
    },
}


def reference(version: str, runner: str) -> ReferenceOutput:
    try:
        return run_reference([SAMPLE], version, runner)
    except ReferenceNotSetUp as e:
        pytest.fail(str(e))


# --- the pins -------------------------------------------------------------------------------


def test_legacy_sources_pin_both_files_of_each_old_version() -> None:
    kinds = {(s.c4_version, s.kind) for s in pins.LEGACY_SOURCES}
    assert kinds == {(v, k) for v in pins.LEGACY_VERSIONS for k in ("utils", "builder")}
    assert {s.tfds_release for s in pins.LEGACY_SOURCES if s.c4_version == "2.2.0"} == {"2.0.0"}
    assert {s.tfds_release for s in pins.LEGACY_SOURCES if s.c4_version == "1.0.0"} == {"1.3.0"}
    for s in pins.LEGACY_SOURCES:
        member = "c4_utils.py" if s.kind == "utils" else "c4.py"
        assert s.member == f"tensorflow_datasets/text/{member}"
        assert s.filename == f"tfds{s.tfds_release}_c4v{s.c4_version}_{member}"
    assert len({s.filename for s in pins.LEGACY_SOURCES}) == len(pins.LEGACY_SOURCES)


def test_pinned_digests_are_sha256() -> None:
    digests = [s.sha256 for s in pins.LEGACY_SOURCES]
    digests += [*pins.TFDS_SOURCES_3.values(), *pins.PUNKT_TAB_FILES.values()]
    digests += [pins.BADWORDS_EN_SHA256]
    assert all(re.fullmatch(r"[0-9a-f]{64}", d) for d in digests), digests
    assert len(set(digests)) == len(digests)


def test_pinned_packages() -> None:
    assert pins.PACKAGES == (
        "tensorflow-datasets==4.9.10",
        "tensorflow-cpu==2.21.0",
        "apache-beam==2.77.0",
        "langdetect==1.0.9",
        "nltk==3.10.4",
    )
    assert pins.TFDS_RELEASE_3 == "4.9.10"


def test_the_repository_files_the_harness_uses_are_the_pinned_ones() -> None:
    for name, sha in pins.PUNKT_TAB_FILES.items():
        assert pins.sha256_file(pins.PUNKT_TAB_DIR / name) == sha, name
    assert pins.sha256_file(pins.BADWORDS_EN) == pins.BADWORDS_EN_SHA256
    assert hashlib.md5(pins.BADWORDS_EN.read_bytes()).hexdigest() == pins.BADWORDS_EN_MD5
    assert pins.sha256_file(SAMPLE) == SAMPLE_SHA256
    for name in pins.HARNESS_FILES:
        assert (pins.HERE / name).is_file(), name
    assert {HARNESS_3.name, HARNESS_LEGACY.name} <= set(pins.HARNESS_FILES)


def test_a_missing_install_names_make_reference(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv(pins.HOME_ENV, str(tmp_path))
    with pytest.raises(ReferenceNotSetUp, match="make reference"):
        reference_python()
    # An install made from other pins is stale.
    (tmp_path / "venv" / "bin").mkdir(parents=True)
    (tmp_path / "venv" / "bin" / "python").touch()
    (tmp_path / "installed.json").write_text('{"fingerprint": "other"}')
    with pytest.raises(ReferenceNotSetUp, match="other pins"):
        reference_python()


# --- the install ----------------------------------------------------------------------------


def test_the_install_holds_the_pinned_sources() -> None:
    try:
        python = reference_python()
    except ReferenceNotSetUp as e:
        pytest.fail(str(e))
    for s in pins.LEGACY_SOURCES:
        assert pins.sha256_file(pins.legacy_src_dir() / s.filename) == s.sha256, s.filename
    (site,) = python.parent.parent.glob("lib/python3.*/site-packages")
    for name, sha in pins.TFDS_SOURCES_3.items():
        assert pins.sha256_file(site / "tensorflow_datasets" / "text" / name) == sha, name
    punkt = pins.nltk_data_dir() / "tokenizers" / "punkt_tab" / "english"
    for name, sha in pins.PUNKT_TAB_FILES.items():
        assert pins.sha256_file(punkt / name) == sha, name


# --- a run on the bundled sample ------------------------------------------------------------


@pytest.mark.parametrize("runner", ["inline", "beam"])
@pytest.mark.parametrize("version", list(EXPECTED))
def test_the_bundled_sample(version: str, runner: str) -> None:
    out = reference(version, runner)
    want = EXPECTED[version]
    stages = {s["stage"]: (s["in"], s["out"]) for s in out.stats["stages"]}
    assert stages == want["stages"]
    assert len(out.records) == out.stats["docs_out"] == 14
    assert {r["split"] for r in out.records} == {"train"}
    assert hashlib.sha256(out.path.read_bytes()).hexdigest() == want["sha256"]
    assert out.stats["runner"] == runner
    assert out.stats["options"]["badwords_md5"] == pins.BADWORDS_EN_MD5
    if version != "3.1.0":
        assert all(s["pinned"] for s in out.stats["sources"].values())
