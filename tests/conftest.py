"""Shared fixtures: the vendored real test data (tests/data, see its README) and the runner.

Private Beam APIs (docs/runners.md; ``pipeline.runners.PATCHED_BEAM_VERSION``):

- ``apache_beam.runners.direct.direct_runner.SwitchingDirectRunner.run_pipeline``, patched for
  the session: a test's ``beam.Pipeline()`` runs on ``C4DirectRunner`` (the FnApiRunner, as
  ``c4`` runs it), never Prism with its run-time download
  (tests/pipeline/runners/test_direct.py).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# cld3-py's gcld3 segfaults when it is first imported after TensorFlow (protobuf symbols clash);
# imported first, both work. Tests import TensorFlow to read our output back, so load gcld3 here,
# before any test module runs. Our pipeline itself never imports TensorFlow.
import gcld3  # noqa: F401
import pytest

REPO = Path(__file__).resolve().parent.parent
# Every file the tests read lives in the repository (tests/data/README.md: origin, licence, sha256).
TEST_DATA = REPO / "tests" / "data"
WET_DIR = TEST_DATA / "wet"
EDGE_DIR = WET_DIR / "edge_cases"
REAL_WET = sorted(WET_DIR.glob("*.warc.wet.gz"))
EDGE_WET = sorted(EDGE_DIR.glob("*.wet.gz"))
# 1,000 real C4 en documents (JSON lines: text, url, date).
C4_SAMPLE = TEST_DATA / "c4" / "c4-en.olmo-sample-1000.json.gz"
# Beam options for the DirectRunner with two SDK worker processes.
TWO_WORKERS = ("--direct_num_workers", "2", "--direct_running_mode", "multi_processing")


@pytest.fixture(scope="session")
def test_data_dir() -> Path:
    return TEST_DATA


@pytest.fixture(scope="session")
def nltk_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ``NLTK_DATA`` directory serving the shipped punkt parameters (``filters/data``).

    NLTK looks them up as ``tokenizers/punkt_tab/english/``. They are copied into that layout
    here rather than kept twice in the repository; not symlinked, as NLTK >= 3.10 refuses to
    open files that resolve outside its data directories.
    """
    from filters.sentences import PUNKT_DIR

    root = tmp_path_factory.mktemp("nltk_data")
    shutil.copytree(PUNKT_DIR, root / "tokenizers" / "punkt_tab" / PUNKT_DIR.name)
    return root


@pytest.fixture(scope="session")
def real_wet_files() -> list[Path]:
    assert REAL_WET, f"no WET files under {WET_DIR}"
    return REAL_WET


@pytest.fixture(scope="session", autouse=True)
def _beam_direct_runner_is_the_fnapi_runner() -> Iterator[None]:
    """Tests that build ``beam.Pipeline()`` get Beam's DirectRunner, which tries Prism first and
    downloads its binary where a network allows (``pipeline/runners/direct.py``). They run on what
    ``c4`` runs instead: the FnApiRunner, never downloading."""
    from apache_beam.runners.direct import direct_runner

    from pipeline.runners.direct import C4DirectRunner

    switching = direct_runner.SwitchingDirectRunner
    original = switching.run_pipeline

    def run_pipeline(self: Any, pipeline: Any, options: Any) -> Any:
        return C4DirectRunner().run_pipeline(pipeline, options)

    switching.run_pipeline = run_pipeline  # type: ignore[method-assign]
    yield
    switching.run_pipeline = original  # type: ignore[method-assign]


@pytest.fixture(scope="module")
def dask_threads() -> Iterator[str]:
    """A local Dask cluster of two single-threaded workers in this process: the scheduler's
    address, for ``--dask_client_address``."""
    from dask import distributed

    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    )
    try:
        yield str(cluster.scheduler_address)
    finally:
        cluster.close()


def output_tree(root: Path) -> dict[str, Path]:
    """The committed files of an output DIR by relative path (``pipeline.io.commit``): on local
    disks they live in ``DIR/.c4/generations/<id>/``, reached through DIR's top-level links,
    which ``Path.rglob`` does not follow."""
    from pipeline.io.commit import output_files

    return {rel: Path(path) for rel, path in output_files(str(root)).items()}


def dir_snapshot(root: Path) -> dict[str, object]:
    """Every entry under ``root``: links as their target, files as their bytes and mtime; for
    "DIR is exactly as it was" (pipeline/io/commit.py)."""
    import os

    out: dict[str, object] = {}
    for base, dirs, files in os.walk(root):
        for name in sorted(dirs + files):
            path = Path(base, name)
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                out[rel] = ("link", os.readlink(path))
            elif path.is_file():
                out[rel] = (path.read_bytes(), path.stat().st_mtime_ns)
            else:
                out[rel] = "dir"
    return out
