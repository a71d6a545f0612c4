"""C4DaskRunner: Beam 2.77's DaskRunner with the defects that break a C4 build fixed.

What the stock runner (``apache_beam.runners.dask``) gets wrong, and what this one does:

1. It computes only the bag of the LAST transform visited, so any other branch (a second sink,
   a side output nobody downstream of it reads) silently never runs. Here every leaf (a
   PCollection no transform consumes) is computed.
2. A ParDo's output receivers are created once per transform and shared by every partition run
   in the same process (``processes=False``, or several tasks per worker), so each bundle
   re-emits the outputs of the bundles before it; it also drops what ``finish_bundle`` emits,
   and runs one DoFn instance on several threads at once, against Beam's contract (a DoFn that
   keeps per-bundle state, as C4's counters do, loses counts). Here each bundle gets fresh
   receivers, its ``finish_bundle`` output is kept, and each thread its own copy of the DoFn
   (set up once per thread).
3. A multi-output ParDo's tagged outputs all land in one bag. Here each output PCollection gets
   only its own tag.
4. It lifts no combiner: ``CombinePerKey`` becomes a GroupByKey holding every value of a key
   in one list. Here ``CombinePerKey`` runs as dask's ``foldby`` (add_input per partition, then
   merge_accumulators), the same lifting Dataflow does.
5. ``metrics()`` raises NotImplementedError. Here it returns empty results; C4's counters travel
   as pipeline data (``pipeline/transforms/common.py``), not as metrics.

Nothing here changes Beam semantics: a pipeline that is correct on the DirectRunner gives the
same elements here. tests/pipeline/runners/test_dask.py checks each fix, and that the stock
runner still has each defect (when an upgrade fixes one, that test says so).

Private Beam APIs (docs/runners.md; ``pipeline.runners.PATCHED_BEAM_VERSION``):

- ``apache_beam.runners.dask.dask_runner.DaskRunner``, subclassed (``run_pipeline`` replaced),
  with ``apache_beam.runners.dask.dask_runner.DaskOptions._extract_bag_kwargs`` for the bag
  options, and ``apache_beam.runners.dask.dask_runner.DaskRunnerResult``, subclassed
  (``metrics``, and ``wait_until_finish`` reading its ``_state``);
- ``apache_beam.runners.dask.transform_evaluator``: the stock translations we keep
  (``TRANSLATIONS``, ``NoOp``, ``Flatten``, ``OneReceiver``, ``DaskBagWindowedIterator``,
  ``get_windowed_value``, ``defenestrate``);
- ``apache_beam.runners.dask.overrides.dask_overrides``: the stock transform overrides;
- ``apache_beam.pipeline.PipelineVisitor``, ``apache_beam.pipeline.AppliedPTransform`` and
  ``apache_beam.pipeline.PTransformOverride``: walking and rewriting the graph, as runners do;
- ``apache_beam.runners.common.DoFnInvoker``, ``apache_beam.runners.common.DoFnSignature``,
  ``apache_beam.runners.common.DoFnContext`` and ``apache_beam.runners.common._OutputHandler``:
  running a DoFn's bundle ourselves, with receivers of its own;
- ``apache_beam.transforms.sideinputs.SideInputMap``, built from a side input's
  ``apache_beam.pvalue.AsSideInput._view_options`` and ``_window_mapping_fn``;
- ``apache_beam.internal.pickler``: a DoFn copied per thread as Beam copies it;
- ``CombineFn.maybe_from_callable`` and ``PCollection.from_``: how Beam's own ``CombinePerKey``
  and primitives make their function and output.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import weakref
from collections.abc import Iterable
from typing import Any

import apache_beam as beam
from apache_beam import CombineFn, pvalue
from apache_beam.internal import pickler
from apache_beam.metrics.metric import MetricResults
from apache_beam.pipeline import AppliedPTransform, PipelineVisitor, PTransformOverride
from apache_beam.runners.common import DoFnContext, DoFnInvoker, DoFnSignature, _OutputHandler
from apache_beam.runners.dask import transform_evaluator as te
from apache_beam.runners.dask.dask_runner import DaskOptions, DaskRunner, DaskRunnerResult
from apache_beam.runners.dask.overrides import dask_overrides
from apache_beam.transforms.sideinputs import SideInputMap

from pipeline.runners import progress, warn_if_beam_differs

_LOG = logging.getLogger(__name__)
_EMPTY = object()


class _EmptyMetrics(MetricResults):
    """No metrics: the C4 counters are in the data (stats), not here."""

    def query(self, filter: Any = None) -> dict[str, list[Any]]:
        kinds = ("COUNTERS", "DISTRIBUTIONS", "GAUGES", "STRINGSETS", "BOUNDED_TRIES", "HISTOGRAMS")
        return {getattr(self, k): [] for k in kinds if hasattr(self, k)}


@dataclasses.dataclass
class C4DaskRunnerResult(DaskRunnerResult):
    """``DaskRunnerResult`` whose ``metrics()`` answers instead of raising."""

    def metrics(self) -> MetricResults:
        return _EmptyMetrics()

    def wait_until_finish(self, duration: float | None = None) -> str:
        try:
            return str(super().wait_until_finish(duration))
        finally:
            # The runner made this client; leaving it open makes the interpreter's exit noisy.
            if self._state != "RUNNING":
                self.client.close()


class _LiftedCombinePerKey(beam.PTransform):
    """Stand-in primitive for ``CombinePerKey``, translated to dask's ``foldby``."""

    def __init__(self, combine_fn: CombineFn) -> None:
        super().__init__()
        self.combine_fn = combine_fn

    def expand(self, pcoll: beam.PCollection) -> beam.PCollection:
        return beam.pvalue.PCollection.from_(pcoll)


