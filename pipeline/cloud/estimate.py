"""``c4 estimate``: time and cost of a full build on Dataflow, from the measured benchmark results.

Pure: no Beam, no network. By default it reads the rates shipped in the package,
``pipeline/cloud/data/rates.json`` (so it works from any install): the keys read below of each
``benchmarks/results/`` file, with the date and machine each was measured on, written by
``make rates`` (``benchmarks/rates.py``; ``make bench`` refreshes it). ``--results DIR`` reads a
directory of fresh results instead. The files:

* ``clean_throughput*.json`` (required): CPU seconds of each stage of the C4 core per MB of
  decompressed WET, measured on one core (``benchmarks/clean_throughput.py``); the slowest
  result is used;
* ``end_to_end.json`` (``benchmarks/end_to_end.py``): the marginal CPU seconds per MB of a whole
  ``c4 build`` on the DirectRunner (the linear fit's slope, start-up removed); divided by the
  core's CPU seconds per MB on the same kind of input, it is the Beam layer's overhead;
* ``scaling.json`` (``benchmarks/scaling.py``): the bytes every shuffle moves per input byte on
  the DirectRunner (after combiner lifting), the Dataflow Shuffle volume.

Without one of the last two, its figure falls back to a named assumption, and the report says so.
Every figure that is not measured here is a named constant below, with its source and date;
deploy/README.md ("What a full build costs") gives the formula and these inputs.

    core_cpu_s   = wet_TB_compressed * 1e6 * DECOMPRESSION_RATIO / MB_per_cpu_second
    cpu_s        = core_cpu_s * beam_overhead
    wall_h       = cpu_s / (workers * vcpus(machine_type)) / 3600
    cost         = workers * wall_h * (vcpus * VCPU_HOUR + mem_GB * GB_HOUR + disk_GB * PD_GB_HOUR)
                   + decompressed_GB * shuffle_per_input_byte * SHUFFLE_GB
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from filters.spec import UsageError
from pipeline.command import OneLineParser

# The benchmark results of a source checkout (make bench), from which RATES_PATH is made.
RESULTS_DIR = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
# What c4 estimate reads by default: those results' figures, shipped as package data.
RATES_PATH = Path(__file__).resolve().parent / "data" / "rates.json"
PACKAGED = "pipeline/cloud/data/rates.json"
RESULTS_GLOB = "clean_throughput*.json"
END_TO_END = "end_to_end.json"
SCALING = "scaling.json"

# Compressed WET bytes per crawl. 2019-18 is the crawl TFDS c4 3.1.0/2.2.0 read: "6.96TB" for one
# month of WET (tensorflow/datasets#1136; the T5 README says "~7 TB"). Others: pass --wet_tb.
CRAWL_WET_TB: dict[str, float] = {"CC-MAIN-2019-18": 6.96}

# Decompressed / compressed bytes of WET, measured on the five real files of tests/data/wet
# (916,108 bytes gzipped -> 2,541,887 bytes; per file 1.6 to 2.8, the largest file 2.83).
# Our MB/s are decompressed MB (INTERFACE.md "Measuring"), the crawl's size is compressed.
DECOMPRESSION_RATIO = 2.775

# TFDS's published figure for the same build (T5 README): ~335 CPU-days; 500 workers ~ 16 hours.
TFDS_CPU_DAYS = 335.0
TFDS_WORKERS = 500
TFDS_HOURS = 16.0

# Dataflow batch list prices, us-central1, USD, from cloud.google.com/dataflow/pricing as of
# 2024 (not re-checked here: no network). Assumptions: verify for your region before budgeting.
PRICES_DATE = "2024 list prices, us-central1 (cloud.google.com/dataflow/pricing)"
VCPU_HOUR = 0.056
GB_HOUR = 0.003557
PD_GB_HOUR = 0.000054  # standard persistent disk
SHUFFLE_GB = 0.011  # Dataflow Shuffle, batch, per GB processed (before volume discounts)
# Dataflow's default boot disk with Dataflow Shuffle on: 25 GB per worker.
DISK_GB = 25.0

# (vCPUs, memory GB) of the machine types people use for batch Dataflow jobs.
MACHINE_TYPES: dict[str, tuple[int, float]] = {
    "n1-standard-1": (1, 3.75),
    "n1-standard-2": (2, 7.5),
    "n1-standard-4": (4, 15.0),
    "n1-standard-8": (8, 30.0),
    "n1-highmem-2": (2, 13.0),
    "n1-highmem-4": (4, 26.0),
    "n2-standard-2": (2, 8.0),
    "n2-standard-4": (4, 16.0),
    "n2-standard-8": (8, 32.0),
    "n2d-standard-2": (2, 8.0),
    "n2d-standard-4": (4, 16.0),
    "e2-standard-2": (2, 8.0),
    "e2-standard-4": (4, 16.0),
    "e2-standard-8": (8, 32.0),
}
DEFAULT_MACHINE_TYPE = "n1-standard-2"

# Fallbacks when the results that measure them are missing. CPU of a Beam worker per CPU of the
# bare core (coders, fusion, grouping, writing), used without end_to_end.json: an assumption.
BEAM_OVERHEAD = 1.5

# Bytes shuffled per decompressed input byte, used without scaling.json (docs/scale.md): URL
# dedup carries each page's text once (at most the whole input), text dedup about twice what
# survives clean_page, assumed 25%. An upper-side assumption.
SHUFFLE_PER_INPUT_BYTE = 1.0 + 2 * 0.25


class _UsageParser(OneLineParser):
    """argparse whose errors are a one-line ``UsageError`` (exit 2), not usage text; an unknown
    flag is named with the closest known one."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(self.first_problem(message))


