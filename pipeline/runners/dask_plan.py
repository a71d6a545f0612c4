"""A Beam graph cut into fused stages for ``C4DaskRunner`` (``pipeline/runners/dask.py``).

Beam's own DaskRunner makes every transform a dask bag operation: a C4 build of 38 files became
~12,000 dask tasks (each ParDo a ``map`` and a ``map_partitions`` per partition, every Flatten
adding its inputs' partitions together, each shuffle ``n log n`` tasks), and each task set its
DoFns up again. Here, as Beam's portable runners do, the graph is cut only where data must move:

- a **stage** starts at a ``Create`` (its values cut into partitions: one task each), at a
  shuffle (``GroupByKey``, a lifted ``CombinePerKey``: ``buckets`` tasks, bucket ``b`` holding
  the keys a stable hash sends there), or at a ParDo with side inputs (which waits for them);
- every ParDo on a collection runs inside the stage that makes the collection, its elements
  pushed from one DoFn to the next with no list between them (fusion);
- a ``Flatten`` moves nothing: its output is the list of its inputs' **pieces** (a collection as
  it lives in one stage), and what consumes it is applied to each piece, in that piece's stage
  (a ``CoGroupByKey``'s inputs write straight into its shuffle);
- a ``Reshuffle`` is Beam's DaskRunner's identity: a ``Create`` already gives each element
  a task of its own.

The plan holds no pipeline objects, only what the workers run: DoFns with their arguments,
CombineFns, ``Create`` values. ``pipeline/runners/dask_exec.py`` runs one task of a stage.

Private Beam APIs (docs/runners.md; ``pipeline.runners.PATCHED_BEAM_VERSION``):

- ``apache_beam.pipeline.PipelineVisitor`` and ``apache_beam.pipeline.AppliedPTransform``:
  walking the graph (``inputs``, ``main_inputs``, ``side_inputs``, ``outputs``, ``full_label``);
- ``apache_beam.runners.dask.overrides._Create``, ``apache_beam.runners.dask.overrides._Flatten``
  and ``apache_beam.runners.dask.overrides._GroupByKeyOnly``: the stock overrides' primitives
  (``_Create.values``);
- ``apache_beam.pvalue.AsSideInput._view_options`` and ``_window_mapping_fn``: how a side input
  is viewed, for ``SideInputMap`` on the worker;
- ``ParDo.args``/``ParDo.kwargs``: a ParDo's extra arguments, side inputs as placeholders, as
  Beam's own ``DoFnRunner`` takes them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import apache_beam as beam
from apache_beam import CombineFn, pvalue
from apache_beam.pipeline import AppliedPTransform, PipelineVisitor
from apache_beam.runners.dask.overrides import _Create, _Flatten, _GroupByKeyOnly


class GroupByKeyPrimitive(beam.PTransform):
    """``GroupByKey`` as one primitive: ``(k, v)`` -> ``(k, [v, ...])`` (global window only, as
    Beam's DaskRunner: no ``ReifyWindows`` step wrapping every value on its way)."""

    def expand(self, pcoll: beam.PCollection) -> beam.PCollection:
        return beam.pvalue.PCollection.from_(pcoll)


class LiftedCombinePerKey(beam.PTransform):
    """``CombinePerKey`` as one primitive: combined per task before its shuffle, as Dataflow
    lifts it."""

    def __init__(self, combine_fn: CombineFn) -> None:
        super().__init__()
        self.combine_fn = combine_fn

    def expand(self, pcoll: beam.PCollection) -> beam.PCollection:
        return beam.pvalue.PCollection.from_(pcoll)


@dataclasses.dataclass(eq=False)
class ParDoOp:
    """Run a DoFn on the elements of slot ``source``; each output tag feeds its own slot."""

    label: str
    fn: beam.DoFn
    args: list[Any]
    kwargs: dict[str, Any]
    window_fn: Any
    source: int
    outputs: dict[Any, int]
    # Per side input: (view class, view options, window mapping fn, index into stage.sides).
    sides: list[tuple[Any, Any, Any, int]] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(eq=False)
class ShuffleOp:
    """Send slot ``source`` (``(k, v)`` pairs) to a shuffle: output ``output`` of the task is
    one list per bucket; with ``combine_fn`` the values are combined per key first."""

    source: int
    output: int
    combine_fn: CombineFn | None


@dataclasses.dataclass(eq=False)
class KeepOp:
    """Keep the values of slot ``source`` as output ``output`` (a side input, or the main
    input of a ParDo with side inputs)."""

    source: int
    output: int


Op = ParDoOp | ShuffleOp | KeepOp


@dataclasses.dataclass(eq=False)
class Stage:
    """A fused stage; its tasks run the same ops on different inputs.

    ``kind`` says what a task's input is: ``create`` (``values[i]``), ``group`` or ``combine``
    (bucket ``i`` of the writers ``reads``), ``union`` (the kept output of writer task ``i``,
    counted over ``reads`` in order). Slot 0 holds the input; each op reads a slot and fills
    others, in the order they were added (a topological order).
    """

    id: int
    kind: str
    tasks: int
    window_fn: Any
    values: list[list[Any]] = dataclasses.field(default_factory=list)
    reads: list[tuple[int, int]] = dataclasses.field(default_factory=list)
    combine_fn: CombineFn | None = None
    sides: list[list[tuple[int, int]]] = dataclasses.field(default_factory=list)
    ops: list[Op] = dataclasses.field(default_factory=list)
    slots: int = 1
    outputs: int = 0
    labels: list[str] = dataclasses.field(default_factory=list)

    def new_slot(self) -> int:
        self.slots += 1
        return self.slots - 1

    def new_output(self) -> int:
        self.outputs += 1
        return self.outputs - 1


@dataclasses.dataclass(frozen=True)
class Piece:
    """A collection, or the part of one, as it lives in one stage: a slot of it."""

    stage: int
    slot: int


@dataclasses.dataclass
class Plan:
    """Every stage, in an order where each reads only from stages before it."""

    stages: list[Stage]
    buckets: int


def cut(
    values: Sequence[Any], npartitions: int | None, partition_size: int | None, most: int
) -> list[list]:
    """A ``Create``'s values in consecutive partitions: ``partition_size`` each, or
    ``npartitions`` of them, or one per value up to ``most`` partitions."""
    values = list(values)
    if not values:
        return []
    if partition_size:
        size = partition_size
    else:
        parts = npartitions or min(len(values), most)
        size = math.ceil(len(values) / parts)
    return [values[i : i + size] for i in range(0, len(values), size)]


def _top(label: str) -> str:
    return label.split("/", 1)[0]


class Planner(PipelineVisitor):
    """Beam primitives -> ``Plan`` (visit a pipeline whose overrides are applied)."""

    def __init__(
        self,
        buckets: int,
        cutter: Callable[[Sequence[Any]], list[list[Any]]],
    ) -> None:
        self.buckets = buckets
        self.cutter = cutter
        self.stages: list[Stage] = []
        self.pieces: dict[int, list[Piece]] = {}

    def plan(self) -> Plan:
        return Plan(self.stages, self.buckets)

    def _stage(self, kind: str, tasks: int, window_fn: Any, **fields: Any) -> Stage:
        stage = Stage(len(self.stages), kind, tasks, window_fn, **fields)
        self.stages.append(stage)
        return stage

    def _pieces(self, value: Any) -> list[Piece]:
        return self.pieces[id(value)]

    def _keep(self, pieces: list[Piece]) -> list[tuple[int, int]]:
        """Each piece kept as an output of its stage: the (stage, output) that hold it."""
        reads = []
        for piece in pieces:
            stage = self.stages[piece.stage]
            output = stage.new_output()
            stage.ops.append(KeepOp(piece.slot, output))
            reads.append((stage.id, output))
        return reads

    def visit_transform(self, node: AppliedPTransform) -> None:
        transform: Any = node.transform
        kind = type(transform)
        inputs = [v for v in node.inputs if not isinstance(v, pvalue.PBegin)]
        out: list[Piece]
        if kind is _Create or kind is beam.Impulse:
            values = transform.values if kind is _Create else [b""]
            parts = self.cutter(values)
            window_fn = beam.transforms.window.GlobalWindows()
            out = [Piece(self._stage("create", len(parts), window_fn, values=parts).id, 0)]
        elif kind is beam.ParDo:
            self._pardo(node)
            return
        elif kind is GroupByKeyPrimitive or kind is _GroupByKeyOnly:
            out = self._shuffle(inputs[0], None)
        elif kind is LiftedCombinePerKey:
            out = self._shuffle(inputs[0], transform.combine_fn)
        elif kind is _Flatten:
            out = [piece for value in inputs for piece in self._pieces(value)]
        else:
            # As Beam's DaskRunner: any other primitive (its Reshuffle, WindowInto, the window
            # step of a GroupByKey) passes its input on.
            out = self._pieces(inputs[0]) if inputs else []
        for pcoll in node.outputs.values():
            self.pieces[id(pcoll)] = out

    def _shuffle(self, value: Any, combine_fn: CombineFn | None) -> list[Piece]:
        reads = []
        for piece in self._pieces(value):
            stage = self.stages[piece.stage]
            output = stage.new_output()
            stage.ops.append(ShuffleOp(piece.slot, output, combine_fn))
            reads.append((stage.id, output))
        kind = "group" if combine_fn is None else "combine"
        window_fn = beam.transforms.window.GlobalWindows()
        stage = self._stage(kind, self.buckets, window_fn, reads=reads, combine_fn=combine_fn)
        return [Piece(stage.id, 0)]

    def _pardo(self, node: AppliedPTransform) -> None:
        transform: Any = node.transform
        main = next(iter(node.main_inputs.values()))
        window_fn = main.windowing.windowfn if hasattr(main, "windowing") else None
        side_inputs = list(node.side_inputs)
        sides: list[tuple[Any, Any, Any, int]] = []
        if side_inputs:
            # The stage waits for every side input: it starts here, on the main input kept.
            reads = self._keep(self._pieces(main))
            tasks = sum(self.stages[s].tasks for s, _ in reads)
            stage = self._stage("union", tasks, window_fn, reads=reads)
            for i, si in enumerate(side_inputs):
                stage.sides.append(self._keep(self._pieces(si.pvalue)))
                sides.append((type(si), si._view_options(), si._window_mapping_fn, i))
            sources = [Piece(stage.id, 0)]
        else:
            sources = self._pieces(main)
        outputs = dict(node.outputs)
        made: dict[Any, list[Piece]] = {tag: [] for tag in outputs}
        for piece in sources:
            stage = self.stages[piece.stage]
            slots = {tag: stage.new_slot() for tag in outputs}
            op = ParDoOp(
                node.full_label,
                transform.fn,
                list(transform.args),
                dict(transform.kwargs),
                window_fn,
                piece.slot,
                slots,
                sides,
            )
            stage.ops.append(op)
            if _top(node.full_label) not in stage.labels:
                stage.labels.append(_top(node.full_label))
            for tag, slot in slots.items():
                made[tag].append(Piece(stage.id, slot))
        for tag, pcoll in outputs.items():
            self.pieces[id(pcoll)] = made[tag]
