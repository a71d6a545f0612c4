"""``c4 estimate``: time and cost of a full build on Dataflow, from measured per-core throughput.

Pure: no Beam, no network. It reads ``benchmarks/results/clean_throughput*.json`` (CPU seconds of
each stage of the C4 core per MB of decompressed WET, measured on one core) and multiplies by the
crawl's size. Every figure that is not measured here is a named constant below, with its source
and date; deploy/README.md ("What a full build costs") gives the formula and these inputs.

    core_cpu_s   = wet_TB_compressed * 1e6 * DECOMPRESSION_RATIO / MB_per_cpu_second
    cpu_s        = core_cpu_s * beam_overhead
    wall_h       = cpu_s / (workers * vcpus(machine_type)) / 3600
    cost         = workers * wall_h * (vcpus * VCPU_HOUR + mem_GB * GB_HOUR + disk_GB * PD_GB_HOUR)
                   + shuffle_GB * SHUFFLE_GB
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from filters.spec import UsageError

RESULTS_DIR = Path(__file__).resolve().parent.parent / "benchmarks" / "results"
RESULTS_GLOB = "clean_throughput*.json"

# Compressed WET bytes per crawl. 2019-18 is the crawl TFDS c4 3.1.0/2.2.0 read: "6.96TB" for one
# month of WET (tensorflow/datasets#1136; the T5 README says "~7 TB"). Others: pass --wet_tb.
CRAWL_WET_TB: dict[str, float] = {"CC-MAIN-2019-18": 6.96}

# Decompressed / compressed bytes of WET, measured on the five real files of shared/data/wet
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

# CPU of a Beam worker per CPU of the bare core (parsing, coders, shuffle I/O, fusion). Assumed,
# not measured on Dataflow; docs in deploy/README.md give the DirectRunner's figure for scale.
BEAM_OVERHEAD = 1.5

# Bytes shuffled per decompressed input byte (docs/scale.md): URL dedup carries each page's text
# once (at most the whole input), text dedup about twice what survives clean_page, assumed 25%.
SHUFFLE_PER_INPUT_BYTE = 1.0 + 2 * 0.25


class _UsageParser(argparse.ArgumentParser):
    """argparse whose errors are a one-line ``UsageError`` (exit 2), not usage text."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


@dataclass(frozen=True)
class Throughput:
    """One benchmark result: CPU seconds of the whole core and of each stage, per MB."""

    source: str
    wet_mb: float
    mb_per_cpu_second: float
    stage_seconds_per_mb: dict[str, float]


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


