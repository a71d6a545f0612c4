"""What both harnesses need around the TFDS code: offline set-up, inputs, Beam, counters, output.

Runs inside the reference virtualenv. Nothing heavy is imported at module level (NLTK and
TensorFlow read their configuration from the environment when first imported, so
``configure_offline`` must come first).
"""

from __future__ import annotations

import collections
import gzip
import importlib.metadata
import io
import json
import logging
import os
import platform
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tests.reference import pins

# A counter increment function, as c4_utils.get_counter_inc_fn returns them.
IncFn = Callable[..., None]
PUNKT_TAB = "tokenizers/punkt_tab/english/"


class Counters(collections.Counter):
    """Beam's metrics stand-in for single-process runs: ``"namespace/name" -> value``.

    TFDS's functions look ``c4_utils.get_counter_inc_fn`` up at call time, so pointing that
    attribute at ``inc_fn`` collects every counter they bump, under the names Beam would report.
    """

    def inc_fn(self, namespace: str) -> IncFn:
        def inc(counter: str, amt: int = 1) -> None:
            self[f"{namespace}/{counter}"] += amt

        return inc


def configure_offline(nltk_data: str | None) -> str:
    """Environment for a run that never touches the network; returns the NLTK data dir used.

    TFDS's sentence splitter calls ``nltk.download("punkt")`` and then loads
    ``nltk:tokenizers/punkt/english.pickle``, which NLTK >= 3.9 serves from the pickle-free
    ``tokenizers/punkt_tab/english``. The download becomes a check that the data is there.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    nltk_dir = nltk_data or os.environ.get("NLTK_DATA") or str(pins.nltk_data_dir())
    os.environ["NLTK_DATA"] = nltk_dir
    logging.getLogger().setLevel(logging.ERROR)
    logging.getLogger("apache_beam").setLevel(logging.ERROR)

    import nltk

    if nltk_dir not in nltk.data.path:
        nltk.data.path.insert(0, nltk_dir)

    def no_download(info_or_id: Any = None, *args: Any, **kwargs: Any) -> bool:
        if info_or_id in ("punkt", "punkt_tab"):
            nltk.data.find(PUNKT_TAB)
            return True
        raise RuntimeError(f"offline: nltk.download({info_or_id!r}) refused")

    nltk.download = no_download
    try:
        nltk.data.find(PUNKT_TAB)
    except LookupError:
        sys.exit(f"{PUNKT_TAB} not found under {nltk_dir}: run `make reference`")
    return nltk_dir


def check_badwords(path: str) -> str:
    """md5 of the bad-words list; warns when it is not the list C4 pins (results would differ)."""
    import hashlib

    with open(path, "rb") as f:
        md5 = hashlib.md5(f.read()).hexdigest()
    if md5 != pins.BADWORDS_EN_MD5:
        print(
            f"WARNING: {path} (md5 {md5}) is not LDNOOBW en at 25e679f0 (md5 "
            f"{pins.BADWORDS_EN_MD5}), the list c4.py pins: results will differ from C4.",
            file=sys.stderr,
        )
    return md5


@dataclass
class WetInput:
    """One input file, and the gzip file TFDS reads in its place."""

    path: str
    file_bytes: int
    gz: str
    gzipped_for_tfds: bool
    wet_bytes: int  # uncompressed
    records: int | None = None  # WARC records, as split_wet_file's loop sees them

    def describe(self, path: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"path": path or self.path, "file_bytes": self.file_bytes}
        if self.gzipped_for_tfds:
            out["gzipped_for_tfds"] = True
        out["wet_bytes"] = self.wet_bytes
        if self.records is not None:
            out["records"] = self.records
        return out


def prepare_inputs(paths: Sequence[str], tmpdir: str, count_records: bool) -> list[WetInput]:
    """Resolves the inputs; plain (not gzipped) WET is gzipped: split_wet_file reads gzip only."""
    out = []
    for i, given in enumerate(paths):
        path = os.path.abspath(given)
        with open(path, "rb") as f:
            is_gzip = f.read(2) == b"\x1f\x8b"
        gz = path
        if not is_gzip:
            gz = os.path.join(tmpdir, f"input{i:03d}-{os.path.basename(path)}.gz")
            with open(path, "rb") as src, gzip.open(gz, "wb", compresslevel=1) as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        wet_bytes = 0
        with gzip.open(gz, "rb") as g:
            for block in iter(lambda g=g: g.read(1 << 22), b""):
                wet_bytes += len(block)
        inp = WetInput(path, os.path.getsize(path), gz, not is_gzip, wet_bytes)
        if count_records:
            inp.records = count_wet_records(gz)
        out.append(inp)
    return out


def count_wet_records(gz: str) -> int:
    """``WARC/1.0`` delimiter lines, read the way split_wet_file reads them (text mode, universal
    newlines, stripped), so the count is the records that loop starts."""
    n = 0
    with gzip.open(gz, "rb") as g:
        for line in io.TextIOWrapper(g, encoding="utf-8", errors="replace"):
            n += line.strip() == "WARC/1.0"
    return n


def beam_pipeline() -> Any:
    """A Beam pipeline on the FnApiRunner, 1 worker, in memory.

    That is what Beam 2.77's ``DirectRunner`` falls back to; named directly because that runner
    first tries Prism, a binary it downloads from GitHub at run time where the network allows.
    The provision info carries the pipeline options to the worker, as the DirectRunner's does.
    """
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    from apache_beam.runners.portability.portable_runner import JobServiceHandle

    options = PipelineOptions(["--direct_num_workers=1", "--direct_running_mode=in_memory"])
    encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
    info = fn_runner.ExtendedProvisionInfo(
        beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded)
    )
    return beam.Pipeline(runner=fn_runner.FnApiRunner(provision_info=info), options=options)


def run_splits(
    pipeline: Any,
    splits: Iterable[tuple[str, Callable[[Any], Any]]],
    to_json: Callable[[Any, str], str],
    tmpdir: str,
) -> tuple[list[dict[str, Any]], Counters]:
    """Applies each split's ``build(pipeline) -> PCollection`` under its own label (as TFDS's
    Beam writer does, which keeps the per-split transforms' labels apart), writes every example
    through ``to_json``, runs the pipeline, and returns the records and Beam's counters."""
    import apache_beam as beam
    from apache_beam.metrics.metric import MetricsFilter

    class _Split(beam.PTransform):
        def __init__(self, build: Callable[[Any], Any]) -> None:
            super().__init__()
            self._build = build

        def expand(self, pbegin: Any) -> Any:
            return self._build(pbegin.pipeline)

    lines = []
    for name, build in splits:
        examples = pipeline | f"{name}_generate" >> _Split(build)
        lines.append(examples | f"{name}_to_json" >> beam.Map(to_json, name))
    target = os.path.join(tmpdir, "beam-output.jsonl")
    _ = (
        tuple(lines)
        | "all_splits" >> beam.Flatten()
        | "write" >> beam.io.WriteToText(target, num_shards=1, shard_name_template="")
    )
    result = pipeline.run()
    result.wait_until_finish()
    counters = Counters()
    for c in result.metrics().query(MetricsFilter())["counters"]:
        value = c.committed if c.committed is not None else c.attempted
        counters[f"{c.key.metric.namespace}/{c.key.metric.name}"] += value
    with open(target, encoding="utf-8") as f:
        records = [json.loads(line) for line in f if line.strip()]
    return records, counters


