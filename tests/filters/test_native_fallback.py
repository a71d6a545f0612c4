"""The pure-Python path (no ``filters._native``, or ``C4_PURE_PYTHON=1``) gives the same output.

A build with the compiled core and one forced onto the pure path write byte-identical files; the
pure path says so in exactly one warning line; ``run_local`` gives equal results both ways in
every version.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from filters import badwords, clean, dedup, kernels, language, wet
from filters.local import run_local
from filters.spec import resolve_rules
from tests.conftest import REAL_WET, REPO, output_tree
from tests.filters.test_native import _native

WARNING = "compiled core unavailable"
C4 = [sys.executable, "-m", "pipeline.cli"]
INPUTS = [str(p) for p in REAL_WET if "excerpt-262" in p.name or "excerpt-25" in p.name]


@pytest.fixture
def pure(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process on the pure path, as ``filters/kernels.py`` sets it up without the module."""
    monkeypatch.setattr(clean, "clean_lines", clean._clean_lines)
    monkeypatch.setattr(wet, "native", None)
    monkeypatch.setattr(dedup, "native", None)
    monkeypatch.setattr(badwords, "native", None)
    monkeypatch.setattr(language, "native", None)  # detectors made from now on: langdetect-rs


@pytest.mark.parametrize("version", ["3.1.0", "2.2.0", "1.0.0"])
def test_run_local_equal_both_ways(version, request):
    _native()
    rules = resolve_rules("en", version)
    paths = [str(p) for p in REAL_WET]
    compiled = run_local(paths, rules)
    request.getfixturevalue("pure")
    assert clean.clean_lines is clean._clean_lines and wet.native is None
    python = run_local(paths, rules)
    assert compiled.docs == python.docs
    assert compiled.counters == python.counters
    assert compiled.dead_letters == python.dead_letters
    assert compiled.dropped == python.dropped
    assert len(compiled.docs) > 50


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if WARNING in line]


def test_missing_module_runs_pure_with_one_warning():
    """An install without the compiled module: pure path, one warning line, at first import."""
    code = (
        "import sys; sys.modules['filters._native'] = None\n"
        "import filters.clean, filters.dedup, filters.wet, filters.kernels as k\n"
        "import filters.local\n"
        "assert not k.COMPILED and filters.clean.clean_lines is filters.clean._clean_lines\n"
    )
    env = {k: v for k, v in os.environ.items() if k != kernels.PURE_ENV}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    lines = _warnings(done.stderr)
    assert len(lines) == 1 and "filters._native is not built" in lines[0], done.stderr


def test_stale_module_is_not_used():
    """A module built from an older source (another ``API``): pure path, one warning line."""
    code = (
        "import sys, types; sys.modules['filters._native'] = types.ModuleType('filters._native')\n"
        "import filters.clean, filters.kernels as k\n"
        "assert not k.COMPILED and filters.clean.clean_lines is filters.clean._clean_lines\n"
    )
    env = {k: v for k, v in os.environ.items() if k != kernels.PURE_ENV}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    lines = _warnings(done.stderr)
    assert len(lines) == 1 and "stale" in lines[0], done.stderr


def test_compiled_module_has_the_expected_api():
    native = _native()
    assert native.API == kernels.NATIVE_API


@pytest.mark.slow
def test_build_same_bytes_compiled_and_forced_pure(tmp_path: Path):
    """``c4 build`` with the compiled core and with ``C4_PURE_PYTHON=1``: the same files."""
    _native()
    outputs = {}
    for mode in ("compiled", "pure"):
        env = {k: v for k, v in os.environ.items() if k != kernels.PURE_ENV}
        if mode == "pure":
            env[kernels.PURE_ENV] = "1"
        out = tmp_path / "out"  # one path: config.json records it
        done = subprocess.run(
            [*C4, "build", "--input", *INPUTS, "--output", str(out)],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr
        assert len(_warnings(done.stderr)) == (1 if mode == "pure" else 0), done.stderr
        outputs[mode] = {
            rel: path.read_bytes()
            for rel, path in output_tree(out).items()
            if path.name != "run.json"  # the run's facts: times, command line
        }
        shutil.rmtree(out)
    assert outputs["compiled"].keys() == outputs["pure"].keys()
    assert any(rel.startswith("parquet/") for rel in outputs["pure"])
    for rel, data in outputs["compiled"].items():
        assert data == outputs["pure"][rel], rel