@dataclass(frozen=True)
class Throughput:
    """One benchmark result: CPU seconds of the whole core and of each stage, per MB."""

    source: str
    wet_mb: float
    mb_per_cpu_second: float
    stage_seconds_per_mb: dict[str, float]
    synthetic: bool = False  # measured on a benchmarks/corpus.py corpus, as end_to_end.py is
    measured: str = ""  # when and on what machine (measured_on)


@dataclass(frozen=True)
class Figure:
    """An input of the estimate and where it comes from (a result file, a flag, an assumption)."""

    value: float
    source: str


@dataclass(frozen=True)
class Estimate:
    """A full build's cost, with every input that produced it."""

    crawl: str
    wet_tb_compressed: float
    wet_tb_decompressed: float
    throughput: Throughput
    workers: int
    machine_type: str
    vcpus: int
    memory_gb: float
    beam_overhead: float
    beam_overhead_source: str
    shuffle_per_input_byte: float
    shuffle_source: str
    core_cpu_days: float
    cpu_days: float
    wall_hours: float
    worker_cost_usd: float
    shuffle_tb: float
    shuffle_cost_usd: float

    @property
    def total_cost_usd(self) -> float:
        """Workers (CPU, memory, disk) plus Dataflow Shuffle."""
        return self.worker_cost_usd + self.shuffle_cost_usd

    @property
    def read_gb_per_second(self) -> float:
        """Compressed WET the job must download per second to keep that wall time."""
        return self.wet_tb_compressed * 1000 / (self.wall_hours * 3600)

    @property
    def tfds_hours_at_same_workers(self) -> float:
        """TFDS's published wall time, scaled linearly to this many workers."""
        return TFDS_HOURS * TFDS_WORKERS / self.workers


# Benchmark results by file name: a --results directory, or the packaged rates (name -> JSON).
Results = Path | Mapping[str, Any]


def _where(results: Results, name: str) -> str:
    return str(results / name) if isinstance(results, Path) else f"{PACKAGED}[{name}]"


def _names(results: Results, pattern: str) -> list[str]:
    if isinstance(results, Path):
        return sorted(p.name for p in results.glob(pattern))
    return sorted(name for name in results if fnmatch.fnmatch(name, pattern))


def _load(results: Results, name: str, what: str) -> Any | None:
    """The JSON of one result, None if it is not there.

    Raises:
        UsageError: it is there but is not JSON.
    """
    if not isinstance(results, Path):
        return results.get(name)
    path = results / name
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"--results: {path} is not {what} ({exc})") from None


