"""What every ``c4`` subcommand shares: one-line usage errors, logging, running a graph to its end.

Exit codes (INTERFACE.md): 0 success; 2 a usage error, printed as one line naming the flag before
any work starts; 1 a run that failed. Each command's parser lives with its command
(``pipeline/build_command.py``, ``pipeline/masking/run.py``, ``pipeline/forget/command.py``,
``pipeline/cloud/``); this module imports nothing of the project but ``filters.spec``, so every
command can use it without an import cycle.

Unknown flags: ``OneLineParser.parse_args`` names each with the closest known one (difflib);
a command whose remaining flags go to Beam (``parse_command_line``) refuses those Beam does not
know either, which Beam itself would drop ("Discarding unparseable args"). Ctrl-C:
``interrupt_exits`` ends a running command with one line and exit 130.

Private Beam APIs (docs/runners.md; ``pipeline.runners.PATCHED_BEAM_VERSION``):

- ``apache_beam.options.pipeline_options._BeamArgumentParser``, subclassed so that a bad Beam
  flag is a usage error: each ``PipelineOptions`` subclass's ``_add_argparse_args`` registers
  its flags on it, as Beam's ``get_all_options`` does (``beam_flag_parser``);
- ``apache_beam.runners.dask.dask_runner``, imported by name: importing it registers
  ``DaskOptions``' flags.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, NoReturn

from filters.spec import UsageError

# How alike a mistyped flag and a known one must be (difflib's ratio, on the names without
# dashes) for "did you mean": --ouptut/--output 0.83, --c4version/--c4_version 0.95.
SUGGEST_CUTOFF = 0.7
# The exit code of a command ended by Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPTED = 130
# The options module of a runner whose flags Beam registers only when that module is imported.
_RUNNER_OPTIONS_MODULES = {
    "DaskRunner": "apache_beam.runners.dask.dask_runner",
    "C4DaskRunner": "apache_beam.runners.dask.dask_runner",
}


class OneLineParser(argparse.ArgumentParser):
    """argparse whose errors are one line (``c4 build: --flag: why``) and exit 2; an unknown flag
    is named with the closest known one."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: {self.first_problem(message)}", file=sys.stderr)
        raise SystemExit(2)

    def first_problem(self, message: str) -> str:
        """``message``, unless an unknown flag explains it: a mistyped required flag is reported
        as the typo (``--worker``: did you mean ``--workers``?), not as the flag missing."""
        if _strict is None or "required" not in message:
            return message
        parser, argv = _strict
        known = known_flags(parser)
        unknown = [a for a in argv if a.startswith("--") and a.split("=", 1)[0] not in known]
        return unknown_args_message(unknown, known) if unknown else message

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> argparse.Namespace:
        """Every argument must be ours (nothing goes on to Beam)."""
        global _strict
        argv = list(sys.argv[1:] if args is None else args)
        _strict = (self, argv)
        try:
            parsed, extras = self.parse_known_args(argv, namespace)
            if extras:
                self.error(unknown_args_message(extras, known_flags(self)))
        finally:
            _strict = None
        return parsed


# The parser and arguments of the ``parse_args`` under way (its subcommands' parsers report
# through their own ``error``).
_strict: tuple[argparse.ArgumentParser, list[str]] | None = None


def known_flags(parser: argparse.ArgumentParser) -> list[str]:
    """Every ``--flag`` of ``parser`` and of its subcommands' parsers."""
    flags: list[str] = []
    for action in parser._actions:
        flags += [o for o in action.option_strings if o.startswith("--")]
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                flags += known_flags(sub)
    return sorted(set(flags))


def closest_flag(flag: str, candidates: Iterable[str]) -> str | None:
    """The known flag ``flag`` most likely misspells, if one is close enough."""
    names = {c.lstrip("-"): c for c in candidates}
    found = difflib.get_close_matches(flag.lstrip("-"), list(names), n=1, cutoff=SUGGEST_CUTOFF)
    return names[found[0]] if found else None


def unknown_args_message(extras: Sequence[str], candidates: Iterable[str]) -> str:
    """One line naming every unknown flag (with the closest known one) or stray argument."""
    known = list(candidates)
    flags: list[str] = []
    strays: list[str] = []
    after_flag = False
    for arg in extras:
        if arg == "--":
            break
        if arg.startswith("-") and len(arg) > 1 and not _is_number(arg):
            flags.append(arg.split("=", 1)[0])
            after_flag = "=" not in arg
        elif after_flag:  # the value of the unknown flag before it
            after_flag = False
        else:
            strays.append(arg)
    parts = []
    for flag in flags:
        near = closest_flag(flag, known)
        parts.append(f"{flag} (did you mean {near}?)" if near else flag)
    if parts:
        return f"unknown flag{'s' if len(parts) > 1 else ''} {', '.join(parts)}"
    return f"unexpected argument{'s' if len(strays) > 1 else ''} {' '.join(strays)}"


def _is_number(arg: str) -> bool:
    try:
        float(arg)
    except ValueError:
        return False
    return True


# --- Beam's own flags -----------------------------------------------------------------------


def import_runner_options(runner: str | None) -> None:
    """Import the module that registers ``runner``'s options with Beam, if it has its own.

    Beam declares most runners' flags in ``apache_beam.options.pipeline_options``; the
    DaskRunner's (``--dask_client_address``, ...) exist only once its module is imported.
    """
    module = _RUNNER_OPTIONS_MODULES.get(runner or "")
    if module:
        with contextlib.suppress(ImportError):  # not installed: --runner says so later
            __import__(module)