class _CombinePerKeyOverride(PTransformOverride):
    def matches(self, applied_ptransform: AppliedPTransform) -> bool:
        t = applied_ptransform.transform
        return isinstance(t, beam.CombinePerKey) and not t.args and not t.kwargs

    def get_replacement_transform_for_applied_ptransform(
        self, applied_ptransform: AppliedPTransform
    ) -> beam.PTransform:
        transform: Any = applied_ptransform.transform
        fn = CombineFn.maybe_from_callable(transform.fn)
        return _LiftedCombinePerKey(fn)


def _combine_bag(bag: Any, fn: CombineFn) -> Any:
    """``CombinePerKey`` on a bag of ``(key, value)``, lifted as Dataflow lifts it.

    Each partition folds its values into one accumulator per key (bounded by the partition),
    only ``(key, accumulator)`` pairs are shuffled, and each key merges its accumulators.
    """

    def partial(items: Iterable[Any]) -> list[tuple[Any, Any]]:
        accs: dict[Any, Any] = {}
        for item in items:
            k, v = te.defenestrate(item)
            acc = accs.get(k, _EMPTY)
            accs[k] = fn.add_input(fn.create_accumulator() if acc is _EMPTY else acc, v)
        return [(k, fn.compact(acc)) for k, acc in accs.items()]

    def merge(group: tuple[Any, list[tuple[Any, Any]]]) -> tuple[Any, Any]:
        k, pairs = group
        return k, fn.extract_output(fn.merge_accumulators([acc for _, acc in pairs]))

    return bag.map_partitions(partial).groupby(_first).map(merge)


def _first(item: tuple[Any, Any]) -> Any:
    return item[0]


_THREAD_FNS = threading.local()


def _thread_copy(fn: beam.DoFn) -> tuple[beam.DoFn, bool]:
    """This thread's own copy of a ParDo's DoFn, and whether it was just made (needs setup).

    Keyed by the DoFn object itself (weakly), not by label: two pipelines in one process may
    share labels but not DoFns.
    """
    copies: weakref.WeakKeyDictionary[beam.DoFn, beam.DoFn] | None = getattr(
        _THREAD_FNS, "copies", None
    )
    if copies is None:
        copies = _THREAD_FNS.copies = weakref.WeakKeyDictionary()
    copy = copies.get(fn)
    if copy is not None:
        return copy, False
    copy = pickler.loads(pickler.dumps(fn))
    copies[fn] = copy
    return copy, True


def _run_bundle(
    items: Iterable[Any],
    transform: beam.ParDo,
    label: str,
    window_fn: Any,
    side_inputs: Any,
    tagged: bool,
) -> list[Any]:
    """One dask partition as one Beam bundle, with receivers of its own; while it runs, the
    worker reports ``label`` as running (``pipeline.runners.progress``)."""
    with progress.running(label):
        return _bundle(items, transform, label, window_fn, side_inputs, tagged)


def _bundle(
    items: Iterable[Any],
    transform: beam.ParDo,
    label: str,
    window_fn: Any,
    side_inputs: Any,
    tagged: bool,
) -> list[Any]:
    args, kwargs = transform.raw_side_inputs
    fn, fresh = _thread_copy(transform.fn)
    receivers = te.OneReceiver()
    handler = _OutputHandler(
        window_fn=window_fn,
        main_receivers=receivers[None],
        tagged_receivers=receivers,
        per_element_output_counter=None,
        output_batch_converter=None,
        process_yields_batches=False,
        process_batch_yields_elements=False,
    )
    invoker = DoFnInvoker.create_invoker(
        DoFnSignature(fn),
        handler,
        context=DoFnContext(label, state=None),
        side_inputs=side_inputs,
        input_args=list(args),
        input_kwargs=kwargs,
        user_state_context=None,
        bundle_finalizer_param=beam.DoFn.BundleFinalizerParam(),
    )
    if fresh:
        invoker.invoke_setup()
    invoker.invoke_start_bundle()
    for item in items:
        invoker.invoke_process(item)
    invoker.invoke_finish_bundle()
    out = []
    for v in receivers.values:
        if isinstance(v, beam.pvalue.TaggedOutput):
            out.append((v.tag, v.value.value) if tagged else v.value.value)
        else:
            out.append((None, v.value) if tagged else v.value)
    return out


