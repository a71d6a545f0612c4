"""One task of a fused stage (``pipeline/runners/dask_plan.py``), as a dask worker runs it.

A task is one Beam bundle of every op of its stage: the input elements are pushed through the
DoFns (each output straight into the ops that read it, no list in between), then
``finish_bundle`` runs op by op in graph order, so what one emits still reaches the next.
Shuffle outputs are one list per bucket: ``(k, v)`` pairs, or ``(k, accumulator)`` after the
per-task combine. What leaves a task are plain values (no window): as in Beam's DaskRunner,
only the global window is carried between stages.

Each task carries the pickled plan (a few KB: DoFns and their arguments; a ``Create``'s values
travel with its own tasks only), which each worker process unpickles once (``plan_of``), so each
worker thread copies and sets up each DoFn once for the whole job, not once per task. (A dask
key holding the plan, which every task would read, made dask run every input task on the one
worker that held it.)

Private Beam APIs (docs/runners.md; ``pipeline.runners.PATCHED_BEAM_VERSION``):

- ``apache_beam.runners.common.DoFnInvoker``, ``apache_beam.runners.common.DoFnSignature``,
  ``apache_beam.runners.common.DoFnContext`` and ``apache_beam.runners.common._OutputHandler``:
  running a DoFn's bundle, with receivers of our own (``apache_beam.runners.common.Receiver``
  subclassed: ``receive``);
- ``apache_beam.runners.dask.transform_evaluator.get_windowed_value`` and
  ``apache_beam.runners.dask.transform_evaluator.defenestrate``: values into and out of the
  global window, as Beam's DaskRunner does it;
- ``apache_beam.transforms.sideinputs.SideInputMap``: a side input's view;
- ``apache_beam.internal.pickler``: the plan pickled and a DoFn copied per thread, as Beam does.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import pickle
import threading
import weakref
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import apache_beam as beam
from apache_beam.internal import pickler
from apache_beam.runners.common import (
    DoFnContext,
    DoFnInvoker,
    DoFnSignature,
    Receiver,
    _OutputHandler,
)
from apache_beam.runners.dask.transform_evaluator import defenestrate, get_windowed_value
from apache_beam.transforms.sideinputs import SideInputMap

from pipeline.runners import progress
from pipeline.runners.dask_plan import KeepOp, ParDoOp, Plan, ShuffleOp, Stage

_EMPTY = object()
# Plans a worker process keeps (a long-lived cluster runs many jobs; their DoFn copies go with
# them).
_KEEP_PLANS = 4


_PLANS: OrderedDict[str, Plan] = OrderedDict()
_PLANS_LOCK = threading.Lock()


def dumps(value: Any) -> bytes:
    """A plan, or a ``Create``'s values, as a task carries them (Beam's pickler)."""
    return pickler.dumps(value)


def plan_of(blob: bytes) -> Plan:
    """The plan ``blob`` pickles: unpickled once per process (its DoFns, copied and set up once
    per thread, stay with it), the last ``_KEEP_PLANS`` kept."""
    digest = hashlib.sha256(blob).hexdigest()
    with _PLANS_LOCK:
        plan = _PLANS.get(digest)
        if plan is None:
            plan = pickler.loads(blob)
            _PLANS[digest] = plan
            while len(_PLANS) > _KEEP_PLANS:
                _PLANS.popitem(last=False)
        return plan


def bucket_of(key: Any, buckets: int) -> int:
    """The shuffle bucket of ``key``: the same in every process (a digest of its bytes, never
    Python's string hashing, which is salted per process), equal keys in the same bucket."""
    if buckets == 1:
        return 0
    if type(key) is str:
        data = key.encode("utf-8", "surrogatepass")
    elif type(key) is bytes:
        data = key
    elif type(key) is int:  # small ints (C4's page buckets) spread evenly
        return key % buckets
    else:
        buffer = io.BytesIO()
        pickling = pickle.Pickler(buffer, protocol=4)
        pickling.fast = True  # no memo: equal values pickle alike, shared or not
        pickling.dump(key)
        data = buffer.getvalue()
    return zlib.crc32(data) % buckets


# --- a DoFn per op per thread ---------------------------------------------------------------------

_THREAD = threading.local()


def _dofn(op: ParDoOp | ShuffleOp) -> tuple[Any, Any, bool]:
    """This thread's copy of the op's DoFn (or CombineFn) and its signature (None for a
    CombineFn), and whether the copy is new (needs setup). One copy per op: the same DoFn in
    two ops of one stage gets two bundles, as Beam would run them."""
    copies: weakref.WeakKeyDictionary[Any, tuple[Any, Any]] | None = getattr(
        _THREAD, "copies", None
    )
    if copies is None:
        copies = _THREAD.copies = weakref.WeakKeyDictionary()
    entry = copies.get(op)
    if entry is not None:
        return entry[0], entry[1], False
    if isinstance(op, ParDoOp):
        fn = pickler.loads(pickler.dumps(op.fn))
        entry = (fn, DoFnSignature(fn))
    else:
        entry = (pickler.loads(pickler.dumps(op.combine_fn)), None)
    copies[op] = entry
    return entry[0], entry[1], True


# --- receivers ------------------------------------------------------------------------------------


class _Fanout(Receiver):
    """A receiver: each windowed value to every consumer of a slot."""

    def __init__(self, consumers: list[Callable[[Any], Any]]) -> None:
        self.consumers = consumers

    def receive(self, windowed_value: Any) -> None:
        for consume in self.consumers:
            consume(windowed_value)


class _Tags(dict):
    """Tagged receivers: a tag no one reads is dropped."""

    def __missing__(self, tag: Any) -> _Fanout:
        return _Fanout([])


# --- a task ---------------------------------------------------------------------------------------


class _Task:
    """The ops of ``stage`` wired for one bundle."""

    def __init__(self, stage: Stage, buckets: int, sides: list[list[list[Any]]]) -> None:
        self.stage = stage
        self.buckets = buckets
        self.consumers: list[list[Callable[[Any], Any]]] = [[] for _ in range(stage.slots)]
        self.outputs: list[Any] = [None] * stage.outputs
        self.invokers: list[Any] = []
        self.fresh: list[Any] = []
        self.finishers: list[Callable[[], None]] = []
        for op in stage.ops:
            if isinstance(op, ParDoOp):
                self._pardo(op, sides)
            elif isinstance(op, ShuffleOp):
                self._shuffle(op)
            elif isinstance(op, KeepOp):
                kept: list[Any] = []
                self.outputs[op.output] = kept
                self.consumers[op.source].append(_keeper(kept))

    def _pardo(self, op: ParDoOp, sides: list[list[list[Any]]]) -> None:
        _, signature, fresh = _dofn(op)  # the signature holds the DoFn
        receivers = _Tags({tag: _Fanout(self.consumers[slot]) for tag, slot in op.outputs.items()})
        handler = _OutputHandler(
            window_fn=op.window_fn,
            main_receivers=receivers[None],
            tagged_receivers=receivers,
            per_element_output_counter=None,
            output_batch_converter=None,
            process_yields_batches=False,
            process_batch_yields_elements=False,
        )
        side_maps = [
            SideInputMap(view, options, _Windowed(sides[index], mapping))
            for view, options, mapping, index in op.sides
        ]
        invoker = DoFnInvoker.create_invoker(
            signature,
            handler,
            context=DoFnContext(op.label, state=None),
            side_inputs=side_maps or None,
            input_args=list(op.args),
            input_kwargs=op.kwargs,
            user_state_context=None,
            bundle_finalizer_param=beam.DoFn.BundleFinalizerParam(),
        )
        self.invokers.append(invoker)
        if fresh:
            self.fresh.append(invoker)
        self.consumers[op.source].append(invoker.invoke_process)

    def _shuffle(self, op: ShuffleOp) -> None:
        buckets: list[list[Any]] = [[] for _ in range(self.buckets)]
        self.outputs[op.output] = buckets
        n = self.buckets
        if op.combine_fn is None:

            def write(windowed_value: Any) -> None:
                k, v = windowed_value.value
                buckets[bucket_of(k, n)].append((k, v))

            self.consumers[op.source].append(write)
            return
        fn, _, fresh = _dofn(op)
        if fresh:
            fn.setup()
        accs: dict[Any, Any] = {}

        def add(windowed_value: Any) -> None:
            k, v = windowed_value.value
            acc = accs.get(k, _EMPTY)
            accs[k] = fn.add_input(fn.create_accumulator() if acc is _EMPTY else acc, v)

        def flush() -> None:
            for k, acc in accs.items():
                buckets[bucket_of(k, n)].append((k, fn.compact(acc)))
            accs.clear()

        self.consumers[op.source].append(add)
        self.finishers.append(flush)

    def run(self, elements: Iterable[Any]) -> tuple[Any, ...] | None:
        for invoker in self.fresh:
            invoker.invoke_setup()
        for invoker in self.invokers:
            invoker.invoke_start_bundle()
        entry = self.consumers[0]
        window_fn = self.stage.window_fn
        for element in elements:
            windowed = get_windowed_value(element, window_fn)
            for consume in entry:
                consume(windowed)
        for invoker in self.invokers:  # graph order: an op's last outputs reach the next
            invoker.invoke_finish_bundle()
        for finish in self.finishers:
            finish()
        return tuple(self.outputs) if self.outputs else None


def _keeper(kept: list[Any]) -> Callable[[Any], None]:
    def keep(windowed_value: Any) -> None:
        kept.append(windowed_value.value)

    return keep


class _Windowed:
    """A side input's values, windowed as Beam's DaskRunner windows them."""

    def __init__(self, parts: list[list[Any]], window_fn: Any) -> None:
        self.parts = parts
        self.window_fn = window_fn

    def __iter__(self) -> Iterator[Any]:
        for part in self.parts:
            for value in part:
                yield get_windowed_value(value, self.window_fn)


# --- the stage inputs -----------------------------------------------------------------------------


def _grouped(parts: list[list[tuple[Any, Any]]]) -> Iterator[tuple[Any, list[Any]]]:
    groups: dict[Any, list[Any]] = {}
    for part in parts:
        for k, v in part:
            values = groups.get(k)
            if values is None:
                groups[k] = [defenestrate(v)]
            else:
                values.append(defenestrate(v))
    return iter(groups.items())


def _combined(parts: list[list[tuple[Any, Any]]], stage: Stage) -> Iterator[tuple[Any, Any]]:
    fn, _, fresh = _dofn(_combine_op(stage))
    if fresh:
        fn.setup()
    accs: dict[Any, list[Any]] = {}
    for part in parts:
        for k, acc in part:
            accs.setdefault(k, []).append(acc)
    for k, values in accs.items():
        yield k, fn.extract_output(fn.merge_accumulators(values))


_COMBINE_OPS: weakref.WeakKeyDictionary[Stage, ShuffleOp] = weakref.WeakKeyDictionary()


def _combine_op(stage: Stage) -> ShuffleOp:
    """A stand-in op for a combine stage's merge, so its CombineFn is copied per thread too."""
    op = _COMBINE_OPS.get(stage)
    if op is None:
        op = _COMBINE_OPS.setdefault(stage, ShuffleOp(0, 0, stage.combine_fn))
    return op


def run_task(
    blob: bytes,
    stage_id: int,
    index: int,
    parts: list[Any],
    sides: list[list[list[Any]]],
    values: bytes | None = None,
) -> tuple[Any, ...] | None:
    """Task ``index`` of stage ``stage_id`` of the plan ``blob``: its outputs (``None`` when it
    has none).

    ``parts`` are its inputs: for a ``group``/``combine`` stage, the shuffle output of every
    writer task (one list per bucket: this task reads bucket ``index``); for a ``union`` stage,
    the one kept output it reads. A ``create`` stage's task reads ``values`` (pickled).
    """
    plan = plan_of(blob)
    stage = plan.stages[stage_id]
    elements: Iterable[Any]
    if stage.kind == "create":
        elements = pickler.loads(values) if values is not None else []
    elif stage.kind == "group":
        elements = _grouped([buckets[index] for buckets in parts])
    elif stage.kind == "combine":
        elements = _combined([buckets[index] for buckets in parts], stage)
    else:
        elements = (value for part in parts for value in part)
    task = _Task(stage, plan.buckets, sides)
    with contextlib.ExitStack() as running:
        for label in stage.labels:
            running.enter_context(progress.running(label))
        return task.run(elements)
