"""The sdist that ``--setup_file`` workers install: it holds pipeline/, filters/ and their data,
and it installs and runs in a fresh virtualenv (dependencies borrowed from .venv, no download).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import tarfile
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.filters.test_native import can_compile

DATA = [
    "filters/data/punkt_tab/english/sent_starters.txt",
    "filters/data/punkt_tab/NOTICE",
    "filters/data/ldnoobw/25e679f/en",
    "filters/data/ldnoobw/25e679f/LICENSE",
    "filters/data/ldnoobw/5faf2ba/LICENSE",
    "filters/data/ldnoobw/NOTICE",
    "filters/data/realnews/domain_to_allowed_subdomains.json",
    "filters/data/realnews/LICENSE",
    "filters/data/realnews/NOTICE",
    "filters/data/langdetect/langdetect-1.0.9.table.zlib",
    "filters/data/langdetect/LICENSE",
    "filters/data/langdetect/NOTICE",
    "pipeline/data/sample/CC-MAIN-2016-50.excerpt-25.warc.wet.gz",
    "pipeline/data/vocab/c4_sample_8k.model",
]

SMOKE = """
import sys
from pathlib import Path
import filters, pipeline
venv = Path(sys.prefix)
for pkg in (filters, pipeline):
    assert Path(pkg.__file__).is_relative_to(venv), pkg.__file__
from filters.local import run_local
from filters.spec import resolve_rules
from pipeline.config import SAMPLE_WET
result = run_local([str(SAMPLE_WET)], resolve_rules("en", "3.1.0"))
from filters import kernels
if kernels.native is not None:  # the compiled core, built by pip from the sdist's C source
    assert Path(kernels.native.__file__).is_relative_to(venv), kernels.native.__file__
    # the compiled langdetect port, reading the table shipped in the package
    from filters.language import LangdetectRsDetector
    assert LangdetectRsDetector().load().detect_langs("This is plain English text.")[0][0] == "en"
print(kernels.COMPILED)
print(len(result.docs))
"""


@pytest.fixture(scope="module")
def sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Built from a copy, as Beam's stager would from the tree, without touching the repo's files.
    src = tmp_path_factory.mktemp("src")
    for name in ("setup.py", "README.md", "pyproject.toml"):
        shutil.copy(REPO / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for pkg in ("filters", "pipeline"):
        shutil.copytree(REPO / pkg, src / pkg, ignore=ignore)
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "setup.py", "-q", "sdist", "--dist-dir", str(out)],
        cwd=src,
        check=True,
        capture_output=True,
    )
    (archive,) = out.glob("c4_pipeline-*.tar.gz")
    return archive


def test_sdist_holds_packages_and_data(sdist: Path):
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    for path in ["setup.py", "pipeline/__init__.py", "pipeline/cli.py", "pipeline/cloud/submit.py"]:
        assert path in names
    assert "filters/__init__.py" in names and "pipeline/transforms/read.py" in names
    assert "filters/_native.c" in names and not any(n.endswith(".so") for n in names)
    for path in DATA:
        assert path in names, f"sdist lacks {path}"
    assert not any(n.startswith(("tests/", "deploy/", "benchmarks/")) for n in names)
    assert not any("__pycache__" in n for n in names)


def test_sdist_installs_and_runs_in_a_fresh_virtualenv(sdist: Path, tmp_path: Path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # Dependencies from the project's .venv (a .pth line, after the venv's own site-packages):
    # nothing is downloaded, and our package can only come from the sdist.
    (Path(site) / "c4_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            str(sdist),
        ],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    done = subprocess.run(
        [str(python), "-c", SMOKE], check=True, capture_output=True, text=True, cwd=tmp_path
    )
    compiled, n_docs = done.stdout.strip().splitlines()[-2:]
    assert int(n_docs) > 0
    # Workers build the compiled core from the sdist; only a machine that cannot compile may not.
    assert compiled == "True" or not can_compile(), done.stderr
    assert (venv / "bin" / "c4").is_file()