def measured_on(data: Mapping[str, Any]) -> str:
    """When and where a result was measured: ``2026-11-29 15:43 UTC, 2 CPUs, Linux-...``."""
    date = str(data.get("date_utc") or "date unknown").replace("T", " ")
    date = date[:16] + " UTC" if len(date) >= 16 else date
    machine = data.get("machine") or {}
    parts = [date]
    if machine.get("cpus"):
        parts.append(f"{machine['cpus']} CPUs")
    if machine.get("platform"):
        parts.append(str(machine["platform"]))
    return ", ".join(parts)


def read_throughput(name: str, data: Any, where: str = "") -> Throughput:
    """One ``clean_throughput*.json``: our side's median CPU seconds per MB, whole and per stage.

    Raises:
        UsageError: it is not a throughput result.
    """
    where = where or name
    try:
        wet_mb = float(data["input"]["wet_MB"])
        ours = data["ours"]
        stages = {k: float(v) / wet_mb for k, v in ours["stage_cpu_seconds_median"].items()}
        rate = float(ours["MB_per_cpu_second"])
        synthetic = data["input"].get("synthetic_corpus_mb") is not None
    except (ValueError, KeyError, TypeError, AttributeError, ZeroDivisionError) as exc:
        raise UsageError(f"--results: {where} is not a throughput result ({exc!r})") from None
    if rate <= 0:
        raise UsageError(f"--results: {where}: MB_per_cpu_second must be positive, not {rate}")
    return Throughput(name, wet_mb, rate, stages, synthetic, measured_on(data))


def load_throughputs(results: Results) -> list[Throughput]:
    """Every throughput result, slowest first.

    Raises:
        UsageError: no result there.
    """
    names = _names(results, RESULTS_GLOB)
    if not names:
        raise UsageError(f"--results: no {RESULTS_GLOB} in {results} (run make bench)")
    return sorted(
        (
            read_throughput(n, _load(results, n, "a throughput result"), _where(results, n))
            for n in names
        ),
        key=lambda t: t.mb_per_cpu_second,
    )


def read_beam_overhead(results: Results, throughputs: list[Throughput]) -> Figure:
    """Whole ``c4 build`` CPU per MB (``end_to_end.json``) over the core's, on like inputs.

    The end-to-end runs use ``benchmarks/corpus.py`` corpora of 10-85 MB, so the core figure is
    the result measured on the largest such corpus (the slowest of equals; any result if none is
    synthetic). Without the file: the assumption.

    Raises:
        UsageError: the file is there but is not an end-to-end result.
    """
    path = _where(results, END_TO_END)
    data = _load(results, END_TO_END, "an end-to-end result")
    if data is None:
        return Figure(BEAM_OVERHEAD, f"assumed, {END_TO_END} missing")
    try:
        per_mb = float(data["fit_cpu_seconds"]["ours"]["per_MB"])
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(
            f"--results: {path} has no fit_cpu_seconds.ours.per_MB ({exc!r})"
        ) from None
    if not throughputs:
        raise UsageError("--results: no throughput measured")
    like = [t for t in throughputs if t.synthetic] or throughputs
    core = max(like, key=lambda t: (t.wet_mb, -t.mb_per_cpu_second))
    core_per_mb = 1 / core.mb_per_cpu_second
    # Below 1 would mean Beam costs less than the bare core: measurement noise, not a saving.
    overhead = max(1.0, per_mb / core_per_mb)
    return Figure(
        round(overhead, 2),
        f"measured: c4 build on the DirectRunner {per_mb:.3f} CPU-s/MB ({END_TO_END} fit) / "
        f"core {core_per_mb:.3f} CPU-s/MB ({core.source})",
    )


