"""The ``c4`` command: a thin dispatcher to each command's own module.

Each command parses its own flags where it is implemented (``pipeline/build_command.py``,
``pipeline/masking/run.py``, ``pipeline/forget/command.py``, ``pipeline/cloud/``); this module
only picks one, lazily, so that ``c4 estimate`` or ``c4 --help`` never import Beam.

Exit codes (INTERFACE.md): 0 success; 2 a usage error, printed as one line naming the flag before
any work starts; 1 a run that failed.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
from collections.abc import Callable, Sequence
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

# command -> (module, function, one line for ``c4 --help``), in the order help lists them.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "build": ("pipeline.build_command", "run_build", "build C4 from WET files, globs or a crawl"),
    "mask": ("pipeline.masking.run", "run_mask", "T5 span corruption of a built DIR, packed"),
    "vocab": ("pipeline.masking.run", "run_vocab", "train a SentencePiece vocabulary on a DIR"),
    "trace": ("pipeline.forget.command", "run_trace", "where a document came from, or went"),
    "forget": ("pipeline.forget.command", "run_forget", "delete documents and all derived data"),
    "report": ("pipeline.report.command", "run_report", "a build's report: one HTML page, charts"),
    "inspect": ("pipeline.report.command", "run_inspect", "print a sample of a build's documents"),
    "submit": ("pipeline.cloud.submit", "run_submit", "run c4 build on Dataflow"),
    "estimate": ("pipeline.cloud.estimate", "run_estimate", "cost and time of a Dataflow build"),
}
USAGE = "usage: c4 {" + ",".join(COMMANDS) + "} ..."
# The commands that run or submit a Beam pipeline (pipeline/runners/startup.py imports Beam).
BEAM_COMMANDS = ("build", "mask", "vocab", "trace", "forget", "report", "inspect", "submit")
# The exit code of a command ended by Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPTED = 130


def _version() -> str:
    try:
        return version("c4-pipeline")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _help() -> str:
    width = max(map(len, COMMANDS))
    lines = [USAGE, "", "commands:"]
    lines += [f"  {name:<{width}}  {text}" for name, (_, _, text) in COMMANDS.items()]
    lines += ["", "c4 COMMAND --help shows a command's flags; c4 --version its version."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``c4`` console script; returns the exit code.

    Run on this process's own command line (``argv`` None: the console script, ``python -m``), a
    command that imported Beam ends the process itself when it is done (``_exit_now``).
    """
    if argv is None:  # the console script: `c4 ... | head` must not stop a command halfway
        from pipeline.stdio import keep_going_without_stdout

        keep_going_without_stdout()
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print(USAGE, file=sys.stderr)
        return 2
    if args[0] in ("-h", "--help"):
        print(_help())
        return 0
    if args[0] == "--version":
        print(f"c4 {_version()}")
        return 0
    command, rest = args[0], args[1:]
    if command not in COMMANDS:
        print(f"c4: unknown command {command!r}; {USAGE}", file=sys.stderr)
        return 2
    try:
        if command in BEAM_COMMANDS:
            from pipeline.runners.startup import import_beam

            import_beam(rest, dataflow=command == "submit")
        module, function, _ = COMMANDS[command]
        run: Callable[[Sequence[str]], int] = getattr(import_module(module), function)
        code = run(rest)
    except KeyboardInterrupt:  # Ctrl-C outside a run (a run ends itself: pipeline.command)
        print(f"c4 {command}: interrupted", file=sys.stderr)
        return INTERRUPTED
    if argv is None and command in BEAM_COMMANDS:
        _exit_now(code)
    return code


def _exit_now(code: int) -> None:
    """Ends the process with ``code`` without the interpreter's teardown, unless another
    non-daemon thread still runs (then returns: the process ends as usual).

    A process that imported Beam holds ~1,000 modules and millions of objects, which the
    interpreter's teardown frees one by one for nothing (~0.25 CPU-s of every such command). What
    an exit must still do is done here: the ``atexit`` handlers (logging's flush among them) and
    the standard streams' buffers.
    """
    main_thread = threading.main_thread()
    if any(t is not main_thread and not t.daemon for t in threading.enumerate()):
        return
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a pipe whose reader left, a closed one
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    raise SystemExit(main())
