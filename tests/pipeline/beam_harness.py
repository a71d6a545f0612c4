"""Run the stages of ``build_collections`` on a real runner and bring the results back.

Results leave the pipeline through ``assert_that`` matchers that pickle what they see into a
directory, so this works on every runner (in-memory, multi-processing, Dask) without mocks.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import assert_that

from pipeline.build import C4Collections, build_collections
from pipeline.config import BuildConfig
from pipeline.runners.select import make_runner


class Collected(NamedTuple):
    docs: list[tuple[str, Any]]
    counters: dict[str, int]
    dead_letters: list[Any]


def dump_to(path: Path) -> Callable[[Sequence[Any]], None]:
    def matcher(actual: Sequence[Any]) -> None:
        with open(path, "wb") as f:
            pickle.dump(list(actual), f)

    return matcher


def load(path: Path) -> list[Any]:
    with open(path, "rb") as f:
        return pickle.load(f)


def sum_counters(partials: Sequence[dict[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for partial in partials:
        for k, v in partial.items():
            out[k] = out.get(k, 0) + v
    return dict(sorted(out.items()))


def _tag(kind: str) -> Callable[[Any], tuple[str, Any]]:
    def tag(x: Any) -> tuple[str, Any]:
        return kind, x

    return tag


def run_collections(
    config: BuildConfig,
    tmp: Path,
    runner: Any = "DirectRunner",
    options: Sequence[str] = (),
) -> Collected:
    """Build ``config``'s stages, run them, and return docs, summed counters and dead letters.

    The three collections are flattened into ONE final matcher, so a runner that computes only
    the last transform (DaskRunner) still runs all of them.
    """
    tmp.mkdir(parents=True, exist_ok=True)
    out = tmp / "all.pkl"
    if isinstance(runner, str):  # the runner c4 build would use under that name
        runner = make_runner(runner)
    pipeline = beam.Pipeline(runner=runner, options=PipelineOptions(list(options)))
    c: C4Collections = build_collections(pipeline, config)
    tagged = (
        c.docs | "TagDocs" >> beam.Map(_tag("doc")),
        c.stats | "TagStats" >> beam.Map(_tag("stat")),
        c.dead_letters | "TagDead" >> beam.Map(_tag("dead")),
    ) | "All" >> beam.Flatten()
    assert_that(tagged, dump_to(out), label="Collect")
    pipeline.run().wait_until_finish()
    items = load(out)
    return Collected(
        docs=[x for kind, x in items if kind == "doc"],
        counters=sum_counters([x for kind, x in items if kind == "stat"]),
        dead_letters=[x for kind, x in items if kind == "dead"],
    )


def doc_rows(docs: Sequence[tuple[str, Any]], version: str) -> list[dict[str, str]]:
    """Documents as the reference writes them (its JSONL fields), sorted by url."""
    rows = []
    for split, page in docs:
        if version == "1.0.0":
            row = {"url": page.normalized_url, "text": page.text, "split": split}
        else:
            row = {
                "url": page.url,
                "text": page.text,
                "content-type": page.content_type,
                "content-length": page.content_length,
                "timestamp": page.timestamp,
                "split": split,
            }
        rows.append(row)
    return sorted(rows, key=lambda r: (r["url"], r["split"], r["text"]))
