"""``c4 submit``: ``c4 build`` on Dataflow, with the DataflowRunner options assembled and checked.

Everything a Dataflow job needs is validated here, before Beam sees it, so a user learns every
missing or malformed option at once (one line each, exit 2) instead of one Beam traceback at a
time. ``--dry_run`` builds the whole job (graph, worker pool, environment) without any network
call: Beam's own ``dry_run`` test option stops DataflowRunner right before submission.

Private Beam APIs (docs/runners.md; ``pipeline.runners.PATCHED_BEAM_VERSION``):

- ``apache_beam.runners.dataflow.internal.apiclient.Environment`` and
  ``apache_beam.runners.dataflow.internal.apiclient._FNAPI_ENVIRONMENT_MAJOR_VERSION``: the
  dry run builds the job's environment offline, as staging would; it reads the dry run's
  ``apache_beam.runners.dataflow.internal.apiclient.Job`` (``proto``, ``proto_pipeline``,
  ``options``, ``str()``) from the result's ``job``;
- ``apache_beam.portability.common_urns`` (``artifact_roles.STAGING_TO``) and
  ``apache_beam.portability.api.beam_runner_api_pb2`` (``ArtifactStagingToRolePayload``): the
  names of the files the workers would fetch.
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from filters.spec import UsageError

DEFAULT_MACHINE_TYPE = "n1-standard-2"
DEFAULT_MAX_WORKERS = 500
# Batch jobs shuffle in the Dataflow Shuffle service, not on workers' disks (docs/scale.md).
SHUFFLE_EXPERIMENT = "shuffle_mode=service"

# Project IDs: 6-30 of [-a-z0-9], starting with a letter; legacy domain-scoped "example.com:id".
_PROJECT_RE = re.compile(r"^([a-z0-9.-]+:)?[a-z][-a-z0-9]{4,28}[a-z0-9]$")
_REGION_RE = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")
_GCS_RE = re.compile(r"^gs://[a-z0-9][-_.a-z0-9]{1,61}[a-z0-9](/.*)?$")
_MACHINE_RE = re.compile(r"^[a-z][a-z0-9]*-[a-z0-9-]+$")

# What each required option is, for the "missing" lines.
_REQUIRED = {
    "project": "the Google Cloud project ID that runs the job",
    "region": "the Dataflow region, e.g. us-central1",
    "temp_location": "a gs:// path for Dataflow's temporary files",
}


@dataclass(frozen=True)
class DataflowSettings:
    """The Dataflow part of a ``c4 submit`` command line, validated."""

    project: str
    region: str
    temp_location: str
    staging_location: str
    machine_type: str = DEFAULT_MACHINE_TYPE
    max_num_workers: int = DEFAULT_MAX_WORKERS
    num_workers: int | None = None
    sdk_container_image: str | None = None
    setup_file: str | None = None
    job_name: str | None = None
    dataflow_shuffle: bool = True
    dry_run: bool = False
    extra_args: tuple[str, ...] = field(default=())
    # The sdist of setup_file, built out of its tree (pipeline/cloud/sdist.py): staged in its
    # place, so Beam builds nothing in the source tree.
    sdist: str | None = None

    def beam_args(self) -> list[str]:
        """The DataflowRunner options, as Beam flags; the user's other Beam flags last."""
        args = [
            "--runner=DataflowRunner",
            f"--project={self.project}",
            f"--region={self.region}",
            f"--temp_location={self.temp_location}",
            f"--staging_location={self.staging_location}",
            f"--machine_type={self.machine_type}",
            f"--max_num_workers={self.max_num_workers}",
        ]
        if self.num_workers is not None:
            args.append(f"--num_workers={self.num_workers}")
        if self.job_name:
            args.append(f"--job_name={self.job_name}")
        if self.dataflow_shuffle:
            args.append(f"--experiments={SHUFFLE_EXPERIMENT}")
        if self.sdk_container_image:
            # The image holds Beam and our package: nothing to stage, nothing to pip install.
            args += [
                f"--sdk_container_image={self.sdk_container_image}",
                "--sdk_location=container",
            ]
        if self.sdist:
            args.append(f"--extra_package={self.sdist}")
        elif self.setup_file:
            args.append(f"--setup_file={self.setup_file}")
        if self.dry_run:
            args.append("--dry_run=True")
        return args + list(self.extra_args)


