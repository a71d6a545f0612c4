"""Fault injection for the kill matrices: die at the N-th file write of a command.

Tests set ``C4_FAULT_KILL_AT=N`` and ``C4_FAULT_LOG=FILE`` on a command started in its own
process group. Every file write of the commit protocol (``write_atomic``, the switch of a
generation, a journal) first appends its path to FILE (one line, one ``write``: lines from
forked workers never interleave); the N-th kills the whole process group with SIGKILL, as a
power cut or an OOM kill would, before the write happens. Without the variables this is one
dictionary lookup.
"""

from __future__ import annotations

import os
import signal


def file_write(path: str) -> None:
    """Count a file write; the N-th (``C4_FAULT_KILL_AT``) kills the process group."""
    log = os.environ.get("C4_FAULT_LOG")
    if not log:
        return
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (path.replace("\n", " ") + "\n").encode("utf-8", "replace"))
    finally:
        os.close(fd)
    kill_at = int(os.environ.get("C4_FAULT_KILL_AT", "0") or 0)
    if kill_at <= 0:
        return
    with open(log, "rb") as handle:
        count = handle.read().count(b"\n")
    if count >= kill_at:
        os.killpg(os.getpgrp(), signal.SIGKILL)