class StageClock:
    """Per-stage page counts and seconds of an inline run (``inline_stage_timings``)."""

    def __init__(self, with_dropped: bool) -> None:
        self.rows: list[dict[str, Any]] = []
        self._with_dropped = with_dropped
        # Looked up at call time: benchmarks/clean_throughput.py swaps in process time.
        self._start = time.perf_counter()

    def lap(self, stage: str, n_in: int, n_out: int) -> None:
        now = time.perf_counter()
        row: dict[str, Any] = {"stage": stage, "in": n_in, "out": n_out}
        if self._with_dropped:
            row["dropped"] = n_in - n_out
        row["seconds"] = round(now - self._start, 4)
        self.rows.append(row)
        self._start = time.perf_counter()


def stage_row(stage: str, n_in: int, n_out: int, detail: dict[str, int]) -> dict[str, Any]:
    return {"stage": stage, "in": n_in, "out": n_out, "dropped": n_in - n_out, "detail": detail}


def under(
    counters: Counters, namespace: str, prefix: str = "", exclude: str | None = None
) -> dict[str, int]:
    """The counters ``namespace/<prefix>...``, keyed by their name without the namespace."""
    start = f"{namespace}/"
    return {
        name[len(start) :]: value
        for name, value in counters.items()
        if name.startswith(start + prefix) and not (exclude and name.startswith(start + exclude))
    }


def write_jsonl(records: list[dict[str, Any]], path: str) -> None:
    """The kept documents, sorted by url (then split), one JSON object a line, UTF-8 as is."""
    records.sort(key=lambda r: (r["url"], r["split"]))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def write_stats(summary: dict[str, Any], path: str | None) -> None:
    if path:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(summary, f, indent=1)


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    names = ("tensorflow-datasets", "tensorflow-cpu", "tensorflow", "apache-beam")
    for name in (*names, "nltk", "langdetect"):
        out.update(_version(name))
    return out


def _version(name: str) -> dict[str, str]:
    try:
        return {name: importlib.metadata.version(name)}
    except importlib.metadata.PackageNotFoundError:
        return {}


def print_stage_table(title: str, table: list[dict[str, Any]], width: int) -> None:
    print(f"\n{title:<{width}} {'in':>9} {'out':>9} {'dropped':>9}  detail")
    for r in table:
        detail = ", ".join(f"{k}={v}" for k, v in sorted(r["detail"].items()))
        print(f"{r['stage']:<{width}} {r['in']:>9} {r['out']:>9} {r['dropped']:>9}  {detail}")


def print_counters(title: str, counters: Counters) -> None:
    print(title)
    for name, value in sorted(counters.items()):
        print(f"  {name:<55} {value}")
