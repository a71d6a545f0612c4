"""The live display of a local run: what is known of its progress, and nothing more.

One line: elapsed time; the stage running (the DirectRunner's fused stage, ``k/N`` and the
top-level transforms it holds; on the DaskRunner, the transforms whose bundles the workers run);
what the reader has read of the input (files, compressed bytes of the total where every size is
known, records); and an ETA for the read only when it can be computed (every size known, some
bytes read). On a terminal the line is redrawn in place every second; otherwise a plain line is
printed every 10 s. ``C4_PROGRESS_INTERVAL`` (seconds) changes the interval; ``0`` turns the
display and the workers' reports off.

The workers report through ``pipeline.runners.progress``; this thread only reads small files
and formats a line, once per interval.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TextIO

from pipeline.runners import progress

ENV_INTERVAL = "C4_PROGRESS_INTERVAL"
TTY_INTERVAL_S = 1.0
PLAIN_INTERVAL_S = 10.0
# A stage line names at most this many transforms.
MAX_LABELS = 4


def interval_s(stream: TextIO) -> float:
    """The display's interval: ``C4_PROGRESS_INTERVAL``, else by whether ``stream`` is a tty."""
    value = os.environ.get(ENV_INTERVAL)
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
    return TTY_INTERVAL_S if _isatty(stream) else PLAIN_INTERVAL_S


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def clock_text(seconds: float) -> str:
    """``0:02:05``."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f}"


# The read end of a ``signal.set_wakeup_fd`` pipe (``pipeline.command.interrupt_exits``): the
# interpreter writes a signal's number there the moment it arrives, before the handler runs.
_wakeup: dict[str, Any] = {"fd": None, "seen": False}


def watch_interrupts(fd: int | None) -> None:
    """Read SIGINT's arrival from ``fd`` (``None``: stop)."""
    _wakeup.update(fd=fd, seen=False)


def interrupt_pending() -> bool:
    """Whether SIGINT has arrived (its handler may not have run yet)."""
    fd = _wakeup["fd"]
    if _wakeup["seen"] or fd is None:
        return bool(_wakeup["seen"])
    try:
        data = os.read(fd, 512)
    except (BlockingIOError, OSError):
        return False
    if signal.SIGINT in data:
        _wakeup["seen"] = True
    return bool(_wakeup["seen"])


class Display:
    """Formats and prints the progress line of one run (see the module docstring)."""

    def __init__(
        self,
        prog: str,
        sizes: Sequence[int | None] | None,
        directory: str,
        stream: TextIO,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.prog = prog
        self.sizes = list(sizes) if sizes is not None else None
        self.directory = directory
        self.stream = stream
        self.clock = clock
        self.started = clock()
        self.first_bytes: tuple[float, int] | None = None
        self.tty = _isatty(stream)

    def line(self) -> str:
        """The progress line now."""
        now = self.clock()
        parts = [f"{self.prog}: {clock_text(now - self.started)}"]
        totals = progress.read_totals(self.directory)
        stage = self._stage(totals)
        if stage:
            parts.append(stage)
        if self.sizes is not None:
            parts.append(self._read(totals, now))
        return " | ".join(parts)

    def _stage(self, totals: progress.ReadTotals) -> str:
        stages = progress.stages
        if stages.current:
            labels = progress.stage_labels(stages.current)
            shown = ", ".join(labels[:MAX_LABELS]) + (", ..." if len(labels) > MAX_LABELS else "")
            index = stages.started.index(stages.current) + 1
            return f"stage {index}/{stages.total}: {shown}" if stages.total else f"stage {shown}"
        if totals.running:
            labels = sorted({label.split("/", 1)[0] for label in totals.running})
            return "running: " + ", ".join(labels)
        return ""

    def _read(self, totals: progress.ReadTotals, now: float) -> str:
        assert self.sizes is not None
        files = len(self.sizes)
        text = f"read {totals.files:,}/{files:,} files"
        known = all(size is not None for size in self.sizes)
        total_bytes = sum(size or 0 for size in self.sizes)
        if known and total_bytes:
            done = min(totals.bytes, total_bytes)
            text += f", {_mb(done)}/{_mb(total_bytes)} MB ({100 * done // total_bytes}%)"
        elif totals.bytes:
            unknown = sum(size is None for size in self.sizes)
            text += f", {_mb(totals.bytes)} MB (sizes of {unknown:,} remote files unknown)"
        text += f", {totals.records:,} records"
        if totals.files >= files:
            return text + ", read done"
        if known and total_bytes and totals.bytes:
            if self.first_bytes is None:
                self.first_bytes = (now, totals.bytes)
            since, at = self.first_bytes
            if now > since and totals.bytes > at:
                rate = (totals.bytes - at) / (now - since)
                text += f", read ETA {clock_text((total_bytes - totals.bytes) / rate)}"
        return text

    def show(self) -> None:
        """Print the line: in place on a terminal, else as a line of its own; nothing once
        Ctrl-C is pending (the main thread may take a while to get to its handler)."""
        if interrupt_pending():
            return
        text = self.line()
        if self.tty:
            width = shutil.get_terminal_size((120, 24)).columns - 1
            self.stream.write("\r" + text[:width] + "\x1b[K")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def clear(self) -> None:
        """Remove the in-place line (a terminal), so the summary starts on a clean line."""
        if self.tty:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


class _Thread(threading.Thread):
    def __init__(self, display: Display, interval: float) -> None:
        super().__init__(name="c4-progress", daemon=True)
        self.display = display
        self.interval = interval
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.interval):
            with contextlib.suppress(Exception):  # a missed line, never a failed run
                self.display.show()


@contextlib.contextmanager
def watching(
    prog: str,
    sizes: Sequence[int | None] | None = None,
    after_first_stage: bool = False,
    stream: TextIO | None = None,
    on_interrupt: Callable[[Callable[[], None]], Any] | None = None,
) -> Iterator[Display | None]:
    """Show the run's progress while inside.

    Args:
        prog: what the lines start with (``c4 build``).
        sizes: the compressed size of each input file (None where unknown); None: no read
            progress (``c4 mask``).
        after_first_stage: start the display when the runner starts its first stage (the
            DirectRunner forks its workers before that, which a running thread would prevent).
        stream: where the lines go (standard error).
        on_interrupt: registers a cleanup for Ctrl-C (``pipeline.command.on_interrupt``).
    """
    out = stream or sys.stderr
    every = interval_s(out)
    if every <= 0:
        yield None
        return
    progress.note_stages(0)  # nothing left from an earlier run in this process
    directory = tempfile.mkdtemp(prefix="c4-progress-")
    remove = _remover(directory)
    if on_interrupt is not None:
        on_interrupt(remove)
    previous = os.environ.get(progress.ENV_DIR)
    os.environ[progress.ENV_DIR] = directory
    display = Display(prog, sizes, directory, out)
    thread = _Thread(display, every)
    if after_first_stage:
        progress.stages.on_first.append(thread.start)
    else:
        thread.start()
    try:
        yield display
    finally:
        with contextlib.suppress(ValueError):
            progress.stages.on_first.remove(thread.start)
        thread.done.set()
        if thread.is_alive():
            thread.join()
        display.clear()
        progress.note_stages(0)
        if previous is None:
            os.environ.pop(progress.ENV_DIR, None)
        else:
            os.environ[progress.ENV_DIR] = previous
        remove()


def _remover(directory: str) -> Callable[[], None]:
    def remove() -> None:
        shutil.rmtree(directory, ignore_errors=True)

    return remove