def read_throughput(path: Path) -> Throughput:
    """One ``clean_throughput*.json``: our side's median CPU seconds per MB, whole and per stage.

    Raises:
        UsageError: the file is not a throughput result.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        wet_mb = float(data["input"]["wet_MB"])
        ours = data["ours"]
        stages = {k: float(v) / wet_mb for k, v in ours["stage_cpu_seconds_median"].items()}
        rate = float(ours["MB_per_cpu_second"])
    except (OSError, ValueError, KeyError, TypeError, ZeroDivisionError) as exc:
        raise UsageError(f"--results: {path} is not a throughput result ({exc})") from None
    return Throughput(path.name, wet_mb, rate, stages)


def load_throughputs(results_dir: Path) -> list[Throughput]:
    """Every throughput result in ``results_dir``, slowest first.

    Raises:
        UsageError: no result there.
    """
    paths = sorted(results_dir.glob(RESULTS_GLOB))
    if not paths:
        raise UsageError(f"--results: no {RESULTS_GLOB} in {results_dir} (run make bench)")
    return sorted((read_throughput(p) for p in paths), key=lambda t: t.mb_per_cpu_second)


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
    beam_overhead: float = BEAM_OVERHEAD,
) -> Estimate:
    """The estimate from the slowest measured throughput (the conservative one).

    Raises:
        UsageError: one line naming the flag with a bad value.
    """
    if workers < 1:
        raise UsageError(f"--workers: must be at least 1, not {workers}")
    if machine_type not in MACHINE_TYPES:
        raise UsageError(
            f"--machine_type: unknown {machine_type!r}; one of {', '.join(MACHINE_TYPES)}"
        )
    if beam_overhead < 1:
        raise UsageError(f"--beam_overhead: must be at least 1, not {beam_overhead}")
    if not throughputs:
        raise UsageError("--results: no throughput measured")
    slowest = min(throughputs, key=lambda t: t.mb_per_cpu_second)
    size_tb = crawl_size_tb(crawl, wet_tb)
    decompressed_tb = size_tb * DECOMPRESSION_RATIO
    core_cpu_s = decompressed_tb * 1e6 / slowest.mb_per_cpu_second
    cpu_s = core_cpu_s * beam_overhead
    vcpus, memory_gb = MACHINE_TYPES[machine_type]
    wall_h = cpu_s / (workers * vcpus) / 3600
    per_worker_hour = vcpus * VCPU_HOUR + memory_gb * GB_HOUR + DISK_GB * PD_GB_HOUR
    shuffle_tb = decompressed_tb * SHUFFLE_PER_INPUT_BYTE
    return Estimate(
        crawl=crawl,
        wet_tb_compressed=size_tb,
        wet_tb_decompressed=decompressed_tb,
        throughput=slowest,
        workers=workers,
        machine_type=machine_type,
        vcpus=vcpus,
        memory_gb=memory_gb,
        beam_overhead=beam_overhead,
        core_cpu_days=core_cpu_s / 86400,
        cpu_days=cpu_s / 86400,
        wall_hours=wall_h,
        worker_cost_usd=workers * wall_h * per_worker_hour,
        shuffle_tb=shuffle_tb,
        shuffle_cost_usd=shuffle_tb * 1000 * SHUFFLE_GB,
    )


def format_estimate(est: Estimate) -> str:
    """The human report: inputs, per-stage CPU, totals next to TFDS's published figure."""
    t = est.throughput
    lines = [
        f"c4 estimate: {est.crawl}, {est.workers} x {est.machine_type} "
        f"({est.vcpus} vCPU, {est.memory_gb:g} GB)",
        f"  input      {est.wet_tb_compressed:.2f} TB WET compressed x {DECOMPRESSION_RATIO} "
        f"= {est.wet_tb_decompressed:.2f} TB decompressed",
        f"  throughput {t.mb_per_cpu_second:.2f} MB/s per core (core only; {t.source}, "
        f"{t.wet_mb:g} MB, slowest of the results)",
        "  stage CPU-days (core):",
    ]
    for stage, s_per_mb in sorted(t.stage_seconds_per_mb.items(), key=lambda kv: -kv[1]):
        days = s_per_mb * est.wet_tb_decompressed * 1e6 / 86400
        lines.append(f"    {stage:<24} {days:8.1f}")
    lines += [
        f"  CPU        {est.core_cpu_days:.1f} CPU-days core x {est.beam_overhead:g} Beam overhead "
        f"(assumed) = {est.cpu_days:.1f} CPU-days   [TFDS: ~{TFDS_CPU_DAYS:g} CPU-days]",
        f"  wall       {est.wall_hours:.1f} h at {est.workers} workers, perfect scaling   "
        f"[TFDS: ~{TFDS_HOURS:g} h at {TFDS_WORKERS} workers = "
        f"{est.tfds_hours_at_same_workers:.1f} h at {est.workers}]",
        f"  download   {est.read_gb_per_second:.2f} GB/s of compressed WET to keep that pace "
        "(Common Crawl throttles: the real floor may be I/O, not CPU)",
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
    parser.add_argument("--beam_overhead", type=float, default=BEAM_OVERHEAD, help="Beam CPU x")
    parser.add_argument("--results", default=str(RESULTS_DIR), help="benchmark results directory")
    try:
        args = parser.parse_args(argv)
        est = estimate(
            crawl=args.crawl,
            workers=args.workers,
            throughputs=load_throughputs(Path(args.results)),
            machine_type=args.machine_type,
            wet_tb=args.wet_tb,
            beam_overhead=args.beam_overhead,
        )
    except UsageError as exc:
        print(f"c4 estimate: {exc}".splitlines()[0], file=sys.stderr)
        return 2
    print(format_estimate(est), end="")
    return 0
