"""The local cluster ``C4DaskRunner`` starts when no ``--dask_client_address`` is given: a
LocalCluster of worker processes in a process of its own, and the dask preload that has its
workers import what the job runs while the cluster starts.

The cluster process (``run``) starts a LocalCluster (dask's layout for
this machine: here 2 worker processes of 1 thread), prints its scheduler's address, and closes it
when its standard input closes (the ``c4`` process is done with it, or died). It runs in a
session of its own: a Ctrl-C at a terminal reaches the ``c4`` process alone, which ends every
process it started (``pipeline.command.interrupt_exits``); a worker still starting would
otherwise die of it printing "Fatal Python error", between the command's lines.

A dask worker process starts bare: left alone, it imports Beam and the job's modules (1.4-1.7
s) when its first task's plan arrives, while the scheduler waits. Here each worker imports them
as it starts (``dask_setup``, run by dask's ``preload`` before the worker joins), Beam as lean
as the ``c4`` process does (``pipeline.runners.startup``), once, in the forkserver the workers
are forked from. As ``c4 build`` starts the cluster first thing (``start_early``, from
``pipeline.runners.select.start_workers_early``), all of this happens while it imports Beam and
builds the graph.

Without the variable ``C4_DASK_IMPORTS`` (a worker of another cluster) the preload does nothing.

Private Beam APIs (docs/runners.md; ``pipeline.runners.PATCHED_BEAM_VERSION``):

- ``apache_beam.pipeline.PipelineVisitor``: walking the graph for the modules of its DoFns.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from typing import Any

ENV_IMPORTS = "C4_DASK_IMPORTS"
ENV_DECLINED = "C4_DASK_DECLINED"
# Always needed by a task (the executor imports Beam's runner internals).
ALWAYS = ("pipeline.runners.dask_exec",)
CLOSE_TIMEOUT_S = 30.0
# multiprocessing's forkserver socket is TMPDIR/pymp-XXXXXXXX/listener-XXXXXXXX (32 bytes more),
# and an AF_UNIX path has at most 107.
MAX_TMPDIR_FOR_FORKSERVER = 72

_LOG = logging.getLogger(__name__)


def job_modules(pipeline: Any) -> list[str]:
    """The modules whose DoFns and CombineFns the pipeline runs (importable ones only)."""
    from apache_beam.pipeline import PipelineVisitor

    found: set[str] = set()

    class Modules(PipelineVisitor):
        def visit_transform(self, node: Any) -> None:
            for attr in ("fn", "combine_fn"):
                fn = getattr(node.transform, attr, None)
                if fn is not None:
                    found.add(type(fn).__module__)

    pipeline.visit(Modules())
    return sorted(m for m in found if m and not m.startswith("__"))


class ClusterProcess:
    """The cluster process, started now; ``address()`` waits until it is up."""

    def __init__(self, modules: Sequence[str], declined: Sequence[str] | None = None) -> None:
        """``declined``: what Beam is imported without (default: as in this process)."""
        from pipeline.runners import startup

        if declined is None:
            declined = startup.declined_here()
        env = {
            **os.environ,
            ENV_IMPORTS: ",".join(dict.fromkeys([*ALWAYS, *modules])),
            ENV_DECLINED: ",".join(declined),
        }
        # Not ``-m``: a worker forked from the forkserver would import this module again as its
        # ``__mp_main__`` (runpy warns, as it is imported already).
        self.process = subprocess.Popen(
            [sys.executable, "-c", f"from {__name__} import run; run()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            start_new_session=True,
        )
        self._address: str | None = None

    def address(self) -> str:
        """The scheduler's address, once the workers have joined.

        Raises:
            RuntimeError: the cluster process ended before (its error is on standard error).
        """
        if self._address is None:
            assert self.process.stdout is not None
            line = self.process.stdout.readline().decode().strip()
            if not line:
                code = self.process.wait()
                raise RuntimeError(f"the local dask cluster did not start (exit {code})")
            self._address = line
        return self._address

    def close(self, wait: bool = True) -> None:
        """Close the cluster (its standard input), and wait for its process to end."""
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        if not wait:
            return
        try:
            self.process.wait(CLOSE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


_early: ClusterProcess | None = None


def start_early(modules: Sequence[str], declined: Sequence[str]) -> None:
    """Start a cluster for a DaskRunner run to come (``take_early``), before this process has
    even imported Beam: its workers are ready by the time the graph is."""
    global _early
    if _early is None:
        _early = ClusterProcess(modules, declined)


def take_early() -> ClusterProcess | None:
    """The cluster ``start_early`` started, now the caller's; None if none."""
    global _early
    cluster, _early = _early, None
    return cluster


