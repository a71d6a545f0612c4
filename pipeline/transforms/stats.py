"""SumCounters: the stages' counter dicts -> one total per counter name, as pipeline data.

Why not Beam Metrics alone: DaskRunner's ``metrics()`` raises, and every runner's metrics are
outside the data the sinks see. Each counter name becomes a key of a ``CombinePerKey(sum)``, which
lifts, and whose groups are as many as there are counter names (tens), never one group of every
partial dict.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import apache_beam as beam


def _items(counters: Mapping[str, int]) -> Iterator[tuple[str, int]]:
    for name, value in counters.items():
        if value:
            yield name, int(value)


def _as_dict(item: tuple[str, int]) -> dict[str, int]:
    return {item[0]: item[1]}


class SumCounters(beam.PTransform):
    """``PCollection[dict[str, int]]`` -> ``PCollection[dict[str, int]]``, one dict per name."""

    def expand(self, partials: beam.PCollection) -> beam.PCollection:
        return (
            partials
            | "Items" >> beam.FlatMap(_items)
            | "Sum" >> beam.CombinePerKey(sum)
            | "AsDict" >> beam.Map(_as_dict)
        )