def read_shuffle_ratio(results: Results) -> Figure:
    """Bytes shuffled per input byte: the slope of the DirectRunner's shuffled bytes on input
    MB in ``scaling.json``. Without the file: the assumption.

    Raises:
        UsageError: the file is there but holds no DirectRunner shuffle fit.
    """
    path = _where(results, SCALING)
    data = _load(results, SCALING, "a scaling result")
    if data is None:
        return Figure(SHUFFLE_PER_INPUT_BYTE, f"assumed, {SCALING} missing")
    try:
        slope = float(data["fits"]["DirectRunner"]["shuffle_bytes"]["b"])
        sizes = sorted({float(r["wet_MB"]) for r in data["runs"] if "shuffle_bytes" in r})
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(
            f"--results: {path} has no DirectRunner shuffle_bytes fit ({exc!r}); "
            "run benchmarks/scaling.py with the DirectRunner"
        ) from None
    span = f"{sizes[0]:.0f}-{sizes[-1]:.0f} MB" if sizes else "?"
    return Figure(
        round(slope / 1e6, 3),
        f"measured: {SCALING}, DirectRunner, bytes grouped after combiner lifting, slope over "
        f"{span}",
    )


# --- the packaged rates -------------------------------------------------------------------------


def packaged_results() -> dict[str, Any]:
    """The results shipped in ``pipeline/cloud/data/rates.json``, by file name.

    Raises:
        UsageError: the package lacks them (a broken install).
    """
    try:
        rates = json.loads(RATES_PATH.read_text(encoding="utf-8"))
        return dict(rates["results"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(
            f"--results: this install has no readable {PACKAGED} ({exc}); pass --results DIR"
        ) from None


def _trimmed(name: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """The keys of one result file that ``c4 estimate`` reads, and when and where it ran."""
    out: dict[str, Any] = {"date_utc": data.get("date_utc"), "machine": data.get("machine")}
    if name == END_TO_END:
        out["fit_cpu_seconds"] = {"ours": {"per_MB": data["fit_cpu_seconds"]["ours"]["per_MB"]}}
    elif name == SCALING:
        shuffle = data["fits"]["DirectRunner"]["shuffle_bytes"]
        out["fits"] = {"DirectRunner": {"shuffle_bytes": shuffle}}
        out["runs"] = [
            {"runner": r.get("runner"), "wet_MB": r["wet_MB"], "shuffle_bytes": r["shuffle_bytes"]}
            for r in data["runs"]
            if "shuffle_bytes" in r
        ]
    else:
        source = data["input"]
        out["input"] = {
            "wet_MB": source["wet_MB"],
            "synthetic_corpus_mb": source.get("synthetic_corpus_mb"),
        }
        ours = data["ours"]
        out["ours"] = {
            "MB_per_cpu_second": ours["MB_per_cpu_second"],
            "stage_cpu_seconds_median": ours["stage_cpu_seconds_median"],
        }
    return out


def rates_json(results_dir: Path) -> dict[str, Any]:
    """``rates.json``'s content from a directory of results (``benchmarks/rates.py``).

    Each file is read as ``c4 estimate --results DIR`` would read it (a broken one is refused),
    then trimmed to the keys it reads; the trimmed set must give the same figures.

    Raises:
        UsageError: a result is missing or broken.
    """
    throughputs = load_throughputs(results_dir)
    figures = (read_beam_overhead(results_dir, throughputs), read_shuffle_ratio(results_dir))
    names = [t.source for t in throughputs] + [
        n for n in (END_TO_END, SCALING) if (results_dir / n).is_file()
    ]
    results = {n: _trimmed(n, _load(results_dir, n, "a result") or {}) for n in sorted(names)}
    again = load_throughputs(results)
    if again != throughputs or figures != (
        read_beam_overhead(results, again),
        read_shuffle_ratio(results),
    ):
        raise UsageError(f"--results: {results_dir}: the trimmed results give other figures")
    return {
        "about": "c4 estimate's measured inputs: the keys it reads of each benchmarks/results "
        "file, with when (date_utc) and on what (machine) it was measured. Written by make "
        "rates (benchmarks/rates.py), which make bench runs.",
        "results": results,
    }


def crawl_size_tb(crawl: str, wet_tb: float | None) -> float:
    """The crawl's compressed WET size in TB (10^12 bytes).

    Raises:
        UsageError: an unknown crawl without ``--wet_tb``, or a size that is not positive.
    """
    if wet_tb is not None:
        if wet_tb <= 0:
            raise UsageError(f"--wet_tb: must be positive, not {wet_tb}")
        return wet_tb
    if crawl not in CRAWL_WET_TB:
        known = ", ".join(sorted(CRAWL_WET_TB))
        raise UsageError(f"--crawl: WET size of {crawl} unknown (known: {known}); pass --wet_tb")
    return CRAWL_WET_TB[crawl]


def estimate(
    crawl: str,
    workers: int,
    throughputs: list[Throughput],
    machine_type: str = DEFAULT_MACHINE_TYPE,
    wet_tb: float | None = None,
    beam_overhead: float | Figure = BEAM_OVERHEAD,
    shuffle_per_input_byte: float | Figure = SHUFFLE_PER_INPUT_BYTE,
) -> Estimate:
    """The estimate from the slowest measured throughput (the conservative one).

    ``beam_overhead`` and ``shuffle_per_input_byte`` are plain numbers (a caller's own) or
    ``Figure``s read from the results with their source.

    Raises:
        UsageError: one line naming the flag with a bad value.
    """
    if workers < 1:
        raise UsageError(f"--workers: must be at least 1, not {workers}")
    if machine_type not in MACHINE_TYPES:
        raise UsageError(
            f"--machine_type: unknown {machine_type!r}; one of {', '.join(MACHINE_TYPES)}"
        )
    overhead = _figure(beam_overhead, "given")
    shuffle = _figure(shuffle_per_input_byte, "given")
    if overhead.value < 1:
        raise UsageError(f"--beam_overhead: must be at least 1, not {overhead.value}")
    if shuffle.value < 0:
        raise UsageError(f"--results: bytes shuffled per input byte below 0 ({shuffle.value})")
    if not throughputs:
        raise UsageError("--results: no throughput measured")
    slowest = min(throughputs, key=lambda t: t.mb_per_cpu_second)
    size_tb = crawl_size_tb(crawl, wet_tb)
    decompressed_tb = size_tb * DECOMPRESSION_RATIO
    core_cpu_s = decompressed_tb * 1e6 / slowest.mb_per_cpu_second
    cpu_s = core_cpu_s * overhead.value
    vcpus, memory_gb = MACHINE_TYPES[machine_type]
    wall_h = cpu_s / (workers * vcpus) / 3600
    per_worker_hour = vcpus * VCPU_HOUR + memory_gb * GB_HOUR + DISK_GB * PD_GB_HOUR
    shuffle_tb = decompressed_tb * shuffle.value
    return Estimate(
        crawl=crawl,
        wet_tb_compressed=size_tb,
        wet_tb_decompressed=decompressed_tb,
        throughput=slowest,
        workers=workers,
        machine_type=machine_type,
        vcpus=vcpus,
        memory_gb=memory_gb,
        beam_overhead=overhead.value,
        beam_overhead_source=overhead.source,
        shuffle_per_input_byte=shuffle.value,
        shuffle_source=shuffle.source,
        core_cpu_days=core_cpu_s / 86400,
        cpu_days=cpu_s / 86400,
        wall_hours=wall_h,
        worker_cost_usd=workers * wall_h * per_worker_hour,
        shuffle_tb=shuffle_tb,
        shuffle_cost_usd=shuffle_tb * 1000 * SHUFFLE_GB,
    )


def _figure(value: float | Figure, source: str) -> Figure:
    return value if isinstance(value, Figure) else Figure(float(value), source)


def format_estimate(est: Estimate, origin: str = "") -> str:
    """The human report: inputs, per-stage CPU, totals next to TFDS's published figure.

    ``origin``: where the results were read (the packaged rates or a ``--results`` DIR).
    """
    t = est.throughput
    lines = [
        f"c4 estimate: {est.crawl}, {est.workers} x {est.machine_type} "
        f"({est.vcpus} vCPU, {est.memory_gb:g} GB)",
        f"  input      {est.wet_tb_compressed:.2f} TB WET compressed x {DECOMPRESSION_RATIO} "
        f"= {est.wet_tb_decompressed:.2f} TB decompressed",
        f"  throughput {t.mb_per_cpu_second:.2f} MB/s per core (core only; {t.source}, "
        f"{t.wet_mb:g} MB, slowest of the results)",
    ]
    if t.measured or origin:
        where = f" ({origin})" if origin else ""
        lines.append(f"  measured   {t.measured or 'date unknown'}{where}")
    lines += [
        "  stage CPU-days (core):",
    ]
    # Ties by name: the packaged rates keep their keys sorted, a result file in stage order.
    for stage, s_per_mb in sorted(t.stage_seconds_per_mb.items(), key=lambda kv: (-kv[1], kv[0])):
        days = s_per_mb * est.wet_tb_decompressed * 1e6 / 86400
        lines.append(f"    {stage:<24} {days:8.1f}")
    lines += [
        f"  overhead   Beam {est.beam_overhead:g}x the core ({est.beam_overhead_source})",
        f"  CPU        {est.core_cpu_days:.1f} CPU-days core x {est.beam_overhead:g} "
        f"= {est.cpu_days:.1f} CPU-days   [TFDS: ~{TFDS_CPU_DAYS:g} CPU-days]",
        f"  wall       {est.wall_hours:.1f} h at {est.workers} workers, perfect scaling   "
        f"[TFDS: ~{TFDS_HOURS:g} h at {TFDS_WORKERS} workers = "
        f"{est.tfds_hours_at_same_workers:.1f} h at {est.workers}]",
        f"  download   {est.read_gb_per_second:.2f} GB/s of compressed WET to keep that pace "
        "(Common Crawl throttles: the real floor may be I/O, not CPU)",
        f"  shuffle    {est.shuffle_per_input_byte:g} bytes per input byte = "
        f"{est.shuffle_tb:.1f} TB ({est.shuffle_source})",
        f"  cost       ${est.worker_cost_usd:,.0f} workers + ${est.shuffle_cost_usd:,.0f} "
        f"Dataflow Shuffle ({est.shuffle_tb:.1f} TB) = ${est.total_cost_usd:,.0f}",
        f"  prices     {PRICES_DATE}; assumptions, see deploy/README.md",
    ]
    return "\n".join(lines) + "\n"


def run_estimate(argv: list[str]) -> int:
    """``c4 estimate --crawl CC-MAIN-YYYY-WW --workers N [--machine_type T]``; exit 2 on misuse."""
    import sys

    parser = _UsageParser(prog="c4 estimate", allow_abbrev=False)
    parser.add_argument("--crawl", required=True, help="e.g. CC-MAIN-2019-18")
    parser.add_argument("--workers", type=int, required=True, help="Dataflow workers")
    parser.add_argument("--machine_type", default=DEFAULT_MACHINE_TYPE, help="worker machine type")
    parser.add_argument("--wet_tb", type=float, default=None, help="compressed WET TB of the crawl")
    parser.add_argument(
        "--beam_overhead",
        type=float,
        default=None,
        help=f"Beam CPU per core CPU (default: measured from {END_TO_END}, else {BEAM_OVERHEAD})",
    )
    parser.add_argument(
        "--results",
        default=None,
        help=f"a directory of fresh benchmark results: {RESULTS_GLOB} (required), {END_TO_END} "
        f"and {SCALING} if there (default: the rates shipped in {PACKAGED})",
    )
    try:
        args = parser.parse_args(argv)
        results: Results = Path(args.results) if args.results else packaged_results()
        origin = f"--results {args.results}" if args.results else PACKAGED
        throughputs = load_throughputs(results)
        overhead = (
            Figure(args.beam_overhead, "--beam_overhead")
            if args.beam_overhead is not None
            else read_beam_overhead(results, throughputs)
        )
        est = estimate(
            crawl=args.crawl,
            workers=args.workers,
            throughputs=throughputs,
            machine_type=args.machine_type,
            wet_tb=args.wet_tb,
            beam_overhead=overhead,
            shuffle_per_input_byte=read_shuffle_ratio(results),
        )
    except UsageError as exc:
        print(f"c4 estimate: {exc}".splitlines()[0], file=sys.stderr)
        return 2
    print(format_estimate(est, origin), end="")
    return 0