def _option_classes(root: Any) -> Iterator[Any]:
    subclasses: list[Any] = root.__subclasses__()
    for cls in subclasses:
        yield cls
        yield from _option_classes(cls)


def beam_flag_parser() -> argparse.ArgumentParser:
    """A parser of every flag Beam's ``PipelineOptions`` subclasses register (each class's
    ``_add_argparse_args``, as Beam's ``get_all_options`` collects them), ours excluded."""
    from apache_beam.options.pipeline_options import PipelineOptions, _BeamArgumentParser

    class _Parser(_BeamArgumentParser):  # type: ignore[misc]
        def error(self, message: str) -> NoReturn:
            raise UsageError(message)

    parser = _Parser(allow_abbrev=False, add_help=False)
    # Ours, passed with Beam's: turns Beam's type check back on (pipeline/options.py).
    parser.add_argument("--pipeline_type_check", action="store_true")
    seen: set[str] = set()
    for cls in _option_classes(PipelineOptions):
        own = cls.__dict__.get("_add_argparse_args")
        if own is None or cls.__module__.startswith("pipeline.") or str(cls) in seen:
            continue
        seen.add(str(cls))
        with contextlib.suppress(argparse.ArgumentError):  # a flag two classes declare
            cls._add_argparse_args(parser)
    return parser


def refuse_unknown_beam_args(
    parser: argparse.ArgumentParser, beam_args: Sequence[str], runner: str | None = None
) -> None:
    """Refuse what neither our parser nor Beam knows: Beam would drop it with a warning
    ("Discarding unparseable args") and run as if it had not been given.

    Raises:
        UsageError: one line naming each unknown flag, with the closest known flag.
    """
    if not beam_args:
        return
    import_runner_options(runner)
    beam = beam_flag_parser()
    _, unknown = beam.parse_known_args(list(beam_args))
    if unknown:
        raise UsageError(unknown_args_message(unknown, [*known_flags(parser), *known_flags(beam)]))


def parse_command_line(
    parser: argparse.ArgumentParser, argv: Sequence[str]
) -> tuple[argparse.Namespace, list[str]] | int:
    """Our flags, the rest Beam's: each one Beam knows (with ``--runner``'s own options), else a
    usage error. Returns the parsed flags and Beam's, or the exit code (a usage error printed
    as one line: 2; ``--help``: 0)."""
    try:
        args, beam_args = parser.parse_known_args(list(argv))
        refuse_unknown_beam_args(parser, beam_args, getattr(args, "runner", None))
    except SystemExit as exc:  # argparse: a bad value (exit 2, already printed) or --help (0)
        return int(exc.code or 0)
    except UsageError as exc:
        print(f"{parser.prog}: {exc}", file=sys.stderr)
        return 2
    return args, beam_args


# --- Ctrl-C ---------------------------------------------------------------------------------

_interrupt_line: str | None = None
_on_interrupt: list[Callable[[], None]] = []


def set_interrupt_line(line: str | None) -> None:
    """What Ctrl-C prints instead of ``<prog>: interrupted`` (``c4 submit``: how to cancel)."""
    global _interrupt_line
    _interrupt_line = line


def on_interrupt(cleanup: Callable[[], None]) -> None:
    """Run ``cleanup`` (quickly, and quietly) when Ctrl-C ends the command."""
    _on_interrupt.append(cleanup)


def _descendants() -> list[int]:
    """This process's child processes, and theirs (SDK workers, a local Dask cluster)."""
    try:
        import psutil
    except ImportError:  # not a dependency of ours: Linux's /proc says the same
        return _descendants_from_proc()
    try:
        return [p.pid for p in psutil.Process().children(recursive=True)]
    except psutil.Error:
        return []


def _descendants_from_proc(root: int | None = None) -> list[int]:
    """The processes below ``root`` (this one), from each process's parent in ``/proc``."""
    children: dict[int, list[int]] = {}
    with contextlib.suppress(OSError):
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat", encoding="utf-8") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found: list[int] = []
    todo = [os.getpid() if root is None else root]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


@contextlib.contextmanager
def interrupt_exits(prog: str) -> Iterator[None]:
    """While inside, Ctrl-C (SIGINT) ends the command at once: one line, exit 130.

    Beam turns a ``KeyboardInterrupt`` raised inside a stage into a failed run (a long
    traceback, exit 1), and worker processes would print their own; so the handler does not
    raise. It prints the line, ends the processes this one started (they hold nothing that must
    be kept: the output is not committed), runs the ``on_interrupt`` cleanups and exits. A
    worker forked from this process inherits the handler and only exits.
    """
    launcher = os.getpid()

    def handler(signum: int, frame: Any) -> None:
        if os.getpid() != launcher:
            os._exit(INTERRUPTED)
        line = _interrupt_line or f"{prog}: interrupted"
        os.write(2, (line + "\n").encode("utf-8"))  # not print: the handler may interrupt one
        # Nothing after the line: threads that notice their workers gone must not print.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
        for pid in _descendants():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        for cleanup in _on_interrupt:
            with contextlib.suppress(Exception):
                cleanup()
        os._exit(INTERRUPTED)

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread (a test calling a command from a thread)
        yield
        return
    # The progress display stops at the signal's arrival, not at the handler's run.
    from pipeline.runners import display

    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    os.set_blocking(write_end, False)
    previous_fd = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    display.watch_interrupts(read_end)
    try:
        yield
    finally:
        display.watch_interrupts(None)
        signal.set_wakeup_fd(previous_fd)
        os.close(read_end)
        os.close(write_end)
        signal.signal(signal.SIGINT, previous)
        set_interrupt_line(None)
        _on_interrupt.clear()


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
