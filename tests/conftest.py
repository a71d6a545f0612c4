"""Shared fixtures: where ../shared is, and its real WET samples."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# cld3-py's gcld3 segfaults when it is first imported after TensorFlow (protobuf symbols clash);
# imported first, both work. Tests import TensorFlow to read our output back, so load gcld3 here,
# before any test module runs. Our pipeline itself never imports TensorFlow.
import gcld3  # noqa: F401
import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("C4_SHARED", REPO.parent / "shared")).resolve()
WET_DIR = SHARED / "data" / "wet"
EDGE_DIR = WET_DIR / "edge_cases"
REAL_WET = sorted(WET_DIR.glob("*.warc.wet.gz"))
EDGE_WET = sorted(EDGE_DIR.glob("*.wet.gz"))
# Beam options for the DirectRunner with two SDK worker processes.
TWO_WORKERS = ("--direct_num_workers", "2", "--direct_running_mode", "multi_processing")


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"../shared not found at {SHARED}; set C4_SHARED")
    return SHARED


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
