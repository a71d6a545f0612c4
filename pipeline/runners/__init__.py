"""The runners as ``c4`` runs them, and what a ``c4`` process imports at start-up.

``select`` maps ``--runner NAME`` to an instance; ``direct`` is the DirectRunner on Beam's
FnApiRunner, with its helpers ``forked_workers``, ``sdk_worker``, ``streamed_inputs``,
``flatten_sink`` and ``balanced_bundles``; ``dask`` is the DaskRunner, a fused-stage engine
(``dask_plan`` cuts the graph, ``dask_exec`` runs a task, ``dask_worker`` is its local cluster
and ``dask_imports`` what that cluster's workers import once); ``startup``
keeps unused integrations out of a process; ``progress`` (workers report how far they are) and
``display`` (the live line a run shows) watch a local run. docs/runners.md explains every patch.

These modules reach into **private Beam APIs** (each names the ones it uses in its docstring's
"Private Beam APIs" paragraph), written against the Beam version in ``PATCHED_BEAM_VERSION``
below: tests/pipeline/runners/test_beam_version.py fails with a clear message when the
installed Beam differs, so an upgrade is a deliberate step (docs/runners.md, "Upgrading Beam"),
and a run on another Beam logs one warning (``warn_if_beam_differs``).

May import: Beam, ``filters/`` and each other; never the build, the other wings or the command.
"""

from __future__ import annotations

import logging

# The apache-beam release whose private APIs the patches in this wing (and io/gcs.py,
# cloud/submit.py, tests/conftest.py, benchmarks/scaling.py) were written and tested against.
# The one place the version is named in code; setup.py's pins must agree (a test checks).
PATCHED_BEAM_VERSION = "2.77.0"

_LOG = logging.getLogger(__name__)
_warned = False


def beam_version_warning(installed: str) -> str | None:
    """The one-line warning for a run on Beam ``installed``; None when it is the patched one."""
    if installed == PATCHED_BEAM_VERSION:
        return None
    return (
        f"apache-beam {installed} is installed, but c4's runner patches were written and tested "
        f"against {PATCHED_BEAM_VERSION}: this run is on untested ground; see docs/runners.md, "
        '"Upgrading Beam"'
    )


def warn_if_beam_differs() -> None:
    """Log ``beam_version_warning`` once per process, when a DirectRunner or DaskRunner run
    starts (Beam is imported by then; importing it here would undo ``startup``)."""
    global _warned
    if _warned:
        return
    _warned = True
    import apache_beam

    message = beam_version_warning(apache_beam.__version__)
    if message is not None:
        _LOG.warning(message)
