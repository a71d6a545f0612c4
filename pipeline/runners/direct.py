"""C4DirectRunner: what ``--runner DirectRunner`` runs, always Beam's FnApiRunner.

Beam 2.77's ``DirectRunner`` (``SwitchingDirectRunner``) first tries the Prism runner, a Go
binary it downloads from GitHub into ``~/.apache_beam/cache/prism`` when it can, and falls back
to the FnApiRunner when it cannot (as offline). So the same ``c4 build`` ran on two different
engines depending on the network, and downloaded at run time where it could. Every figure,
test and determinism check of ours is on the FnApiRunner; this runner always uses it, with the
provision info (pipeline options for the workers) the switching runner gives it.

With ``--direct_running_mode multi_processing``, the SDK workers are forked from the ``c4``
process when it runs no other Python thread (``pipeline.runners.forked_workers``: no second
import of Beam and our modules); otherwise each starts through ``pipeline.runners.sdk_worker``:
Beam's own worker main, after the same lean Beam import as the ``c4`` process
(``pipeline.runners.startup``), declining what that process declined.

Three changes in how the runner moves data, never in what a stage computes: a ``Flatten`` whose
only consumer is a ``GroupByKey`` (every ``CoGroupByKey``) writes straight into the group instead
of being materialized first (``pipeline.runners.flatten_sink``); a grouped input goes to a worker in
chunks, streamed to a worker process while it runs (``pipeline.runners.streamed_inputs``); and with
several workers a stage's input is cut into more parts than workers, each worker taking the next
part when done (``pipeline.runners.balanced_bundles``).

Private Beam APIs (docs/runners.md; ``pipeline.runners.PATCHED_BEAM_VERSION``):

- ``apache_beam.runners.portability.fn_api_runner.fn_runner.FnApiRunner``, subclassed: ours
  overrides its ``create_stages`` (one planning phase more), ``_get_bundle_manager`` (balanced
  bundles), ``_run_bundle`` (chunked grouped inputs) and ``run_via_runner_api`` (forked
  workers), and reads its ``_use_state_iterables``, ``_is_drain``, ``_progress_frequency`` and
  ``_num_workers``; ``FnApiRunner.get_cache_token_generator`` for our bundle manager;
- ``apache_beam.runners.portability.fn_api_runner.fn_runner.ParallelBundleManager``: what
  ``_get_bundle_manager`` gives for several workers, swapped for ours;
- ``apache_beam.runners.portability.fn_api_runner.fn_runner.ExtendedProvisionInfo`` and
  ``apache_beam.runners.portability.portable_runner.JobServiceHandle.encode_pipeline_options``:
  the workers' pipeline options, handed over as ``SwitchingDirectRunner`` does;
- ``apache_beam.runners.portability.fn_api_runner.translations``: ``create_and_optimize_stages``,
  ``Stage``, ``TransformContext`` and the phases ``FnApiRunner.create_stages`` runs
  (``BEAM_PHASES``, which tests/pipeline/runners/test_flatten_sink.py keeps equal to Beam's);
- ``apache_beam.portability.api.beam_runner_api_pb2``,
  ``apache_beam.portability.api.beam_provision_api_pb2``, ``apache_beam.portability.common_urns``
  and ``apache_beam.portability.python_urns.SUBPROCESS_SDK``: the runner API's protos and URNs
  (a subprocess worker's environment is rewritten to ``forked_workers.FORKED_SDK_URN``).
"""

from __future__ import annotations

import copy
import logging
import sys
from typing import Any

from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.portability import common_urns, python_urns
from apache_beam.portability.api import beam_provision_api_pb2, beam_runner_api_pb2
from apache_beam.runners.portability.fn_api_runner import fn_runner, translations
from apache_beam.runners.runner import PipelineResult, PipelineRunner

from pipeline.runners import (
    balanced_bundles,
    flatten_sink,
    forked_workers,
    progress,
    startup,
    streamed_inputs,
    warn_if_beam_differs,
)

_LOG = logging.getLogger(__name__)


