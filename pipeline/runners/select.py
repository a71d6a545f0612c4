"""``--runner NAME`` -> a runner instance: ours for the DirectRunner and DaskRunner, else Beam's.

Private Beam APIs (docs/runners.md; ``pipeline.runners.PATCHED_BEAM_VERSION``):

- ``apache_beam.runners.runner.create_runner`` (marked "for internal use only"): any other name
  becomes a runner as ``beam.Pipeline(runner=NAME)`` would make it, so that an unknown name is a
  usage error before any work instead of a traceback.
"""

from __future__ import annotations

from typing import Any

from filters.spec import UsageError


def make_runner(name: str) -> Any:
    """A runner instance: our fixed DaskRunner for ``DaskRunner``, the DirectRunner on the
    FnApiRunner only for ``DirectRunner`` (``pipeline/runners/direct.py``), else Beam's by name.

    Raises:
        UsageError: Beam knows no runner of that name.
    """
    if name in ("DaskRunner", "C4DaskRunner"):
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
