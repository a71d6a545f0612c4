"""Run the project's TFDS reference harness (tests/reference/) on WET files, with a cache.

The reference is the ground truth of "exact" (INTERFACE.md): ``tests/reference/c4_reference.py``
for 3.1.0 and ``tests/reference/c4_legacy_reference.py --version 2.2.0|1.0.0``. They run in their
own virtualenv (``$C4_REFERENCE_HOME``, default ``~/.cache/c4-pipeline-reference``, made by
``make reference``) and are slow (pure-Python langdetect), so outputs are cached under
``.cache/reference/`` keyed by the sha256 of the inputs, the harness files, the version and the
arguments.

If the reference is not set up (or was set up from other pins) this raises ``ReferenceNotSetUp``
saying to run ``make reference``; tests turn that into a failure, never a skip.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from tests.reference import pins

REPO = Path(__file__).resolve().parent.parent
HARNESS_DIR = pins.HERE
HARNESS_3 = HARNESS_DIR / "c4_reference.py"
HARNESS_LEGACY = HARNESS_DIR / "c4_legacy_reference.py"
# Beside the reference install, not in the checkout: keyed by the harness, the pins and the
# inputs' bytes, so every checkout (CI's fresh clone included) reuses what another computed.
CACHE_DIR = pins.home() / "outputs"
CACHE_FORMAT = 2


class ReferenceNotSetUp(RuntimeError):
    """The reference virtualenv is missing, incomplete or installed from other pins."""


class ReferenceOutput(NamedTuple):
    """What a harness wrote: the kept documents (sorted by url) and its stats JSON."""

    records: list[dict[str, Any]]
    stats: dict[str, Any]
    path: Path


def reference_home() -> Path:
    """Where ``make reference`` installs: ``$C4_REFERENCE_HOME`` or its default."""
    return pins.home()


def legacy_src_dir() -> Path:
    """The original c4.py / c4_utils.py of C4 2.2.0 and 1.0.0 (``tfds<release>_c4v<v>_*.py``)."""
    return pins.legacy_src_dir()


def nltk_data_dir() -> Path:
    """An NLTK data dir holding tokenizers/punkt_tab/english."""
    return pins.nltk_data_dir()


def reference_python() -> Path:
    """The reference virtualenv's python, or ``ReferenceNotSetUp`` naming the fix."""
    py = pins.venv_python()
    if not py.exists():
        problem = f"{py} missing"
    elif pins.installed_fingerprint() is None:
        problem = f"install incomplete ({pins.stamp_path()} missing)"
    elif pins.installed_fingerprint() != pins.fingerprint():
        problem = "installed from other pins than tests/reference/pins.py"
    else:
        return py
    raise ReferenceNotSetUp(
        f"TFDS reference not set up ({problem}): run `make reference` "
        "(python3.11 tests/reference/install.py)"
    )


def harness_command(
    wet_paths: Sequence[Path | str],
    version: str,
    output: Path,
    stats_json: Path,
    runner: str = "inline",
    extra_args: Sequence[str] = (),
) -> list[str]:
    """The command line that runs ``version``'s harness."""
    py = str(reference_python())
    if version == "3.1.0":
        cmd = [py, str(HARNESS_3), "--runner", runner]
    else:
        cmd = [py, str(HARNESS_LEGACY), "--version", version, "--runner", runner]
    cmd += ["-o", str(output), "--stats-json", str(stats_json), "--quiet", *extra_args]
    return cmd + [str(Path(p).resolve()) for p in wet_paths]


def cache_key(
    wet_paths: Sequence[Path | str], version: str, runner: str, extra_args: Sequence[str]
) -> str:
    """sha256 over the inputs' bytes and order, the harness files, the pins, version and
    arguments."""
    h = hashlib.sha256()
    parts = [f"format={CACHE_FORMAT}", f"version={version}", f"runner={runner}"]
    parts += [f"arg={a}" for a in extra_args]
    parts += [f"{name}={pins.sha256_file(HARNESS_DIR / name)}" for name in pins.HARNESS_FILES]
    parts += [f"pins={pins.fingerprint()}"]
    parts += [f"input={pins.sha256_file(Path(p))}" for p in wet_paths]
    h.update("\n".join(parts).encode("utf-8"))
    return h.hexdigest()


def _load(out: Path, stats: Path) -> ReferenceOutput:
    with out.open(encoding="utf-8") as f:
        records = [json.loads(line) for line in f if line.strip()]
    with stats.open(encoding="utf-8") as f:
        return ReferenceOutput(records, json.load(f), out)


def run_reference(
    wet_paths: Sequence[Path | str],
    version: str = "3.1.0",
    runner: str = "inline",
    extra_args: Sequence[str] = (),
    use_cache: bool = True,
    env: dict[str, str] | None = None,
) -> ReferenceOutput:
    """Run (or reuse a cached run of) the reference for ``version`` on ``wet_paths``, in order.

    Raises:
        ReferenceNotSetUp: ``make reference`` has not been run.
        subprocess.CalledProcessError: the harness failed (its stderr is attached).
    """
    reference_python()
    key = cache_key(wet_paths, version, runner, extra_args)
    target = CACHE_DIR / f"{version}-{key[:24]}"
    out, stats = target / "out.jsonl", target / "stats.json"
    if use_cache and out.is_file() and stats.is_file():
        return _load(out, stats)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        tmp_out, tmp_stats = Path(tmp) / "out.jsonl", Path(tmp) / "stats.json"
        cmd = harness_command(wet_paths, version, tmp_out, tmp_stats, runner, extra_args)
        subprocess.run(
            cmd, check=True, capture_output=True, text=True, env={**os.environ, **(env or {})}
        )
        if use_cache:
            target.mkdir(parents=True, exist_ok=True)
            os.replace(tmp_out, out)
            os.replace(tmp_stats, stats)
            return _load(out, stats)
        result = _load(tmp_out, tmp_stats)
        # The file is gone with the temporary directory; keep the records only.
        return ReferenceOutput(result.records, result.stats, Path())
