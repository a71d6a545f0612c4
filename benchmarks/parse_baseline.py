"""Parsing against a bare gzip-and-split loop: the floor any WET reader pays.

The floor: ``gzip`` decompression of the whole file and ``bytes.split`` on the WARC record marker,
nothing decoded, nothing parsed. Ours: ``filters.wet.iter_wet_path`` (strict UTF-8, universal
newlines, headers, offsets, C4's page filters of the reading stage), every record consumed. Same
file, CPU seconds of this process, medians of ``--reps`` (the two alternate).

    python benchmarks/parse_baseline.py [--corpus_mb 20] [--reps 5]

Writes benchmarks/results/parse_baseline.json.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.end_to_end import corpus_path  # noqa: E402
from filters.spec import resolve_rules  # noqa: E402
from filters.wet import iter_wet_path  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"


def bare_split(path: Path) -> int:
    """gzip + split on the record marker; the number of pieces (so nothing is optimized away)."""
    with gzip.open(path, "rb") as f:
        return len(f.read().split(b"WARC/1.0\r\n"))


def ours(path: Path) -> int:
    return sum(1 for _ in iter_wet_path(str(path), resolve_rules("en", "3.1.0")))


def cpu_medians(fns: list[Callable[[Path], int]], path: Path, reps: int) -> list[float]:
    """Median CPU seconds of each of ``fns`` on ``path``; their runs alternate, so that a drift
    in the machine's speed falls on all of them alike."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(reps):
        for fn, runs in zip(fns, times, strict=True):
            start = time.process_time()
            fn(path)
            runs.append(time.process_time() - start)
    return [statistics.median(runs) for runs in times]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus_mb", type=float, default=20.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--output", type=Path, default=RESULTS / "parse_baseline.json")
    args = ap.parse_args(argv)
    (RESULTS / "tmp").mkdir(parents=True, exist_ok=True)
    path = corpus_path(args.corpus_mb, args.seed)
    with gzip.open(path, "rb") as f:
        mb = len(f.read()) / 1e6
    bare, parsed = cpu_medians([bare_split, ours], path, args.reps)
    result = {
        "benchmark": "parse_baseline",
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "wet_MB": round(mb, 3),
        "reps": args.reps,
        "bare_gzip_split": {
            "median_cpu_seconds": round(bare, 4),
            "MB_per_cpu_second": round(mb / bare, 2),
        },
        "ours_iter_wet_path": {
            "median_cpu_seconds": round(parsed, 4),
            "MB_per_cpu_second": round(mb / parsed, 2),
        },
        "ratio_ours_over_bare": round(parsed / bare, 2),
        "target_ratio": 2.0,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=1) + "\n")
    print(f"parse: bare {mb / bare:.0f} MB/s, ours {mb / parsed:.0f} MB/s ({parsed / bare:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
