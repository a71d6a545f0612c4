"""``c4 estimate`` from any install: the measured rates ship as package data
(``pipeline/cloud/data/rates.json``, made from benchmarks/results by benchmarks/rates.py), a
wheel installed outside the repository estimates, and deploy/README.md shows the real output."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from benchmarks import rates
from pipeline.cli import main
from pipeline.cloud import estimate as est
from tests.conftest import REPO

ARGV = ["estimate", "--crawl", "CC-MAIN-2019-18", "--workers", "500"]


def test_the_shipped_rates_are_the_committed_results() -> None:
    """Fails while benchmarks/results and the package data differ: run ``make rates``."""
    assert est.RATES_PATH.read_text(encoding="utf-8") == rates.rates_text(est.RESULTS_DIR)


def test_the_shipped_rates_give_the_estimate_of_the_results(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(ARGV) == 0
    packaged = capsys.readouterr().out
    assert main([*ARGV, "--results", str(est.RESULTS_DIR)]) == 0
    fresh = capsys.readouterr().out
    assert f"({est.PACKAGED})" in packaged and f"(--results {est.RESULTS_DIR})" in fresh
    assert packaged.replace(est.PACKAGED, "X") == fresh.replace(f"--results {est.RESULTS_DIR}", "X")
    measured = next(line for line in packaged.splitlines() if line.startswith("  measured"))
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC, \d+ CPUs, Linux", measured), measured


def test_rates_json_keeps_only_what_the_estimate_reads(tmp_path: Path) -> None:
    content = est.rates_json(est.RESULTS_DIR)
    results = content["results"]
    assert set(results) >= {"end_to_end.json", "scaling.json", "clean_throughput_suite.json"}
    for data in results.values():
        assert data["date_utc"] and data["machine"]["cpus"]
    assert set(results["end_to_end.json"]) == {"date_utc", "machine", "fit_cpu_seconds"}
    # A broken result is refused, not shipped.
    shutil.copytree(est.RESULTS_DIR, tmp_path / "results")
    (tmp_path / "results" / "end_to_end.json").write_text('{"fit_cpu_seconds": {}}')
    with pytest.raises(est.UsageError, match=r"end_to_end\.json"):
        est.rates_json(tmp_path / "results")


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The wheel, built from a copy of the sources (the repository's files untouched), and
    installed with --no-deps into a directory outside the repository (its dependencies are
    .venv's). Returns (wheel, install directory)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("setup.py", "README.md", "pyproject.toml"):
        shutil.copy(REPO / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for pkg in ("filters", "pipeline", "c4_examples"):
        shutil.copytree(REPO / pkg, src / pkg, ignore=ignore)
    dist = tmp_path_factory.mktemp("dist")
    pip = [sys.executable, "-m", "pip"]
    subprocess.run(
        [*pip, "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(dist), str(src)],
        check=True,
        capture_output=True,
        cwd=dist,
    )
    (wheel,) = dist.glob("c4_pipeline-*.whl")
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [*pip, "install", "-q", "--no-deps", "--no-index", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
        cwd=target,
    )
    return wheel, target


def test_the_wheel_holds_the_rates_and_the_examples(installed_wheel: tuple[Path, Path]) -> None:
    wheel, _ = installed_wheel
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "pipeline/cloud/data/rates.json" in names
    for module in ("__init__", "masked_data", "moe_switch", "seqio_tasks"):
        assert f"c4_examples/{module}.py" in names


def test_c4_estimate_from_a_wheel_installed_outside_the_repository(
    installed_wheel: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: "c4 estimate: --results: no clean_throughput*.json in .../benchmarks/results
    (run make bench)", exit 2."""
    _, target = installed_wheel
    env = {**os.environ, "PYTHONPATH": str(target)}
    where = subprocess.run(
        [sys.executable, "-c", "import pipeline, c4_examples.moe_switch; print(pipeline.__file__)"],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert Path(where.stdout.strip()).is_relative_to(target)
    assert not (target / "benchmarks").exists()
    done = subprocess.run(
        [str(target / "bin" / "c4"), *ARGV],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert main(ARGV) == 0  # the same figures as from the source tree
    assert done.stdout == capsys.readouterr().out


def test_deploy_readme_shows_the_real_output(capsys: pytest.CaptureFixture[str]) -> None:
    text = (REPO / "deploy" / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(
        r"```\n(c4 estimate: CC-MAIN-2019-18, 500 x n1-standard-2.*?)```", text, re.S
    )
    assert len(blocks) == 1, "deploy/README.md: no sample of c4 estimate --workers 500"
    assert main(ARGV) == 0
    assert blocks[0] == capsys.readouterr().out
