"""``make run``'s output, built once per test session in a temporary directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.cli import main


@pytest.fixture(scope="session")
def make_run_output(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``c4 build --mask`` on the bundled sample (what ``make run`` runs): the DIR."""
    out = tmp_path_factory.mktemp("make-run") / "c4-output"
    assert main(["build", "--output", str(out), "--mask"]) == 0
    assert (out / "masked" / "config.json").is_file()
    return out