def _select_tag(tag: Any) -> Any:
    def keep(item: tuple[Any, Any]) -> bool:
        return item[0] == tag

    return keep


def _second(item: tuple[Any, Any]) -> Any:
    return item[1]


@dataclasses.dataclass
class _BagVisitor(PipelineVisitor):
    """Beam primitives -> dask bags, one bag per PCollection (not per transform)."""

    bag_kwargs: dict[str, Any]
    bags: dict[Any, Any] = dataclasses.field(default_factory=dict)
    consumed: set[int] = dataclasses.field(default_factory=set)

    def _input_bags(self, node: AppliedPTransform) -> list[Any]:
        out = []
        for value in node.inputs:
            if isinstance(value, pvalue.PBegin):
                continue
            self.consumed.add(id(value))
            out.append(self.bags[id(value)])
        return out

    def _side_inputs(self, node: AppliedPTransform) -> list[Any] | None:
        sides = list(node.side_inputs)
        if not sides:
            return None
        out = []
        for si in sides:
            self.consumed.add(id(si.pvalue))
            out.append(
                SideInputMap(
                    type(si),  # type: ignore[arg-type]
                    si._view_options(),
                    te.DaskBagWindowedIterator(self.bags[id(si.pvalue)], si._window_mapping_fn),
                )
            )
        return out

    def visit_transform(self, node: AppliedPTransform) -> None:
        transform = node.transform
        inputs = self._input_bags(node)
        side_inputs = self._side_inputs(node)
        outputs = dict(node.outputs)
        # Exact classes, as the stock translation table: ``_GroupAlsoByWindow`` subclasses ParDo
        # but the bag GroupByKey already yields its result, so it must stay a no-op.
        if type(transform) is beam.ParDo:
            main = next(iter(node.main_inputs.values()))
            window_fn = main.windowing.windowfn if hasattr(main, "windowing") else None
            tagged = len(outputs) > 1
            bag = (
                inputs[0]
                .map(te.get_windowed_value, window_fn)
                .map_partitions(
                    _run_bundle, transform, node.full_label, window_fn, side_inputs, tagged
                )
            )
            for tag, pcoll in outputs.items():
                self.bags[id(pcoll)] = bag.filter(_select_tag(tag)).map(_second) if tagged else bag
            return
        if type(transform) is _LiftedCombinePerKey:
            bag = _combine_bag(inputs[0], transform.combine_fn)
        else:
            op_class: Any = te.TRANSLATIONS.get(transform.__class__, te.NoOp)
            op = op_class(node, bag_kwargs=self.bag_kwargs)
            if isinstance(op, te.Flatten):
                bag = op.apply(inputs, side_inputs)
            else:
                bag = op.apply(inputs[0] if inputs else None, side_inputs)
        for pcoll in outputs.values():
            self.bags[id(pcoll)] = bag

    def leaves(self) -> list[Any]:
        """Bags of the PCollections nothing consumes: what must be computed."""
        return [bag for key, bag in self.bags.items() if key not in self.consumed]


class C4DaskRunner(DaskRunner):
    """DaskRunner with every branch computed, per-bundle receivers, tags and lifted combines."""

    def run_pipeline(self, pipeline: beam.Pipeline, options: Any) -> C4DaskRunnerResult:
        import dask
        import dask.distributed as ddist

        warn_if_beam_differs()
        dask_options = options.view_as(DaskOptions).get_all_options(
            drop_default=True, current_only=True
        )
        bag_kwargs = DaskOptions._extract_bag_kwargs(dask_options)
        if not bag_kwargs:
            # One element per partition: a Create here is the list of WET files, one bundle each
            # (the stock default puts 128 files in one bundle, on one worker).
            bag_kwargs["partition_size"] = 1
        client = ddist.Client(**dask_options)
        pipeline.replace_all([_CombinePerKeyOverride(), *dask_overrides()])
        visitor = _BagVisitor(bag_kwargs)
        pipeline.visit(visitor)
        leaves = visitor.leaves()
        _LOG.info("C4DaskRunner: computing %d leaf bags", len(leaves))
        futures = client.compute(list(dask.optimize(*leaves)))
        return C4DaskRunnerResult(client, futures)
