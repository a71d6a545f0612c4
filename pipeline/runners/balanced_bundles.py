"""A stage's input cut into more parts than workers, each worker taking the next part when done.

Beam's ``ParallelBundleManager`` cuts a stage's input into one part per worker, so the stage
lasts as long as its slowest worker. On this machine the two vCPUs run the same code 10-40 %
apart, and which one is slower changes from minute to minute (the same loop pinned to each:
11.3 against 14.0 s; docs/benchmarks.md, "Two workers"): with one part each, the faster worker of
a 600 MB build idled 5 s at the end of the parse stage and 4 s at the end of the language stage.

``BalancedBundleManager`` cuts the input into ``PARTS_PER_WORKER`` parts per worker (the
buffers' own ``partition``, as Beam's does into one); one thread per worker sends it the next part
as a bundle of its own (a ``BundleManager`` that sees only that worker, ``_OneWorker``) until none
is left. Which worker runs which part changes from run to run; nothing a stage writes depends on
it, as nothing depended on which of Beam's parts a worker got (the determinism tests).

Private Beam APIs (docs/runners.md; ``pipeline.runners.PATCHED_BEAM_VERSION``):

- ``apache_beam.runners.portability.fn_api_runner.fn_runner.ParallelBundleManager``,
  subclassed: its ``process_bundle`` overridden, with its ``_num_workers``,
  ``_progress_frequency``, ``_cache_token_generator`` and ``bundle_context_manager`` (whose
  ``worker_handlers`` ``_OneWorker`` narrows to one);
- ``apache_beam.runners.portability.fn_api_runner.fn_runner.BundleManager``: runs each part on
  its one worker;
- ``apache_beam.metrics.monitoring_infos.consolidate`` and
  ``apache_beam.portability.api.beam_fn_api_pb2`` (``InstructionResponse``): the parts' results
  merged as ``ParallelBundleManager`` merges its own;
- ``apache_beam.utils.thread_pool_executor.shared_unbounded_instance``: the runner's threads.
"""

from __future__ import annotations

import itertools
import queue
from collections.abc import Mapping
from typing import Any

from apache_beam.metrics import monitoring_infos
from apache_beam.portability.api import beam_fn_api_pb2
from apache_beam.runners.portability.fn_api_runner import fn_runner
from apache_beam.utils import thread_pool_executor

PARTS_PER_WORKER = 4


class _OneWorker:
    """A stage's ``BundleContextManager`` with one worker only: a ``BundleManager`` given it
    sends its bundle to that worker."""

    def __init__(self, context: Any, handler: Any) -> None:
        self._context = context
        self.worker_handlers = [handler]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


def _has_data(part: Mapping[str, Any]) -> bool:
    return any(chunk for chunks in part.values() for chunk in chunks)


class BalancedBundleManager(fn_runner.ParallelBundleManager):
    """Beam's ``ParallelBundleManager`` with the input in ``PARTS_PER_WORKER`` parts per worker,
    taken by the workers as they finish (module docstring)."""

    def process_bundle(
        self,
        inputs: Mapping[str, Any],
        expected_outputs: Any,
        fired_timers: Mapping[Any, Any],
        expected_output_timers: Any,
        dry_run: bool = False,
    ) -> Any:
        if fired_timers or expected_output_timers:  # Beam sends timers to one worker only
            return super().process_bundle(
                inputs, expected_outputs, fired_timers, expected_output_timers, dry_run
            )
        count = self._num_workers * PARTS_PER_WORKER
        # Lists of chunks where Beam's types say buffers, as in ParallelBundleManager.
        parts: list[dict[str, Any]] = [{} for _ in range(count)]
        for name, buffer in inputs.items():
            for index, part in enumerate(buffer.partition(count)):
                parts[index][name] = part
        # An empty part would only start and finish a bundle; one part runs even if all are.
        pending: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        for part in [p for p in parts if _has_data(p)] or parts[:1]:
            pending.put(part)

        def work(handler: Any) -> list[Any]:
            # Duck-typed: a BundleManager reads its worker list and delegates the rest.
            context: Any = _OneWorker(self.bundle_context_manager, handler)
            results: list[Any] = []
            while True:
                try:
                    part = pending.get_nowait()
                except queue.Empty:
                    return results
                manager = fn_runner.BundleManager(
                    context,
                    self._progress_frequency,
                    cache_token_generator=self._cache_token_generator,
                )
                results.append(manager.process_bundle(part, expected_outputs, {}, {}, dry_run))

        handlers = self.bundle_context_manager.worker_handlers
        with thread_pool_executor.shared_unbounded_instance() as executor:
            done = list(itertools.chain.from_iterable(executor.map(work, handlers)))
        return _merged(done)


def _merged(done: list[Any]) -> Any:
    """One result for the stage: Beam's ``ParallelBundleManager`` merge of its parts' (metrics
    and the first error), keeping every part's residuals too."""
    responses = [response for response, _ in done]
    merged = beam_fn_api_pb2.InstructionResponse(
        process_bundle=beam_fn_api_pb2.ProcessBundleResponse(
            monitoring_infos=monitoring_infos.consolidate(
                itertools.chain.from_iterable(r.process_bundle.monitoring_infos for r in responses)
            ),
            residual_roots=[root for r in responses for root in r.process_bundle.residual_roots],
        ),
        error=next((r.error for r in responses if r.error), ""),
    )
    splits = [split for _, part_splits in done for split in part_splits]
    return merged, splits