def discard_early() -> None:
    """Close a cluster started early that no run took (the command failed before its run)."""
    cluster = take_early()
    if cluster is not None:
        cluster.close(wait=False)


def is_worker(cmdline: str, parent_cmdline: str) -> bool:
    """Whether a process is a dask worker of the local cluster, by its command line and its
    parent's: forked by the cluster's forkserver (or, on a cluster that spawns, spawned)."""
    if "multiprocessing.forkserver" in cmdline:
        return "multiprocessing.forkserver" in parent_cmdline
    return "spawn_main" in cmdline


# --- the tasks' functions, as the scheduler sees them ---------------------------------------------
# A task names its function by module: the scheduler unpickles every task of a graph, and so
# imports that module. These live here, importing the executor (and Beam) only when a worker
# runs them: naming ``dask_exec``'s own made the scheduler import Beam (~1.3 s) between the
# graph's arrival and its first task.


def run_task(*args: Any) -> Any:
    """``dask_exec.run_task``."""
    from pipeline.runners import dask_exec

    return dask_exec.run_task(*args)


def pick(outputs: tuple[Any, ...], output: int) -> Any:
    """One output of a task."""
    return outputs[output]


def done(_: list[Any]) -> None:
    """The job's last task: every task that feeds no other is done."""
    return None


def adopt_environ(environ: dict[str, str]) -> None:
    """Run on the scheduler and each worker when a job starts: the ``c4`` process's environment
    now (the cluster started before the command set, say, its progress directory; a worker
    restarted later inherits it from the cluster process)."""
    os.environ.update(environ)


def dask_setup(worker: Any = None) -> None:
    """dask's preload hook: Beam imported as lean as in the ``c4`` process, then the job's
    modules (one that fails is left to the task that needs it)."""
    if ENV_IMPORTS not in os.environ:
        return
    from pipeline.runners import startup

    startup.import_beam_without([n for n in os.environ.get(ENV_DECLINED, "").split(",") if n])
    for name in filter(None, os.environ[ENV_IMPORTS].split(",")):
        try:
            importlib.import_module(name)
        except Exception:  # the task that needs it will say why
            _LOG.debug("preload of %s failed", name, exc_info=True)
    # As the c4 process runs (build_command._fewer_gc_passes), and its DirectRunner workers
    # with it: what was imported out of the cyclic GC's reach, and fewer passes; pages are
    # strings, which it never tracks, and a full pass over a worker's heap finds nothing.
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def dask_teardown(worker: Any = None) -> None:
    """dask's preload hook at the worker's close: the cluster is ours and closing, the job is
    done, and what remains is the interpreter's exit (freeing every object: 1-2 s after a
    large build, before ``c4 build`` can end). Exit now."""
    if ENV_IMPORTS not in os.environ:
        return
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(0)


def main() -> int:
    """The cluster process: start, print the address, close at the end of standard input."""
    import dask
    from dask.distributed import LocalCluster as DaskLocalCluster
    from distributed.utils import get_mp_context

    # Workers forked from a server process that has imported, once, what they all need
    # (``dask_imports``), instead of each importing it after a spawn. The forkserver listens on a
    # socket in the temporary directory, whose path must fit AF_UNIX's 108 bytes: under a long
    # TMPDIR the workers are spawned (dask's default) instead.
    # dask's statistical profiler samples every thread's stack every 10 ms, taking the GIL from
    # the task each time (what its dashboard shows; we have none).
    dask.config.set({"distributed.worker.profile.enabled": False})
    if len(tempfile.gettempdir()) <= MAX_TMPDIR_FOR_FORKSERVER:
        dask.config.set({"distributed.worker.multiprocessing-method": "forkserver"})
        get_mp_context().set_forkserver_preload(["distributed", "pipeline.runners.dask_imports"])

    # The scheduler's and nannies' INFO lines (addresses, "Start Nanny at") are noise in a
    # command's output.
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("distributed").setLevel(logging.WARNING)
    cluster = DaskLocalCluster(
        processes=True,
        dashboard_address=None,
        # No dashboard, and its HTTP server (Prometheus, health) on a free port, not 8787.
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        preload=[__name__],
    )
    try:
        sys.stdout.write(cluster.scheduler_address + "\n")
        sys.stdout.flush()
        sys.stdin.buffer.read()  # until the c4 process closes it, or ends
    except OSError:  # the c4 process ended first (a command that failed before its run)
        pass
    finally:
        cluster.close()
    return 0


def run() -> None:
    """``main``, then exit at once: nothing is left to free, and the c4 process waits for it."""
    code = main()
    sys.stderr.flush()
    os._exit(code)
