"""What every ``c4`` subcommand shares: one-line usage errors, logging, running a graph to its end.

Exit codes (INTERFACE.md): 0 success; 2 a usage error, printed as one line naming the flag before
any work starts; 1 a run that failed. Each command's parser lives with its command
(``pipeline/build_command.py``, ``pipeline/masking/run.py``, ``pipeline/forget/command.py``,
``pipeline/cloud/``); this module imports nothing of the project but ``filters.spec``, so every
command can use it without an import cycle.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any, NoReturn


class OneLineParser(argparse.ArgumentParser):
    """argparse whose errors are one line (``c4 build: --flag: why``) and exit 2."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: {message}", file=sys.stderr)
        raise SystemExit(2)


def configure_logging() -> None:
    """Warnings from libraries, progress (INFO) from our own ``pipeline.*`` loggers."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("pipeline").setLevel(logging.INFO)


def run_to_completion(pipeline: Any) -> None:
    """Run a built ``beam.Pipeline`` and wait; a failed or cancelled end raises.

    Raises:
        RuntimeError: the runner reported a FAILED or CANCELLED state.
    """
    result = pipeline.run()
    result.wait_until_finish()
    state = str(getattr(result, "state", "DONE"))
    if "FAIL" in state or "CANCEL" in state:
        raise RuntimeError(f"pipeline ended in state {state}")