# Beam 2.77's FnApiRunner.create_stages phases, in order (a test keeps them equal to Beam's).
BEAM_PHASES = (
    translations.annotate_downstream_side_inputs,
    translations.fix_side_input_pcoll_coders,
    translations.pack_combiners,
    translations.lift_combiners,
    translations.expand_sdf,
    translations.expand_gbk,
    translations.sink_flattens,
    translations.greedily_fuse,
    translations.read_to_impulse,
    translations.impulse_to_input,
    translations.sort_stages,
    translations.add_impulse_to_dangling_transforms,
    translations.setup_timer_mapping,
    translations.populate_data_channel_coders,
)


def worker_command() -> str:
    """The command line of an SDK worker process (``pipeline.runners.sdk_worker``)."""
    declined = ",".join(startup.declined_here())
    return f"{sys.executable} -m pipeline.runners.sdk_worker {declined}".rstrip()


class _FnApiRunner(fn_runner.FnApiRunner):
    """FnApiRunner whose subprocess workers start through ``worker_command()``, whose
    ``Flatten``s into a ``GroupByKey`` write straight into the group
    (``pipeline.runners.flatten_sink``), whose grouped inputs go out in chunks
    (``pipeline.runners.streamed_inputs``) and whose workers take a stage's parts as they finish
    (``pipeline.runners.balanced_bundles``)."""

    def create_stages(
        self, pipeline_proto: beam_runner_api_pb2.Pipeline
    ) -> tuple[translations.TransformContext, list[translations.Stage]]:
        # Beam's own FnApiRunner.create_stages, with one phase more.
        context, stages = translations.create_and_optimize_stages(
            copy.deepcopy(pipeline_proto),
            phases=flatten_sink.phases(list(BEAM_PHASES)),
            known_runner_urns=frozenset(
                [common_urns.primitives.FLATTEN.urn, common_urns.primitives.GROUP_BY_KEY.urn]
            ),
            use_state_iterables=self._use_state_iterables,
            is_drain=self._is_drain,
        )
        progress.note_stages(len(stages))  # for the live display (pipeline.runners.display)
        return context, stages

    def _get_bundle_manager(self, bundle_context_manager: Any) -> Any:
        manager = super()._get_bundle_manager(bundle_context_manager)
        if type(manager) is not fn_runner.ParallelBundleManager:
            return manager
        return balanced_bundles.BalancedBundleManager(
            bundle_context_manager,
            self._progress_frequency,
            cache_token_generator=fn_runner.FnApiRunner.get_cache_token_generator(static=False),
        )

    def _run_bundle(
        self,
        runner_execution_context: Any,
        bundle_context_manager: Any,
        bundle_input: Any,
        data_output: Any,
        expected_timer_output: Any,
        bundle_manager: Any,
    ) -> Any:
        progress.note_stage(bundle_context_manager.stage.name)
        streamed_inputs.chunk_grouped_inputs(bundle_input.data.values())
        return super()._run_bundle(
            runner_execution_context,
            bundle_context_manager,
            bundle_input,
            data_output,
            expected_timer_output,
            bundle_manager,
        )

    def run_via_runner_api(
        self, pipeline_proto: beam_runner_api_pb2.Pipeline, options: PipelineOptions
    ) -> Any:
        subprocess_workers = False
        for environment in pipeline_proto.components.environments.values():
            if environment.urn == python_urns.SUBPROCESS_SDK:
                environment.urn = forked_workers.FORKED_SDK_URN
                environment.payload = worker_command().encode("utf-8")
                subprocess_workers = True
        if subprocess_workers:
            # Before the runner starts any gRPC server or thread (pipeline.runners.forked_workers).
            forked = forked_workers.fork_workers(self._num_workers)
            _LOG.info("%d SDK worker(s) forked from this process", forked)
        try:
            return super().run_via_runner_api(pipeline_proto, options)
        finally:
            forked_workers.release_unused()


class C4DirectRunner(PipelineRunner):
    """Beam's DirectRunner for batch pipelines, on the FnApiRunner only (module docstring)."""

    def run_pipeline(self, pipeline: Any, options: PipelineOptions) -> PipelineResult:
        warn_if_beam_differs()
        # As SwitchingDirectRunner does: the workers read the pipeline options from here.
        from apache_beam.runners.portability.portable_runner import JobServiceHandle

        encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
        provision_info = fn_runner.ExtendedProvisionInfo(
            beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded)
        )
        return _FnApiRunner(provision_info=provision_info).run_pipeline(pipeline, options)
