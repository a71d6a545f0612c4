"""The benchmark suite behind ``make bench``: per-stage, span corruption, end to end, plots.

Runs, in order, each checked identical to the reference before its figures count:

1. ``clean_throughput.py`` on a synthetic-from-real corpus: the C4 core per stage (parse, clean,
   dedup, language, bad words, split), ours against the reference's inline runner, CPU seconds,
   start-up excluded, medians of ``--reps`` (5);
2. ``parse_baseline.py``: WET parsing against a bare gzip-and-split loop;
   ``mask_throughput.py``: span corruption, ours against T5's TensorFlow code;
3. ``end_to_end.py``: whole-process ``c4 build`` against the reference's Beam pipeline at three
   input sizes (CPU, peak memory, linear fit) and 2 DirectRunner workers against 1;
   ``resume.py``: ``c4 build --resumable``'s overhead, and its reruns after kills at 30, 60 and
   90 %;
4. ``plots.py``: PNGs of the above next to the JSON; ``report.py``: the Markdown table
   (``summary.md``) that docs/benchmarks.md quotes; ``rates.py``: ``c4 estimate``'s packaged
   rates (``pipeline/cloud/data/rates.json``), after a full run into ``benchmarks/results``.

``BENCH_QUICK=1`` (or ``--quick``) shrinks every input and repetition count so the whole suite
runs in about a minute: it checks that the harness works, its figures mean nothing.

    python benchmarks/suite.py [--quick] [--results DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks import (  # noqa: E402
    clean_throughput,
    end_to_end,
    mask_throughput,
    parse_baseline,
    plots,
    rates,
    report,
    resume,
)

FULL = {
    "clean": ["--corpus_mb", "20", "--reps", "5"],
    "parse": ["--corpus_mb", "20", "--reps", "5"],
    "mask": ["--reps", "5"],
    "e2e": [
        "--sizes",
        "10",
        "40",
        "85",
        "--reps",
        "3",
        "--workers_mb",
        "600",
        "--halves_reps",
        "1",
    ],
    "resume": ["--mb", "520", "--files", "8", "--reps", "3", "--pairs", "7"],
}
QUICK = {
    "clean": ["--corpus_mb", "0.5", "--reps", "1", "--seed", "1"],
    "parse": ["--corpus_mb", "0.5", "--reps", "1", "--seed", "1"],
    "mask": ["--reps", "1", "--min_cpu_seconds", "0"],
    "e2e": ["--sizes", "0.3", "0.6", "--reps", "1", "--workers_mb", "0.3", "--seed", "1"],
    "resume": ["--mb", "1", "--files", "2", "--reps", "1"],
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", default=os.environ.get("BENCH_QUICK") == "1")
    ap.add_argument("--results", type=Path, default=REPO / "benchmarks" / "results")
    args = ap.parse_args(argv)
    plan = QUICK if args.quick else FULL
    results = args.results.resolve()
    results.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    clean_throughput.main(
        [*plan["clean"], "--output", str(results / "clean_throughput_suite.json")]
    )
    parse_baseline.main([*plan["parse"], "--output", str(results / "parse_baseline.json")])
    mask_throughput.main([*plan["mask"], "--output", str(results / "mask_throughput.json")])
    end_to_end.main([*plan["e2e"], "--output", str(results / "end_to_end.json")])
    resume.main([*plan["resume"], "--results", str(results)])
    for png in plots.plot_all(results):
        print(f"plot -> {png}")
    (results / "summary.md").write_text(report.render(results))
    print(f"table -> {results / 'summary.md'}")
    if not args.quick and results == rates.estimate.RESULTS_DIR.resolve():
        rates.main([])  # c4 estimate's packaged rates follow the committed results
    mode = "quick" if args.quick else "full"
    print(f"suite done in {time.perf_counter() - started:.0f}s wall ({mode})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
