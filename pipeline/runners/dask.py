"""C4DaskRunner: a C4 build on dask.distributed, as a fused-stage engine.

Beam 2.77's DaskRunner translates each transform into dask bag operations. What that gets
wrong for a C4 build, and what this runner does instead:

1. It computes only the bag of the LAST transform visited, so any other branch (a second sink,
   a side output nobody downstream of it reads) silently never runs. Here every stage runs.
2. A ParDo's output receivers are created once per transform and shared by every partition run
   in the same process, so each bundle re-emits the outputs of the bundles before it; it also
   drops what ``finish_bundle`` emits, and runs one DoFn instance on several threads at once.
   Here each task is one bundle with receivers of its own, its ``finish_bundle`` output is
   kept, and each thread has its own copy of each DoFn (set up once per thread and job).
3. A multi-output ParDo's tagged outputs all land in one bag. Here each output has its own.
4. It lifts no combiner: ``CombinePerKey`` becomes a GroupByKey holding every value of a key
   in one list. Here each task combines its values per key and only accumulators are
   shuffled, as Dataflow lifts it.
5. ``metrics()`` raises NotImplementedError. Here it returns empty results; C4's counters travel
   as pipeline data (``pipeline/transforms/common.py``), not as metrics.
6. It is no engine: every transform is a dask task per partition (a 38-file build was ~12,000
   tasks, and 10 MB took 647 s here against 5 s on the DirectRunner with two workers),
   partitions multiply at each ``Flatten``, and each task unpickles and sets its DoFns up
   again. Here the graph is cut into fused stages (``pipeline/runners/dask_plan.py``): a task
   per input file (or a few) up to the first shuffle, a few per shuffle after, the DoFns of a
   stage chained in one task (``pipeline/runners/dask_exec.py``), each worker unpickling the
   plan and setting each DoFn up once (docs/runners.md, patch 7: each step and its gain).

Without ``--dask_client_address`` the run uses a local cluster of its own
(``pipeline/runners/dask_worker.py``): a process in a session of its own, started by
``c4 build`` before it even imports Beam, whose workers are forked from a process that
imported what the job runs; it is closed at the end.

Nothing here changes Beam semantics for a pipeline in the global window: a pipeline that is
correct on the DirectRunner gives the same elements here. tests/pipeline/runners/test_dask.py
checks each fix, and that the stock runner still has each defect (when an upgrade fixes one,
that test says so); test_dask_kill.py kills a worker mid-build.

Private Beam APIs (docs/runners.md; ``pipeline.runners.PATCHED_BEAM_VERSION``):

- ``apache_beam.runners.dask.dask_runner.DaskRunner``, subclassed (``run_pipeline`` replaced),
  with ``apache_beam.runners.dask.dask_runner.DaskOptions._extract_bag_kwargs`` for the
  partition options, and ``apache_beam.runners.dask.dask_runner.DaskRunnerResult``, subclassed
  (``metrics``, and ``wait_until_finish`` reading its ``_state``);
- ``apache_beam.runners.dask.overrides.dask_overrides``: the stock transform overrides;
- ``apache_beam.pipeline.AppliedPTransform`` and ``apache_beam.pipeline.PTransformOverride``:
  rewriting the graph, as runners do;
- ``CombineFn.maybe_from_callable``: how Beam's own ``CombinePerKey`` makes its function.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import uuid
from collections.abc import Sequence
from typing import Any

import apache_beam as beam
from apache_beam import CombineFn
from apache_beam.metrics.metric import MetricResults
from apache_beam.pipeline import AppliedPTransform, PTransformOverride
from apache_beam.runners.dask.dask_runner import DaskOptions, DaskRunner, DaskRunnerResult
from apache_beam.runners.dask.overrides import dask_overrides

from pipeline.runners import warn_if_beam_differs
from pipeline.runners.dask_plan import (
    GroupByKeyPrimitive,
    LiftedCombinePerKey,
    Plan,
    Planner,
    cut,
)

_LOG = logging.getLogger(__name__)
# Shuffle buckets per worker thread: a few, so that a slow bucket does not hold a stage.
BUCKETS_PER_THREAD = 2
# Tasks of a Create (the input files) per worker thread at most: fewer than one file per task
# when there are many, as every task and every output it hands on costs the scheduler.
CREATE_TASKS_PER_THREAD = 8


class _EmptyMetrics(MetricResults):
    """No metrics: the C4 counters are in the data (stats), not here."""

    def query(self, filter: Any = None) -> dict[str, list[Any]]:
        kinds = ("COUNTERS", "DISTRIBUTIONS", "GAUGES", "STRINGSETS", "BOUNDED_TRIES", "HISTOGRAMS")
        return {getattr(self, k): [] for k in kinds if hasattr(self, k)}


@dataclasses.dataclass
class C4DaskRunnerResult(DaskRunnerResult):
    """``DaskRunnerResult`` whose ``metrics()`` answers instead of raising, and which closes
    the client (and the cluster the runner started) when the job ends."""

    cluster: Any = None

    def metrics(self) -> MetricResults:
        return _EmptyMetrics()

    def wait_until_finish(self, duration: float | None = None) -> str:
        try:
            return str(super().wait_until_finish(duration))
        finally:
            # The runner made this client; leaving it open makes the interpreter's exit noisy.
            if self._state != "RUNNING":
                self.client.close()
                if self.cluster is not None:
                    self.cluster.close()


class _CombinePerKeyOverride(PTransformOverride):
    def matches(self, applied_ptransform: AppliedPTransform) -> bool:
        t = applied_ptransform.transform
        return isinstance(t, beam.CombinePerKey) and not t.args and not t.kwargs

    def get_replacement_transform_for_applied_ptransform(
        self, applied_ptransform: AppliedPTransform
    ) -> beam.PTransform:
        transform: Any = applied_ptransform.transform
        return LiftedCombinePerKey(CombineFn.maybe_from_callable(transform.fn))


class _GroupByKeyOverride(PTransformOverride):
    def matches(self, applied_ptransform: AppliedPTransform) -> bool:
        return type(applied_ptransform.transform) is beam.GroupByKey

    def get_replacement_transform_for_applied_ptransform(
        self, applied_ptransform: AppliedPTransform
    ) -> beam.PTransform:
        return GroupByKeyPrimitive()


def task_graph(
    plan: Plan, values: dict[int, list[list[Any]]], token: str, workers: list[str]
) -> tuple[Any, str]:
    """The dask graph of ``plan`` (whose ``Create`` stages' values are ``values``, by stage):
    one key per stage task, one per output a task hands on, and a last key that waits for every
    task whose outputs no other task reads. Returns the graph (a HighLevelGraph, for its
    per-key annotations) and that last key.

    An output is a key of its own so that it is dropped when the stage that reads it is done,
    not when the last reader of any output of its task is. A shuffle output is one key, not one
    per bucket: each bucket's task takes its own list from it (every key costs the scheduler
    ~1 ms; a key per bucket made a 38-file build ~1,000 keys, and so ~1,000 round trips).
    Only the last key is asked for, so every other result is dropped as soon as what reads it
    is done; a lost one (a worker died) is computed again from its inputs.

    The task of bucket ``b`` of every shuffle prefers worker ``b`` mod len(``workers``): all
    buckets read the same outputs, so left to dask's locality rule they all went to the worker
    holding most of them, one after another, while the other idled. Only a preference
    (``allow_other_workers``): a task whose worker died runs elsewhere.
    """
    from dask.highlevelgraph import HighLevelGraph, MaterializedLayer

    from pipeline.runners import dask_exec, dask_worker

    blob = dask_exec.dumps(plan)
    graph: dict[Any, Any] = {}
    read: set[Any] = set()

    def task(stage: int, index: int) -> tuple[str, int]:
        return (f"c4-s{stage}-{token}", index)

    def output(stage: int, out: int, index: int) -> tuple[str, int]:
        key = (f"c4-s{stage}o{out}-{token}", index)
        if key not in graph:
            graph[key] = (dask_worker.pick, task(stage, index), out)
            read.add(task(stage, index))
        return key

    def outputs(reads: list[tuple[int, int]]) -> list[Any]:
        return [output(s, o, j) for s, o in reads for j in range(plan.stages[s].tasks)]

    where: dict[Any, list[str]] = {}
    for stage in plan.stages:
        sides = [outputs(reads) for reads in stage.sides]
        parts = outputs(stage.reads)
        for i in range(stage.tasks):
            mine = [parts[i]] if stage.kind == "union" else parts
            created = dask_exec.dumps(values[stage.id][i]) if stage.id in values else None
            graph[task(stage.id, i)] = (
                dask_worker.run_task,
                blob,
                stage.id,
                i,
                mine,
                sides,
                created,
            )
            if stage.kind in ("group", "combine") and len(workers) > 1:
                where[task(stage.id, i)] = [workers[i % len(workers)]]
    last = [
        task(stage.id, i)
        for stage in plan.stages
        for i in range(stage.tasks)
        if task(stage.id, i) not in read
    ]
    final = f"c4-done-{token}"
    graph[final] = (dask_worker.done, last)
    annotations = {"workers": where.get, "allow_other_workers": lambda key: key in where or None}
    layer = MaterializedLayer(graph, annotations=annotations)
    return HighLevelGraph({f"c4-{token}": layer}, {f"c4-{token}": set()}), final


def _threads(client: Any) -> int:
    return sum(client.nthreads().values()) or 1


def _names_a_cluster(dask_options: dict[str, Any]) -> bool:
    return bool(dask_options.get("address") or dask_options.get("scheduler_file"))


class C4DaskRunner(DaskRunner):
    """Beam on dask.distributed as fused stages: every branch runs, one bundle per task with its
    own receivers, tagged outputs apart, combines lifted, DoFns set up once per worker thread."""

    def __init__(self) -> None:
        super().__init__()
        self._cluster: Any = None

    def start_cluster(self, options: Any, modules: Sequence[str]) -> None:
        """Start the local cluster the run will use now, its workers importing ``modules``,
        unless ``options`` name a cluster: its worker processes start while this one builds the
        graph (``c4 build`` calls this once its flags are checked)."""
        from pipeline.runners import dask_worker

        dask_options = options.view_as(DaskOptions).get_all_options(
            drop_default=True, current_only=True
        )
        if self._cluster is None and not _names_a_cluster(dask_options):
            self._cluster = dask_worker.take_early() or dask_worker.ClusterProcess(modules)

    def run_pipeline(self, pipeline: beam.Pipeline, options: Any) -> C4DaskRunnerResult:
        import dask.distributed as ddist

        from pipeline.runners import dask_worker

        warn_if_beam_differs()
        dask_options = options.view_as(DaskOptions).get_all_options(
            drop_default=True, current_only=True
        )
        bag_kwargs = DaskOptions._extract_bag_kwargs(dask_options)
        npartitions = bag_kwargs.get("npartitions")
        partition_size = bag_kwargs.get("partition_size")
        pipeline.replace_all([_CombinePerKeyOverride(), _GroupByKeyOverride(), *dask_overrides()])
        cluster = None
        if _names_a_cluster(dask_options):
            client = ddist.Client(**dask_options)
        else:
            cluster, self._cluster = self._cluster or dask_worker.take_early(), None
            if cluster is None:
                cluster = dask_worker.ClusterProcess(dask_worker.job_modules(pipeline))
            client = ddist.Client(cluster.address(), **dask_options)
            environ = dict(os.environ)
            client.run_on_scheduler(dask_worker.adopt_environ, environ)
            client.run(dask_worker.adopt_environ, environ)
        threads = _threads(client)
        buckets = npartitions or BUCKETS_PER_THREAD * threads
        most = CREATE_TASKS_PER_THREAD * threads
        planner = Planner(buckets, lambda values: cut(values, npartitions, partition_size, most))
        pipeline.visit(planner)
        plan = planner.plan()
        values = {s.id: s.values for s in plan.stages if s.kind == "create"}
        for stage in plan.stages:  # each task carries its own values, not the plan all of them
            stage.values = []
        graph, final = task_graph(plan, values, uuid.uuid4().hex[:12], sorted(client.nthreads()))
        _LOG.debug(
            "C4DaskRunner: %d stages, %d tasks (%d with the outputs they hand on), "
            "%d shuffle buckets",
            len(plan.stages),
            sum(s.tasks for s in plan.stages),
            len(graph.layers[next(iter(graph.layers))]) - 1,
            buckets,
        )
        futures = client.get(graph, [final], sync=False)
        return C4DaskRunnerResult(client, futures, cluster)
