"""Throughput of the C4 core, ours (``filters.local.run_local``) against the TFDS reference.

Both run on the same input (default: the five real WET files in tests/data/wet;
``--corpus_mb N`` for a synthetic-from-real corpus), one thread each (``RAYON_NUM_THREADS=1``),
language detection included. Before timing, the outputs are checked identical (documents and
features); a mismatch stops the benchmark.

Start-up is excluded on both sides:

* ours: punkt, the detector and the bad-word lists are loaded once (``load_resources``), then
  ``run_local`` is timed in-process, ``--reps`` times, alternating with the reference's runs;
* the reference: its own ``pipeline_seconds`` (its harness warms punkt and langdetect up before
  its clock starts), one fresh process per repetition.

Both are measured in CPU seconds of the process (user + sys): the machine is shared, and wall time
there measures the neighbours. For the reference, the unmodified harness runs with
``time.perf_counter`` bound to ``time.process_time`` (see ``_REF_CPU_SHIM``), so its own timer
reports CPU seconds over exactly the region it reports wall seconds for. Wall figures are kept
alongside. MB = 10^6 decompressed WET bytes. Medians over the repetitions.

    python benchmarks/clean_throughput.py [--reps 5] [--corpus_mb 20] [--profile]

Writes benchmarks/results/clean_throughput.json (and clean_throughput.profile.txt with
``--profile``).
"""

from __future__ import annotations

import argparse
import cProfile
import gzip
import io
import json
import os
import platform
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Before anything loads langdetect-rs: one thread, per-core figures.
os.environ["RAYON_NUM_THREADS"] = "1"

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.corpus import WET_DIR, write_corpus  # noqa: E402
from filters.local import load_resources, run_local  # noqa: E402
from filters.spec import resolve_rules  # noqa: E402
from tests.reference_runner import (  # noqa: E402
    HARNESS_3,
    HARNESS_LEGACY,
    reference_python,
    run_reference,
)

RESULTS = REPO / "benchmarks" / "results"
# Runs a harness unmodified, with its timer reading process CPU time instead of wall time.
_REF_CPU_SHIM = (
    "import runpy, sys, time; time.perf_counter = time.process_time; "
    "sys.argv = sys.argv[1:]; sys.path.insert(0, __import__('os').path.dirname(sys.argv[0])); "
    "runpy.run_path(sys.argv[0], run_name='__main__')"
)


def wet_bytes(paths: list[Path]) -> int:
    total = 0
    for p in paths:
        with gzip.open(p, "rb") as g:
            for block in iter(lambda: g.read(1 << 20), b""):
                total += len(block)
    return total


def features(version: str) -> tuple[str, ...]:
    base = ("url", "text", "split")
    return base if version == "1.0.0" else (*base, "content-type", "content-length", "timestamp")


def check_identical(ours_docs: list[dict], ref_records: list[dict], version: str) -> None:
    names = features(version)
    a = [{k: d[k] for k in names} for d in ours_docs]
    b = [{k: d[k] for k in names} for d in ref_records]
    if a != b:
        bad = next((x["url"] for x, y in zip(a, b, strict=False) if x != y), "(count)")
        raise SystemExit(f"outputs differ from the reference ({len(a)} vs {len(b)} docs; {bad})")