def add_dataflow_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare ``c4 submit``'s own flags (Beam's names, so they read like any Beam job's)."""
    parser.add_argument("--project", default=None, help=_REQUIRED["project"])
    parser.add_argument("--region", default=None, help=_REQUIRED["region"])
    parser.add_argument("--temp_location", default=None, help=_REQUIRED["temp_location"])
    parser.add_argument(
        "--staging_location", default=None, help="gs:// path for staged files (temp/staging)"
    )
    parser.add_argument("--machine_type", default=DEFAULT_MACHINE_TYPE, help="worker machine type")
    parser.add_argument(
        "--max_num_workers", type=int, default=DEFAULT_MAX_WORKERS, help="autoscaling ceiling"
    )
    parser.add_argument("--num_workers", type=int, default=None, help="initial workers")
    parser.add_argument(
        "--sdk_container_image", default=None, help="the worker image built by deploy/"
    )
    parser.add_argument(
        "--setup_file", default=None, help="or: ./setup.py, installed on every worker at start"
    )
    parser.add_argument("--job_name", default=None, help="default: c4-<config>-<version>-<time>")
    parser.add_argument(
        "--no_dataflow_shuffle",
        action="store_true",
        help="shuffle on the workers' disks instead of the Dataflow Shuffle service",
    )
    parser.add_argument(
        "--dry_run", action="store_true", help="build the job, do not submit; no network"
    )
    parser.add_argument("--job_file", default=None, help="with --dry_run: write the job JSON here")
    parser.add_argument(
        "--detach", action="store_true", help="return once submitted instead of following the job"
    )


def submit_parser() -> argparse.ArgumentParser:
    """``c4 build``'s parser (every build flag) plus the Dataflow flags; the rest goes to Beam."""
    from pipeline.build_command import build_parser

    parser = build_parser()
    parser.prog = "c4 submit"
    # None tells "not given" from a runner the user chose (refused: submit is Dataflow only).
    parser.set_defaults(runner=None)
    add_dataflow_arguments(parser)
    return parser


