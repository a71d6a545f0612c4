"""What the reference harness is built from, pinned, and where it is installed.

Standard library only: this module is read by the installer (run by any Python 3.11, before the
reference virtualenv exists), by the harnesses (inside that virtualenv) and by our own tests and
``tests/reference_runner.py`` (inside ``.venv``).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent

# The install lives outside the repository: the virtualenv is ~1.5 GB and shared by every checkout.
# Not ~/.cache/c4-reference, which the development-only shared/reference/setup.sh owns: both
# can then coexist (the byte-for-byte comparison in README.md ran them side by side).
HOME_ENV = "C4_REFERENCE_HOME"
DEFAULT_HOME = Path("~/.cache/c4-pipeline-reference")

# The reference virtualenv: TFDS's C4 code and everything it calls at run time. TensorFlow is not
# optional: c4_utils reads WET through tf.io.gfile.GFile and calls tf.compat.as_text.
PACKAGES = (
    "tensorflow-datasets==4.9.10",
    "tensorflow-cpu==2.21.0",
    "apache-beam==2.77.0",
    "langdetect==1.0.9",
    "nltk==3.10.4",
)
PYTHON_VERSION = "3.11"

# C4 3.1.0 is tensorflow_datasets/text/{c4,c4_utils}.py of the installed tensorflow-datasets 4.9.10
# (read in place, never copied). Their sha256 there, checked by the installer and the harness so a
# different build of the wheel cannot slip in unnoticed.
TFDS_RELEASE_3 = "4.9.10"
TFDS_SOURCES_3 = {
    "c4.py": "050b3fbb028d46e1a7325feaa940abd8edc5ba96398b8e76cd1b595b5543faec",
    "c4_utils.py": "11edb7a557a3ce2a3c3b768d68c60c0083781ef5d01ebc8bf1625c624aa2dcb1",
}


@dataclass(frozen=True)
class LegacySource:
    """One file of an old TFDS release's C4, as extracted from its PyPI wheel."""

    c4_version: str  # the C4 dataset version it builds
    tfds_release: str  # the tensorflow-datasets wheel it comes from
    kind: str  # "utils" (c4_utils.py) or "builder" (c4.py)
    member: str  # its path inside the wheel
    filename: str  # the name it is saved under in <home>/src
    sha256: str


LEGACY_SOURCES = (
    LegacySource(
        "2.2.0",
        "2.0.0",
        "utils",
        "tensorflow_datasets/text/c4_utils.py",
        "tfds2.0.0_c4v2.2.0_c4_utils.py",
        "dd96dac30e0689a92ce2e30751c7bb8a9a034efa31d27d4dc032e1d56da7c41e",
    ),
    LegacySource(
        "2.2.0",
        "2.0.0",
        "builder",
        "tensorflow_datasets/text/c4.py",
        "tfds2.0.0_c4v2.2.0_c4.py",
        "da8c3cf064b86daad92cd534df9be3f94ceb9a7202b7c53d71ab33c87a71ea5a",
    ),
    LegacySource(
        "1.0.0",
        "1.3.0",
        "utils",
        "tensorflow_datasets/text/c4_utils.py",
        "tfds1.3.0_c4v1.0.0_c4_utils.py",
        "2a0b26e122c00d68fbc1a5620694658ab81affcfec5411057474741d8de5f0b3",
    ),
    LegacySource(
        "1.0.0",
        "1.3.0",
        "builder",
        "tensorflow_datasets/text/c4.py",
        "tfds1.3.0_c4v1.0.0_c4.py",
        "93390936a19eed4e2489afef93a36775a8a2810d59e965ec3920608f4dcf9e67",
    ),
)
LEGACY_VERSIONS = ("2.2.0", "1.0.0")

# NLTK's English punkt_tab (the data NLTK >= 3.9 serves for TFDS's "punkt/english.pickle"), as the
# project ships it in filters/data/punkt_tab/english (filters/data/README.md says where from).
PUNKT_TAB_DIR = REPO / "filters" / "data" / "punkt_tab" / "english"
PUNKT_TAB_FILES = {
    "abbrev_types.txt": "92a3e070f43d9b4c5534758ca40ad7343b04e7e29bfe0c2eb658a39445a4f779",
    "collocations.tab": "8e2da1225e4dd2cc9dba261ee231ccb134859e21b46006e7f472c5ee269af0cf",
    "ortho_context.tab": "4bbcca25ed3d3f06c02402abf8419b9f033b8adc06e7b482eca4e45f81a5dc4c",
    "sent_starters.txt": "f3f8535483e1dba487241b764945168123bca3209a9645e59acd1225dc76edac",
}

# LDNOOBW "en" at commit 25e679f0, the list every C4 version's c4.py downloads (377 lines). md5 as
# well as sha256: the harness reports the md5, as TFDS's checksum files name it.
BADWORDS_EN = REPO / "filters" / "data" / "ldnoobw" / "25e679f" / "en"
BADWORDS_EN_SHA256 = "a506cbcf8a31935b122299f3bb1d32be6db3d0ad498765d28f365dfc4f4d7b8c"
BADWORDS_EN_MD5 = "5fdc4d13384357ddebdafd2cb6d790d6"

# The harness: what the cache key of tests/reference_runner.py covers.
HARNESS_FILES = ("pins.py", "runtime.py", "c4_reference.py", "c4_legacy_reference.py")


def home() -> Path:
    """Where the reference is installed: ``$C4_REFERENCE_HOME``, else ``DEFAULT_HOME``."""
    return Path(os.environ.get(HOME_ENV) or DEFAULT_HOME).expanduser()


def venv_dir() -> Path:
    return home() / "venv"


def venv_python() -> Path:
    return venv_dir() / "bin" / "python"


def nltk_data_dir() -> Path:
    return home() / "nltk_data"


def legacy_src_dir() -> Path:
    return home() / "src"


def stamp_path() -> Path:
    """Written last by the installer: its presence means the install completed."""
    return home() / "installed.json"


def legacy_sources(version: str) -> dict[str, LegacySource]:
    """``{"utils": ..., "builder": ...}`` of a legacy C4 version."""
    return {s.kind: s for s in LEGACY_SOURCES if s.c4_version == version}


def sha256_file(path: Path | str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fingerprint() -> str:
    """sha256 over every pin: an install made from other pins is stale and must be redone."""
    pins = {
        "packages": PACKAGES,
        "python": PYTHON_VERSION,
        "tfds3": TFDS_SOURCES_3,
        "legacy": [asdict(s) for s in LEGACY_SOURCES],
        "punkt_tab": PUNKT_TAB_FILES,
    }
    return hashlib.sha256(json.dumps(pins, sort_keys=True).encode()).hexdigest()


def installed_fingerprint() -> str | None:
    """The fingerprint the last completed install recorded, or None."""
    try:
        return json.loads(stamp_path().read_text(encoding="utf-8"))["fingerprint"]
    except (OSError, ValueError, KeyError):
        return None
