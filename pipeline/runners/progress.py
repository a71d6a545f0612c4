"""How far a local run is: a channel from the worker processes to the ``c4`` process.

Beam's metrics of a running job cannot be queried before it ends on the FnApiRunner, and the
DaskRunner has none, so the reader reports itself: when ``C4_PROGRESS_DIR`` names a directory
(``c4 build`` sets it, for its own process and the workers it starts, which inherit it), each
process keeps its totals (files and records read, compressed bytes of finished files, the
position in the files it is reading, the transforms it is running) and rewrites them, at most
every ``WRITE_EVERY_S``, to ``<dir>/<pid>.json`` (a temporary file renamed over it, so a reader
never sees half of one). The ``c4`` process sums the files (``read_totals``). Without the
variable (Dataflow workers, tests) every call here returns at once.

The DirectRunner's stages run one after another, scheduled by the ``c4`` process itself:
``pipeline.runners.direct`` notes each one here (``note_stages``, ``note_stage``), and the
display reads it in the same process.

Nothing here touches the output: the directory is a temporary one of the ``c4`` process.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ENV_DIR = "C4_PROGRESS_DIR"
_REF = "ref_AppliedPTransform_"
# A process rewrites its file at most this often (a few hundred bytes: ~20 us each).
WRITE_EVERY_S = 0.5
# How many records the reader reads between two reports of its position in a file.
POSITION_EVERY_RECORDS = 256


class _Totals:
    """This process's totals, and when they were last written."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.files = 0
        self.records = 0
        self.bytes = 0
        self.reading: dict[str, int] = {}
        self.running: dict[str, int] = {}
        self.written = 0.0

    def write(self, force: bool = False) -> None:
        """Rewrite this process's file, unless it was rewritten less than WRITE_EVERY_S ago."""
        now = time.monotonic()
        if not force and now - self.written < WRITE_EVERY_S:
            return
        self.written = now
        state = {
            "files": self.files,
            "records": self.records,
            "bytes": self.bytes,
            "reading": sum(self.reading.values()),
            "running": sorted(k for k, n in self.running.items() if n > 0),
        }
        path = Path(self.directory) / f"{self.pid}.json"
        tmp = path.with_suffix(".tmp")
        with contextlib.suppress(OSError):  # a progress line missed, never a failed run
            tmp.write_text(json.dumps(state), encoding="utf-8")
            os.replace(tmp, path)


_totals: _Totals | None = None
_totals_lock = threading.Lock()


def _mine() -> _Totals | None:
    """This process's totals, when a ``c4`` process is watching (a forked child starts afresh)."""
    global _totals
    directory = os.environ.get(ENV_DIR)
    if not directory:
        return None
    totals = _totals
    if totals is None or totals.pid != os.getpid() or totals.directory != directory:
        with _totals_lock:
            if _totals is None or _totals.pid != os.getpid() or _totals.directory != directory:
                _totals = _Totals(directory)
            totals = _totals
    return totals


def file_position(key: str, position: int) -> None:
    """The reader is ``position`` compressed bytes into the file ``key`` (its index)."""
    totals = _mine()
    if totals is None:
        return
    with totals.lock:
        totals.reading[key] = position
        totals.write()


def file_done(key: str, records: int, size: int) -> bool:
    """The reader finished the file ``key``: ``records`` records, ``size`` compressed bytes.
    Whether a ``c4`` process watches (else the reader logs its progress itself)."""
    totals = _mine()
    if totals is None:
        return False
    with totals.lock:
        totals.reading.pop(key, None)
        totals.files += 1
        totals.records += records
        totals.bytes += size
        totals.write()
    return True


@contextlib.contextmanager
def running(label: str) -> Iterator[None]:
    """Inside: this process runs (a bundle of) the transform ``label``."""
    totals = _mine()
    if totals is None:
        yield
        return
    with totals.lock:
        totals.running[label] = totals.running.get(label, 0) + 1
        totals.write()
    try:
        yield
    finally:
        with totals.lock:
            totals.running[label] -= 1
            totals.write()


def flush() -> None:
    """Write this process's totals now (the end of a bundle: the display must not lag)."""
    totals = _mine()
    if totals is not None:
        with totals.lock:
            totals.write(force=True)


@dataclass
class ReadTotals:
    """The sum over every process's file."""

    files: int = 0
    records: int = 0
    bytes: int = 0  # compressed bytes of the files finished, plus positions in those being read
    processes: int = 0
    running: set[str] = field(default_factory=set)


def read_totals(directory: str) -> ReadTotals:
    """Sum the files of ``directory`` (one per process that reported)."""
    out = ReadTotals()
    for path in Path(directory).glob("*.json"):
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        out.processes += 1
        out.files += int(state.get("files", 0))
        out.records += int(state.get("records", 0))
        out.bytes += int(state.get("bytes", 0)) + int(state.get("reading", 0))
        out.running.update(state.get("running", []))
    return out


# --- the DirectRunner's stages, noted by the c4 process itself --------------------------------


@dataclass
class Stages:
    """Which of the runner's fused stages runs, in the order it started them."""

    total: int = 0
    started: list[str] = field(default_factory=list)
    current: str = ""
    on_first: list[Callable[[], None]] = field(default_factory=list)


stages = Stages()


def note_stages(total: int) -> None:
    """The runner planned ``total`` stages."""
    stages.total = total
    stages.started.clear()
    stages.current = ""


def note_stage(name: str) -> None:
    """The runner starts (a bundle of) the stage ``name``; the first one after its workers
    exist starts the display (a thread before then would keep them from being forked)."""
    if name not in stages.started:
        stages.started.append(name)
    stages.current = name
    while stages.on_first:
        stages.on_first.pop(0)()


def stage_labels(name: str) -> list[str]:
    """The top-level transforms a fused stage runs, in order: ``ReadWet``, ``CleanPages``, ...

    Beam names a fused stage ``(A)+(B)+...``, each part a transform's full label as
    ``ref_AppliedPTransform_ReadWet-Parse_15`` or ``DedupUrls/KeepOne/Group/Read``.
    """
    labels: list[str] = []
    for part in name.replace("(", " ").replace(")", " ").replace("+", " ").split():
        if part.startswith(_REF):  # ref_AppliedPTransform_<label, "/" as "-">_<id>
            part = re.sub(r"_\d+$", "", part.removeprefix(_REF))
        top = part.split("/", 1)[0].split("-", 1)[0]
        if top and top not in labels:
            labels.append(top)
    return labels
