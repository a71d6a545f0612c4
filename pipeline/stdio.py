"""The console's streams: a reader that goes away does not stop a command halfway.

``c4 forget DIR ... | head -1`` closes the pipe after one line; Python's next write to it raises
``BrokenPipeError``, which would end the command between two of its commits (DIR forgotten, the
sets registered elsewhere not yet) with a traceback. ``keep_going_without_stdout`` makes standard
output discard what it is given once its reader is gone (fd 1 is pointed at ``/dev/null``, so the
interpreter's last flush is quiet too), and the command finishes its work and exits as it would.
Standard error is left alone: what it says still reaches a terminal or a log.
"""

from __future__ import annotations

import os
import sys
from typing import Any, TextIO


class _DiscardWhenGone:
    """``sys.stdout``, until a write or flush finds the pipe closed; nothing, after."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.gone = False

    def _drop(self) -> None:
        self.gone = True
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, self._stream.fileno())
        finally:
            os.close(devnull)

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._drop()
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._drop()

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding...: the stream's own
        return getattr(self._stream, name)


def keep_going_without_stdout() -> None:
    """Install the guard on ``sys.stdout`` (the ``c4`` console script's, once per process)."""
    if not isinstance(sys.stdout, _DiscardWhenGone) and hasattr(sys.stdout, "fileno"):
        sys.stdout = _DiscardWhenGone(sys.stdout)  # type: ignore[assignment]
