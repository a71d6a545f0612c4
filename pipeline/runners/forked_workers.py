"""SDK worker processes forked from the ``c4`` process, for ``--direct_running_mode
multi_processing``.

Beam starts each SDK worker of the multi-process FnApiRunner as a new Python process
(``pipeline.runners.sdk_worker``), which imports Beam and our modules again before its first
bundle: ~1.1 CPU-s per worker, while no stage can run, the largest serial step of a two-worker build
(docs/benchmarks.md, "Two workers"). By the time the runner starts, the ``c4`` process has all of
that imported, so ``C4DirectRunner`` forks its workers from it instead (``fork_workers``), before
the runner opens any gRPC server or thread: a forked child starts with Beam, the filters and
the pipeline modules in memory, and waits on a pipe for what Beam would have put in a new
process's environment (control, logging and options). ``ForkedSdkWorkerHandler`` hands it that
and reaps it, as Beam's ``SubprocessSdkWorker`` does for the processes it starts.

Forking a process with other threads can copy a lock some thread holds, so a process with more
than one Python thread (a test runner's, for instance) gets no forked workers: its workers start
as new processes, as before, through the same handler (``can_fork`` says why the native threads
of libraries do not count). A worker forked but not used (the runner asked for fewer) sees its
pipe close and exits.

Private Beam APIs (docs/runners.md; ``pipeline.runners.PATCHED_BEAM_VERSION``):

- ``apache_beam.runners.portability.fn_api_runner.worker_handlers.WorkerHandler``: its
  ``register_environment`` makes ``ForkedSdkWorkerHandler`` the handler of ``FORKED_SDK_URN``;
- ``apache_beam.runners.portability.fn_api_runner.worker_handlers.SubprocessSdkWorkerHandler``,
  subclassed: its ``start_worker`` overridden, its ``data_conn`` wrapped
  (``StreamingDataChannel``), its ``worker_thread``, ``control_address``, ``provision_info`` and
  ``worker_id`` used;
- ``apache_beam.runners.worker.sdk_worker_main.main``: the forked child runs it, reading the
  environment variables ``apache_beam.runners.portability.local_job_service.SubprocessSdkWorker``
  sets for a new process (``worker_environment``);
- ``apache_beam.runners.portability.local_job_service.BeamFnLoggingServicer`` and
  ``apache_beam.utils.thread_pool_executor.shared_unbounded_instance``: the worker's logging
  server, as ``SubprocessSdkWorker.run`` starts it;
- ``apache_beam.portability.api.beam_fn_api_pb2_grpc`` and
  ``apache_beam.portability.api.endpoints_pb2``: the Fn API's gRPC service and endpoint protos.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import traceback
from typing import Any, NamedTuple, cast

from apache_beam.portability.api import beam_fn_api_pb2_grpc, endpoints_pb2
from apache_beam.runners.portability.fn_api_runner import worker_handlers
from apache_beam.runners.worker import sdk_worker_main
from apache_beam.utils import thread_pool_executor
from google.protobuf import json_format, text_format

from pipeline.runners.streamed_inputs import StreamingDataChannel

# The environment a forked worker runs in (the payload is the command of a new-process worker,
# which the handler falls back to when no forked worker is waiting).
FORKED_SDK_URN = "c4:env:forked_python_sdk:v1"


class ForkedWorker(NamedTuple):
    """A forked child waiting for its environment on ``pipe`` (the write end)."""

    pid: int
    pipe: int


_waiting: list[ForkedWorker] = []
_lock = threading.Lock()


def can_fork() -> bool:
    """Whether this process may fork workers: POSIX, and no Python thread but this one.

    Native threads of libraries are not counted: a ``c4`` process has two by now (numpy's
    OpenBLAS pool and pyarrow's jemalloc background thread), and both libraries keep their locks
    consistent across ``fork`` with ``pthread_atfork`` handlers, as Python's ``multiprocessing``
    relies on when it forks. A Python thread could hold the import or logging lock.
    """
    return hasattr(os, "fork") and threading.active_count() == 1


def fork_workers(count: int) -> int:
    """Fork ``count`` workers that wait for ``take()``; returns how many were forked (0 when
    ``can_fork()`` says no)."""
    if count < 1 or not can_fork():
        return 0
    for _ in range(count):
        read_end, write_end = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            os.close(write_end)
            for other in _waiting:  # earlier children's pipes: they must see EOF when we close
                os.close(other.pipe)
            _serve_child(read_end)
        os.close(read_end)
        _waiting.append(ForkedWorker(pid, write_end))
    return count


def take() -> ForkedWorker | None:
    """A waiting forked worker, or None when none is left."""
    with _lock:
        return _waiting.pop(0) if _waiting else None


def release_unused() -> None:
    """Let the workers nobody took exit (their pipe closes) and reap them."""
    with _lock:
        unused, _waiting[:] = list(_waiting), []
    for worker in unused:
        os.close(worker.pipe)
        os.waitpid(worker.pid, 0)


def _serve_child(read_end: int) -> None:
    """In the forked child: wait for the environment, run Beam's SDK worker main, exit."""
    code = 1
    try:
        with os.fdopen(read_end, "rb") as pipe:
            data = pipe.read()
        if not data:  # released unused
            code = 0
        else:
            os.environ.update(json.loads(data))
            # A fresh worker process has no log handlers; the c4 process's would print twice.
            logging.getLogger().handlers.clear()
            sdk_worker_main.main(sys.argv)
            code = 0
    except BaseException:  # the child must never return into the parent's code
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def worker_environment(
    control_address: str, logging_address: str, provision_info: Any, worker_id: str | None
) -> dict[str, str]:
    """The variables Beam's ``SubprocessSdkWorker`` gives a worker process, besides its own."""
    env = {
        "CONTROL_API_SERVICE_DESCRIPTOR": text_format.MessageToString(
            endpoints_pb2.ApiServiceDescriptor(url=control_address)
        ),
        "LOGGING_API_SERVICE_DESCRIPTOR": text_format.MessageToString(
            endpoints_pb2.ApiServiceDescriptor(url=logging_address)
        ),
        "PIPELINE_OPTIONS": json_format.MessageToJson(
            provision_info.provision_info.pipeline_options
        ),
    }
    if worker_id:
        env["WORKER_ID"] = worker_id
    return env


def _run(worker: ForkedWorker, handler: Any) -> None:
    """What Beam's ``SubprocessSdkWorker.run`` does for a new process, for a forked one: serve
    its logs, hand it its environment, wait for it to exit."""
    import grpc
    from apache_beam.runners.portability.local_job_service import BeamFnLoggingServicer

    options = [("grpc.http2.max_pings_without_data", 0), ("grpc.http2.max_ping_strikes", 0)]
    logging_server = grpc.server(thread_pool_executor.shared_unbounded_instance(), options=options)
    logging_port = logging_server.add_insecure_port("[::]:0")
    logging_server.start()
    beam_fn_api_pb2_grpc.add_BeamFnLoggingServicer_to_server(
        BeamFnLoggingServicer(), logging_server
    )
    try:
        env = worker_environment(
            handler.control_address,
            f"localhost:{logging_port}",
            handler.provision_info,
            handler.worker_id,
        )
        with os.fdopen(worker.pipe, "wb") as pipe:
            pipe.write(json.dumps(env).encode("utf-8"))
        _, status = os.waitpid(worker.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        if code:
            raise RuntimeError(f"Forked SDK worker {worker.pid} exited with return code {code}")
    finally:
        logging_server.stop(0)


@worker_handlers.WorkerHandler.register_environment(FORKED_SDK_URN, bytes)
class ForkedSdkWorkerHandler(worker_handlers.SubprocessSdkWorkerHandler):
    """Runs a forked worker (``take()``), or starts a new process as Beam does when none waits;
    either way, its inputs are streamed to it (``pipeline.runners.streamed_inputs``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Beam types the attribute as its own channel class; the wrapper has its interface.
        self.data_conn = cast(Any, StreamingDataChannel(self.data_conn))

    def start_worker(self) -> None:
        worker = take()
        if worker is None:
            super().start_worker()
            return
        self.worker_thread = threading.Thread(
            name="run_forked_worker", target=_run, args=(worker, self), daemon=True
        )
        self.worker_thread.start()
