"""The report in ``c4 build``: taps on the stages' output, combiners, then the page, written last.

``BuildReport(config, after=...)`` is applied by ``pipeline.build.build_pipeline`` after the
sinks (and after masking): it merges everything the stages tallied and sampled
(``pipeline.report.taps``, ``pipeline.report.combine``), and when the build's stats arrive (so
``stats.json``, ``config.json`` and the masked output are on disk) writes
``DIR/report/aggregates.json`` and then ``DIR/report.html``, rendered from the files exactly as
``c4 report DIR`` renders them. Its output is the build's stats, unchanged: the pipeline's final
PCollection stays what it was.

``C4_BUILD_REPORT=0`` in the environment of ``c4 build`` leaves the report out of the graph: an
internal switch, for measuring what the report costs (``benchmarks/report_cost.py``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol

import apache_beam as beam

from filters.spec import C4Rules
from pipeline.report.aggregates import AGGREGATES_PATH, SOURCE_BUILD, build_aggregates
from pipeline.report.combine import Part, ReportParts, merge_parts, split_stats, tally_buckets
from pipeline.report.html import render
from pipeline.report.store import REPORT_HTML, RUN_JSON, load_build, write_json, write_page
from pipeline.write import join

SWITCH = "C4_BUILD_REPORT"
THIS_BUILD = "this build"


def report_enabled(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether ``c4 build`` writes the report (unless ``C4_BUILD_REPORT=0``)."""
    return environ.get(SWITCH, "1") != "0"


class ReportConfig(Protocol):
    @property
    def write_dir(self) -> str: ...

    @property
    def rules(self) -> C4Rules: ...

    @property
    def inputs(self) -> tuple[Any, ...]: ...


def page_of_build(output_dir: str) -> str:
    """``DIR/report.html``'s content, from the build's files (its aggregates must exist)."""
    files = load_build(output_dir)
    if files.aggregates is None:
        raise ValueError(f"{output_dir} has no {AGGREGATES_PATH}")
    return render([files], [THIS_BUILD], [RUN_JSON])


class _WriteReportFn(beam.DoFn):
    def __init__(self, output_dir: str) -> None:
        super().__init__()
        self._output_dir = output_dir

    def process(self, gathered: tuple[str, Iterable[Part]]) -> Iterator[dict[str, Any]]:
        import json

        stats, parts = split_stats(merge_parts(gathered[1]))
        out = self._output_dir
        write_json(join(out, AGGREGATES_PATH), build_aggregates(parts, SOURCE_BUILD))
        write_page(join(out, REPORT_HTML), page_of_build(out))
        yield json.loads(stats)


class BuildReport(beam.PTransform):  # type: ignore[misc]
    """What the stages emitted beside the documents (``pipeline.build.apply_stages``: counters,
    dead letters, the report's tallies and samples) -> the build's stats, once the report is
    written."""

    def __init__(self, config: ReportConfig, after: beam.PCollection) -> None:
        super().__init__()
        self._output_dir = config.write_dir
        self._rules = config.rules
        self._files = len(config.inputs)
        self._after = after

    def expand(self, emitted: beam.PCollection) -> beam.PCollection:
        return (
            (emitted, self._after)
            | "WithStats" >> beam.Flatten()
            | "Merge" >> ReportParts(tally_buckets(self._files))
            | "Write" >> beam.ParDo(_WriteReportFn(self._output_dir))
        )
