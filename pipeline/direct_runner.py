"""C4DirectRunner: what ``--runner DirectRunner`` runs, always Beam's FnApiRunner.

Beam 2.77's ``DirectRunner`` (``SwitchingDirectRunner``) first tries the Prism runner, a Go
binary it downloads from GitHub into ``~/.apache_beam/cache/prism`` when it can, and falls back
to the FnApiRunner when it cannot (as offline). So the same ``c4 build`` ran on two different
engines depending on the network, and downloaded at run time where it could. Every figure,
test and determinism check of ours is on the FnApiRunner; this runner always uses it, with the
provision info (pipeline options for the workers) the switching runner gives it.

With ``--direct_running_mode multi_processing``, each SDK worker process starts through
``pipeline.sdk_worker``: Beam's own worker main, after the same lean Beam import as the ``c4``
process (``pipeline.startup``), declining what that process declined.
"""

from __future__ import annotations

import sys
from typing import Any

from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.portability import python_urns
from apache_beam.portability.api import beam_provision_api_pb2, beam_runner_api_pb2
from apache_beam.runners.portability.fn_api_runner import fn_runner
from apache_beam.runners.runner import PipelineResult, PipelineRunner

from pipeline import startup


def worker_command() -> str:
    """The command line of an SDK worker process (``pipeline.sdk_worker``)."""
    declined = ",".join(startup.declined_here())
    return f"{sys.executable} -m pipeline.sdk_worker {declined}".rstrip()


class _FnApiRunner(fn_runner.FnApiRunner):
    """FnApiRunner whose subprocess workers start through ``worker_command()``."""

    def run_via_runner_api(
        self, pipeline_proto: beam_runner_api_pb2.Pipeline, options: PipelineOptions
    ) -> Any:
        for environment in pipeline_proto.components.environments.values():
            if environment.urn == python_urns.SUBPROCESS_SDK:
                environment.payload = worker_command().encode("utf-8")
        return super().run_via_runner_api(pipeline_proto, options)


class C4DirectRunner(PipelineRunner):
    """Beam's DirectRunner for batch pipelines, on the FnApiRunner only (module docstring)."""

    def run_pipeline(self, pipeline: Any, options: PipelineOptions) -> PipelineResult:
        # As SwitchingDirectRunner does: the workers read the pipeline options from here.
        from apache_beam.runners.portability.portable_runner import JobServiceHandle

        encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
        provision_info = fn_runner.ExtendedProvisionInfo(
            beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded)
        )
        return _FnApiRunner(provision_info=provision_info).run_pipeline(pipeline, options)