def default_job_name(config: str, c4_version: str, now: float | None = None) -> str:
    """``c4-en-3-1-0-20261129-120501``: Dataflow wants [-a-z0-9], starting with a letter."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now))
    return re.sub(r"[^-a-z0-9]+", "-", f"c4-{config}-{c4_version}-{stamp}".lower())


def check_dataflow_args(args: argparse.Namespace, beam_args: Sequence[str]) -> list[str]:
    """Every problem with the Dataflow options, one line each naming its flag; [] if none."""
    problems = [
        f"--{name}: missing ({why})" for name, why in _REQUIRED.items() if not getattr(args, name)
    ]
    if args.project and not _PROJECT_RE.match(args.project):
        problems.append(f"--project: {args.project!r} is not a project ID (lowercase, 6-30 chars)")
    if args.region and not _REGION_RE.match(args.region):
        problems.append(f"--region: {args.region!r} is not a region such as us-central1")
    for name in ("temp_location", "staging_location"):
        value = getattr(args, name)
        if value and not _GCS_RE.match(value):
            problems.append(f"--{name}: {value!r} is not a gs://bucket/path")
    if not _MACHINE_RE.match(args.machine_type):
        problems.append(f"--machine_type: {args.machine_type!r} is not a machine type")
    if args.max_num_workers < 1:
        problems.append(f"--max_num_workers: must be at least 1, not {args.max_num_workers}")
    if args.num_workers is not None and not 1 <= args.num_workers <= args.max_num_workers:
        problems.append(f"--num_workers: must be 1..--max_num_workers, not {args.num_workers}")
    if args.sdk_container_image and args.setup_file:
        problems.append("--sdk_container_image: give it or --setup_file, not both")
    elif not args.sdk_container_image and not args.setup_file:
        problems.append(
            "--sdk_container_image: missing (the image deploy/build_image.sh pushed), "
            "or --setup_file ./setup.py"
        )
    if args.setup_file and not Path(args.setup_file).is_file():
        problems.append(f"--setup_file: {args.setup_file} is not a file")
    elif args.setup_file and Path(args.setup_file).name != "setup.py":
        problems.append(f"--setup_file: {args.setup_file} must be a setup.py")
    if args.job_file and not args.dry_run:
        problems.append("--job_file: only with --dry_run")
    if getattr(args, "runner", None) not in (None, "DataflowRunner"):
        problems.append("--runner: c4 submit always uses DataflowRunner (c4 build for others)")
    return problems


def dataflow_settings(
    args: argparse.Namespace, beam_args: Sequence[str], job_name: str
) -> DataflowSettings:
    """The validated settings (call ``check_dataflow_args`` first)."""
    temp = args.temp_location.rstrip("/")
    return DataflowSettings(
        project=args.project,
        region=args.region,
        temp_location=temp,
        staging_location=(args.staging_location or f"{temp}/staging").rstrip("/"),
        machine_type=args.machine_type,
        max_num_workers=args.max_num_workers,
        num_workers=args.num_workers,
        sdk_container_image=args.sdk_container_image,
        setup_file=str(Path(args.setup_file).resolve()) if args.setup_file else None,
        job_name=args.job_name or job_name,
        dataflow_shuffle=not args.no_dataflow_shuffle,
        dry_run=args.dry_run,
        extra_args=tuple(beam_args),
    )


class LeftUnexpanded:
    """A dry run's ``expand_remote``: fetches nothing, each remote argument stays one input
    (a crawl's listing URL included); the arguments are kept, to say so."""

    def __init__(self) -> None:
        self.args: list[str] = []

    def __call__(self, arg: str, cc_base_url: str = "", flag: str = "--input") -> list[str]:
        self.args.append(arg)
        return [arg]


def build_config_from_args(
    args: argparse.Namespace, beam_args: Sequence[str], expand: Any = None
) -> Any:
    """``make_build_config`` from parsed ``c4 build`` flags, remote inputs expanded now
    (by ``expand``, when given: a dry run's ``LeftUnexpanded``).

    Flags reach its parameters by name (``--crawl`` as ``crawls``), so a build flag added later
    with a parameter of the same name needs no edit here.
    """
    from pipeline.config import make_build_config
    from pipeline.io.expand import with_attempts
    from pipeline.io.gcs import impersonation_of
    from pipeline.masking.options import MaskOptions

    values = dict(
        vars(args),
        mask_options=MaskOptions.from_args(args),
        inputs=args.input,
        output_dir=args.output,
        crawls=getattr(args, "crawl", None),
        runner="DataflowRunner",
        expand_remote=expand or with_attempts(args.download_attempts, impersonation_of(beam_args)),
        beam_args=list(beam_args),
    )
    wanted = inspect.signature(make_build_config).parameters
    return make_build_config(**{k: v for k, v in values.items() if k in wanted})


def check_remote(config: Any) -> list[str]:
    """Workers cannot read this machine's disk: inputs and output must be remote."""
    problems = []
    if not config.output_dir.startswith("gs://"):
        problems.append(f"--output: {config.output_dir!r} must be a gs:// path on Dataflow")
    local = [f.path for f in config.inputs if "://" not in f.path]
    if local:
        problems.append(
            f"--input: {len(local)} local file(s) (first {local[0]}); Dataflow workers read "
            "gs:// or https:// inputs"
        )
    return problems


def _print_problems(problems: Sequence[str]) -> int:
    for line in problems:
        print(f"c4 submit: {line}", file=sys.stderr)
    return 2


def describe_dry_run(job: Any, labels: Sequence[str], settings: DataflowSettings) -> dict[str, Any]:
    """The job Beam would send, with the Dataflow environment it would get, as a dict.

    Beam fills the job's environment only while staging (a network call); ``Environment`` is the
    same offline constructor it uses there, fed the staging URL it would upload the graph to.
    """
    import json

    from apache_beam.runners.dataflow.internal import apiclient

    env = apiclient.Environment(
        packages=[],
        options=job.options,
        environment_version=apiclient._FNAPI_ENVIRONMENT_MAJOR_VERSION,
        proto_pipeline_staged_url=f"{settings.staging_location}/pipeline.pb",
        proto_pipeline=job.proto_pipeline,
    )
    job.proto.environment = env.proto
    described: dict[str, Any] = json.loads(str(job))
    names = {t.unique_name for t in job.proto_pipeline.components.transforms.values()}
    described["c4_stages"] = {label: label in names for label in [*labels, "WriteC4"]}
    described["c4_staged_files"] = sorted(_staged_names(job.proto_pipeline))
    return described


def _staged_names(proto: Any) -> set[str]:
    """Names of the files workers would fetch (the sdist of ``--setup_file``, ...)."""
    from apache_beam.portability import common_urns
    from apache_beam.portability.api import beam_runner_api_pb2

    names = set()
    for env in proto.components.environments.values():
        for dep in env.dependencies:
            if dep.role_urn == common_urns.artifact_roles.STAGING_TO.urn:
                payload = beam_runner_api_pb2.ArtifactStagingToRolePayload.FromString(
                    dep.role_payload
                )
                names.add(payload.staged_name)
    return names


def run_submit(argv: Sequence[str]) -> int:
    """``c4 submit``: validate all, build the job on DataflowRunner, submit or describe it."""
    from pipeline.command import interrupt_exits

    with interrupt_exits("c4 submit"):
        return _submit(argv)


def _submit(argv: Sequence[str]) -> int:
    from pipeline.command import parse_command_line
    from pipeline.io.gcs import connect_anonymously_if_emulated

    parsed = parse_command_line(submit_parser(), argv)
    if isinstance(parsed, int):  # a usage error (one line printed, exit 2) or --help (0)
        return parsed
    args, beam_args = parsed
    connect_anonymously_if_emulated()
    problems = check_dataflow_args(args, beam_args)
    # A dry run reads nothing remote: a crawl or a remote listing stays one unexpanded input.
    unexpanded = LeftUnexpanded() if args.dry_run else None
    try:
        config = build_config_from_args(args, beam_args, unexpanded)
        config = replace(config, resumable=args.resumable)  # spills in DIR/.c4/resume (gs://)
        config = replace(config, drop_forget=args.drop_forget_ledger)
    except UsageError as exc:
        return _print_problems([*problems, str(exc)])
    problems += check_remote(config)
    if not problems and not args.dry_run:
        from pipeline.io.output import check_remote_output_dir
        from pipeline.io.writable import check_writable

        try:  # reads and writes the bucket: never on a dry run
            check_writable(config.output_dir)
            check_remote_output_dir(config.output_dir, config.config, config.c4_version)
            config = with_forget_ledger(config, args.forget_ledger)
        except UsageError as exc:
            problems.append(str(exc))
    if problems:
        return _print_problems(problems)
    settings = dataflow_settings(
        args, beam_args, default_job_name(config.config, config.c4_version)
    )
    try:
        with tempfile.TemporaryDirectory(prefix="c4-submit-") as work_dir:
            if settings.setup_file:
                from pipeline.cloud.sdist import build_sdist

                settings = replace(settings, sdist=build_sdist(settings.setup_file, work_dir))
            result = _launch(config, settings)
            if isinstance(result, int):
                return result
            if settings.dry_run:
                return _describe(result, config, settings, args.job_file, unexpanded)
    except UsageError as exc:
        return _print_problems([str(exc)])
    if args.detach:
        from pipeline.cloud.monitor import cancel_command, job_url

        where = (settings.project, settings.region, result.job_id())
        print(f"c4 submit: job {where[2]} submitted: {job_url(*where)}")
        print(f"c4 submit: to cancel it: {cancel_command(*where)}")
        return 0
    from pipeline.cloud.monitor import follow

    return follow(result, settings.project, settings.region)


def _launch(config: Any, settings: DataflowSettings) -> Any:
    """Build the job and run it on DataflowRunner: the result, or 1 (the failure printed)."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.runners import DataflowRunner

    from pipeline.build import build_pipeline

    try:
        pipeline = beam.Pipeline(
            runner=DataflowRunner(), options=PipelineOptions(settings.beam_args())
        )
    except ValueError as exc:  # Beam's own option validation: a usage error too
        raise UsageError(" ".join(str(exc).split())) from None
    commit = staged_commit(config, dry_run=settings.dry_run)
    build_pipeline(pipeline, replace(config, staging_dir=commit.write_dir), commit)
    try:
        return pipeline.run()  # DataflowRunner's result: .job, .job_id(), .state, .metrics()
    except Exception as exc:
        print(f"c4 submit: failed: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
        return 1


def _describe(
    result: Any,
    config: Any,
    settings: DataflowSettings,
    job_file: str | None,
    unexpanded: LeftUnexpanded | None,
) -> int:
    """A dry run's report (and ``--job_file``); 0 if every stage is in the job."""
    import json

    from pipeline.build import stage_labels

    described = describe_dry_run(result.job, stage_labels(config), settings)
    if job_file:
        Path(job_file).write_text(json.dumps(described, indent=2, sort_keys=True) + "\n")
    stages = described["c4_stages"]
    code = settings.sdk_container_image or f"setup_file {settings.setup_file} (sdist staged)"
    left = unexpanded.args if unexpanded else []
    remote = (
        f"{len(left)} remote input(s) left unexpanded ({', '.join(left[:3])}"
        f"{', ...' if len(left) > 3 else ''}), listed when the job is submitted"
        if left
        else "no remote input to expand"
    )
    print(
        f"c4 submit: dry run, job {settings.job_name} not submitted; "
        f"{len(config.inputs)} input(s) -> {config.output_dir}\n"
        f"  stages: {' '.join(label for label, ok in stages.items() if ok)}\n"
        f"  workers: up to {settings.max_num_workers} x {settings.machine_type}, "
        f"{'Dataflow Shuffle' if settings.dataflow_shuffle else 'worker shuffle'}, {code}\n"
        f"  offline: nothing remote was read or written (output bucket not checked); {remote}"
    )
    return 0 if all(stages.values()) else 1


def with_forget_ledger(config: Any, given: str | None) -> Any:
    """``config`` with the forget ledger the job applies (``pipeline/build_ledger.py``).

    Raises:
        UsageError: the job would drop entries of DIR's ledger, or a ledger is unreadable.
    """
    from pipeline import build_ledger

    forget = build_ledger.resolve(config.output_dir, given, config.drop_forget)
    return replace(config, forget=forget)


def staged_commit(config: Any, dry_run: bool = False) -> Any:
    """The job's commit (``pipeline/io/commit.py``): it writes into a staging area and its last
    step publishes it, on a worker, since this process may be gone by then. No lock: no process
    here could release it (two jobs into one DIR are the user's to avoid, docs/layout.md). A
    dry run touches nothing remote, so its commit is only described."""
    from pipeline import build_ledger
    from pipeline.io.commit import Commit, begin

    tfds_rel = f"c4/{config.config}/{config.c4_version}"
    keeps = build_ledger.keeps(config)
    if dry_run:
        return Commit(config.output_dir, "dry-run", ("",), tfds_rel, keeps=keeps)
    commit = begin(
        config.output_dir,
        owns=("",),
        tfds_rel=tfds_rel,
        keeps=keeps,
        command="c4 submit",
        lock=False,
    )
    build_ledger.stage(config, commit.write_dir)  # DIR's forget ledger, or --forget_ledger's
    return commit


def launch_template(argv: Sequence[str]) -> None:
    """The Flex Template launcher's entry: ``c4 build`` flags plus the options Dataflow passes.

    The launcher supplies project, region, locations and image itself, so nothing is assembled
    here; the job is submitted and not waited for.
    """
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline.build import build_pipeline
    from pipeline.build_command import build_parser

    parser = build_parser()
    parser.prog = "c4 flex template"
    parser.set_defaults(runner="DataflowRunner")
    args, beam_args = parser.parse_known_args(list(argv))
    config = build_config_from_args(args, beam_args)
    config = replace(config, drop_forget=args.drop_forget_ledger)
    config = with_forget_ledger(config, args.forget_ledger)
    options = PipelineOptions([f"--runner={args.runner}", *beam_args])
    pipeline = beam.Pipeline(options=options)
    commit = staged_commit(config)
    build_pipeline(pipeline, replace(config, staging_dir=commit.write_dir), commit)
    pipeline.run()
