"""How a ``c4`` command that imported Beam ends its process (``pipeline.cli._exit_now``): without
the interpreter's teardown, but with the ``atexit`` handlers run and every byte printed; and as
usual while another thread still works, or when called from Python with its own arguments."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import REAL_WET

# An object whose finalizer runs only in the interpreter's teardown; an atexit handler; output
# left in stdout's buffer (a pipe, so block-buffered).
_PROGRAM = """
    import atexit, sys, threading, time
    from pipeline.cli import _exit_now

    class Teardown:
        def __del__(self):
            sys.stdout.write("teardown ran\\n")

    kept = Teardown()
    atexit.register(lambda: sys.stdout.write("atexit ran\\n"))
    sys.stdout.write("buffered\\n")
    if "--worker" in sys.argv:
        threading.Thread(target=lambda: (time.sleep(0.3), print("worker done"))).start()
    _exit_now(3)
    print("returned")
"""


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    code = textwrap.dedent(_PROGRAM)
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60
    )


def test_exit_now_skips_the_teardown_not_atexit_nor_the_buffered_output() -> None:
    run = _run()
    assert run.returncode == 3, run.stderr
    assert run.stdout.splitlines() == ["buffered", "atexit ran"]


def test_exit_now_leaves_a_process_with_a_working_thread_to_end_as_usual() -> None:
    run = _run("--worker")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[:2] == ["buffered", "returned"]
    assert set(lines[2:]) == {"worker done", "atexit ran", "teardown ran"}


def test_c4_build_from_the_command_line_exits_with_its_summary(tmp_path: Path) -> None:
    out = tmp_path / "out"
    wet = REAL_WET[0]
    argv = ["build", "--input", str(wet), "--output", str(out)]
    run = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", *argv], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert (out / "stats.json").is_file()
    assert f"{out}/manifest.json" in run.stdout, run.stdout  # the summary, to its last lines
    failed = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", *argv[:-1], str(out / "stats.json" / "x")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert failed.returncode != 0 and "c4 build" in failed.stderr
