"""``--runner NAME`` -> a runner instance: ours for the DirectRunner and DaskRunner, else Beam's.

Private Beam APIs (docs/runners.md; ``pipeline.runners.PATCHED_BEAM_VERSION``):

- ``apache_beam.runners.runner.create_runner`` (marked "for internal use only"): any other name
  becomes a runner as ``beam.Pipeline(runner=NAME)`` would make it, so that an unknown name is a
  usage error before any work instead of a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from filters.spec import UsageError


def make_runner(name: str) -> Any:
    """A runner instance: our fixed DaskRunner for ``DaskRunner``, the DirectRunner on the
    FnApiRunner only for ``DirectRunner`` (``pipeline/runners/direct.py``), else Beam's by name.

    Raises:
        UsageError: Beam knows no runner of that name.
    """
    if name in DASK_NAMES:
        from pipeline.runners.dask import C4DaskRunner

        return C4DaskRunner()
    if name in ("DirectRunner", "C4DirectRunner"):
        from pipeline.runners.direct import C4DirectRunner

        return C4DirectRunner()
    from apache_beam.runners.runner import create_runner

    try:
        return create_runner(name)
    except (ValueError, ImportError) as exc:
        raise UsageError(f"--runner: {exc}".splitlines()[0]) from None


DASK_NAMES = ("DaskRunner", "C4DaskRunner")
# A DaskRunner given one of these runs on that cluster, or prints help: nothing to start.
_NO_LOCAL_CLUSTER = ("--dask_client_address", "--dask_scheduler_file", "-h", "--help")


def start_workers_early(argv: Sequence[str], modules: Sequence[str]) -> None:
    """First thing a command does: when ``argv`` asks for the DaskRunner with no cluster named,
    start its local cluster (its workers importing ``modules``), which then starts while this
    process imports Beam and builds the graph. A command that fails before its run closes it
    (``stop_early_workers``)."""
    from pipeline.runners import startup

    if startup.runner_flag(argv) not in DASK_NAMES:
        return
    if any(arg.split("=", 1)[0] in _NO_LOCAL_CLUSTER for arg in argv):
        return
    from pipeline.runners import dask_worker

    dask_worker.start_early(modules, startup.declined_during_import(argv))


def stop_early_workers() -> None:
    """Close the cluster ``start_workers_early`` started if no run took it."""
    import sys

    worker = sys.modules.get("pipeline.runners.dask_worker")
    if worker is not None:
        worker.discard_early()


def start_workers(runner: Any, options: Any, modules: Sequence[str]) -> None:
    """Have ``runner`` start its workers now, importing ``modules``, when it can (the DaskRunner
    without a cluster named: its LocalCluster starts while the graph is built)."""
    start = getattr(runner, "start_cluster", None)
    if start is not None:
        start(options, modules)
