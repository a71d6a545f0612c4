"""``c4 submit --setup_file setup.py``: the package's sdist, built without touching its tree.

Beam's stager builds the sdist of ``--setup_file`` in the directory that holds it: it first
tries ``python -m build`` (not installed: ``No module named build`` on stderr), then runs
``setup.py sdist`` there, which writes ``*.egg-info`` into the source tree (a read-only install
fails). Here the project is copied to a temporary directory (its top-level files and its Python
packages, the way ``setup.py``'s ``find_packages`` sees them, without caches and build output),
``setup.py sdist`` runs in the copy, and the tarball goes to Beam as ``--extra_package``: the
workers ``pip install`` it at start-up, as they would ``--setup_file``'s.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from filters.spec import UsageError

# Never copied: build output, caches, version control, virtual environments.
_SKIPPED = ("__pycache__", "*.pyc", "*.egg-info", "build", "dist", ".*")


def _copy_project(source: Path, target: Path) -> None:
    """``source``'s top-level files and its packages (directories with ``__init__.py``)."""
    ignore = shutil.ignore_patterns(*_SKIPPED)
    target.mkdir(parents=True)
    skipped = set(ignore(str(source), [p.name for p in source.iterdir()]))
    for entry in sorted(source.iterdir()):
        if entry.name in skipped:
            continue
        if entry.is_file():
            shutil.copy2(entry, target / entry.name)
        elif entry.is_dir() and (entry / "__init__.py").is_file():
            shutil.copytree(entry, target / entry.name, ignore=ignore)


def build_sdist(setup_file: str, work_dir: str) -> str:
    """The sdist of the project of ``setup_file``, built in ``work_dir``; its path.

    Raises:
        UsageError: the file is not a ``setup.py``, or the sdist could not be built.
    """
    setup = Path(setup_file).resolve()
    if setup.name != "setup.py":
        raise UsageError(f"--setup_file: {setup_file} must be a setup.py")
    copy = Path(work_dir) / "src"
    dist = Path(work_dir) / "dist"
    _copy_project(setup.parent, copy)
    done = subprocess.run(
        [sys.executable, "setup.py", "-q", "sdist", "--dist-dir", str(dist)],
        cwd=copy,
        capture_output=True,
        text=True,
        check=False,
    )
    tarballs = sorted(dist.glob("*.tar.gz"))
    if done.returncode != 0 or len(tarballs) != 1:
        last = (done.stderr.strip().splitlines() or ["no sdist written"])[-1][:200]
        raise UsageError(f"--setup_file: cannot build the sdist of {setup_file}: {last}")
    return str(tarballs[0])
