"""An SDK worker process of ``C4DirectRunner`` in ``multi_processing`` mode.

``python -m pipeline.runners.sdk_worker [MODULE,...]``: imports Beam without
``pipeline.runners.startup.UNUSED`` and the listed modules (what the ``c4`` process that started
it declined), then runs Beam's own worker main, which reads everything else from the environment
the runner set.

Private Beam APIs (docs/runners.md; ``pipeline.runners.PATCHED_BEAM_VERSION``):

- ``apache_beam.runners.worker.sdk_worker_main.main``: Beam's SDK worker entry point (what
  ``python -m apache_beam.runners.worker.sdk_worker_main`` runs), run after our lean import.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Sequence

from pipeline.runners import startup


def main(argv: Sequence[str]) -> None:
    # Ctrl-C at a terminal reaches the whole process group: the c4 process ends its workers
    # itself (pipeline.command.interrupt_exits), so a worker's own traceback would be noise.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    declined = tuple(name for arg in argv for name in arg.split(",") if name)
    startup.import_beam_without(declined)
    from apache_beam.runners.worker import sdk_worker_main

    sdk_worker_main.main(sys.argv)


if __name__ == "__main__":
    main(sys.argv[1:])