def time_reference(paths: list[Path], version: str, cpu: bool) -> dict:
    """One fresh reference process; its own pipeline seconds (CPU with ``cpu``) and stages."""
    py = str(reference_python())
    harness = HARNESS_3 if version == "3.1.0" else HARNESS_LEGACY
    with tempfile.TemporaryDirectory() as tmp:
        out, stats = Path(tmp) / "out.jsonl", Path(tmp) / "stats.json"
        args = [str(harness), "--runner", "inline", "-o", str(out), "--stats-json", str(stats)]
        if version != "3.1.0":
            args += ["--version", version]
        args += ["--quiet", *map(str, paths)]
        cmd = [py, "-c", _REF_CPU_SHIM, *args] if cpu else [py, *args]
        env = {**os.environ, "RAYON_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
        subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
        data = json.loads(stats.read_text())
    return {
        "pipeline_seconds": data["pipeline_seconds"],
        "stages": {s["stage"]: s["seconds"] for s in data.get("inline_stage_timings") or []},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--reference_reps", type=int, default=None, help="default: --reps")
    ap.add_argument("--corpus_mb", type=float, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--c4_version", default="3.1.0", choices=("3.1.0", "2.2.0", "1.0.0"))
    ap.add_argument("--profile", action="store_true", help="also cProfile one run of ours")
    ap.add_argument("--output", type=Path, default=RESULTS / "clean_throughput.json")
    args = ap.parse_args(argv)
    args.output = args.output.resolve()
    version = args.c4_version
    rules = resolve_rules("en", version)

    if args.corpus_mb:
        path = RESULTS / "tmp" / f"corpus-{args.corpus_mb:g}mb-seed{args.seed}.warc.wet.gz"
        if not path.is_file():
            write_corpus(path, args.corpus_mb, args.seed)
        paths = [path]
    else:
        paths = sorted(WET_DIR.glob("*.warc.wet.gz"))
    mb = wet_bytes(paths) / 1e6
    print(f"input: {len(paths)} file(s), {mb:.2f} MB decompressed WET, c4/en {version}")

    # Correctness first (the reference output is cached by input).
    resources = load_resources(rules)
    first = run_local([str(p) for p in paths], rules, resources=resources)
    check_identical(first.docs, run_reference(paths, version).records, version)
    print(f"outputs identical: {len(first.docs)} documents")

    ours_cpu, ours_wall, ours_stages = [], [], []
    ref_cpu, ref_wall = [], []
    n_ref = args.reference_reps or args.reps
    # Ours and the reference alternate: the machine's speed drifts, and alternating spreads the
    # drift over both sides instead of handing it to whichever ran second.
    for rep in range(max(args.reps, n_ref)):
        if rep < args.reps:
            c, w = time.process_time(), time.perf_counter()
            res = run_local([str(p) for p in paths], rules, resources=resources)
            ours_cpu.append(time.process_time() - c)
            ours_wall.append(time.perf_counter() - w)
            ours_stages.append(res.timings)
            print(f"  ours cpu {ours_cpu[-1]:.3f}s")
        if rep < n_ref:
            ref_cpu.append(time_reference(paths, version, cpu=True))
            print(f"  reference cpu {ref_cpu[-1]['pipeline_seconds']:.3f}s")
    print(f"ours: cpu {statistics.median(ours_cpu):.3f}s wall {statistics.median(ours_wall):.3f}s")
    for _ in range(max(1, n_ref // 2)):
        ref_wall.append(time_reference(paths, version, cpu=False))

    def median_stages(runs: list[dict[str, float]]) -> dict[str, float]:
        return {k: round(statistics.median(r[k] for r in runs), 4) for k in runs[0]}

    ours_med = statistics.median(ours_cpu)
    ref_med = statistics.median(r["pipeline_seconds"] for r in ref_cpu)
    result = {
        "benchmark": "clean_throughput",
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "c4_version": version,
        "config": "en",
        "input": {
            "files": [p.name for p in paths],
            "synthetic_corpus_mb": args.corpus_mb,
            "seed": args.seed if args.corpus_mb else None,
            "wet_MB": round(mb, 3),
        },
        "identical_outputs": True,
        "documents": len(first.docs),
        "threads": {"RAYON_NUM_THREADS": os.environ["RAYON_NUM_THREADS"], "processes": 1},
        "ours": {
            "runner": "filters.local.run_local (in-process, start-up excluded)",
            "cpu_seconds": [round(x, 4) for x in ours_cpu],
            "wall_seconds": [round(x, 4) for x in ours_wall],
            "median_cpu_seconds": round(ours_med, 4),
            "MB_per_cpu_second": round(mb / ours_med, 3),
            "median_wall_seconds": round(statistics.median(ours_wall), 4),
            "stage_cpu_seconds_median": median_stages(ours_stages),
        },
        "reference": {
            "runner": "tfds_c4_reference.py --runner inline (own pipeline_seconds)"
            if version == "3.1.0"
            else f"tfds_c4_legacy_reference.py --version {version} --runner inline",
            "cpu_seconds": [r["pipeline_seconds"] for r in ref_cpu],
            "wall_seconds": [r["pipeline_seconds"] for r in ref_wall],
            "median_cpu_seconds": ref_med,
            "MB_per_cpu_second": round(mb / ref_med, 3),
            "median_wall_seconds": statistics.median(r["pipeline_seconds"] for r in ref_wall),
            "stage_cpu_seconds_median": median_stages([r["stages"] for r in ref_cpu]),
        },
        "speedup_per_core": round(ref_med / ours_med, 2),
        "target_speedup": 3.0,
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
        },
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        run_local([str(p) for p in paths], rules, resources=resources)
        prof.disable()
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(30)
        profile_path = args.output.with_suffix(".profile.txt")
        profile_path.write_text(buf.getvalue())
        result["profile"] = str(profile_path)
    args.output.write_text(json.dumps(result, indent=1) + "\n")
    print(
        f"ours {mb / ours_med:.2f} MB/s per core, reference {mb / ref_med:.2f} MB/s per core "
        f"(CPU), speedup {ref_med / ours_med:.1f}x -> {args.output}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
