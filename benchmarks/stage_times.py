"""One process's C4 core per stage (``filters.local.run_local``), for ``against_base.py``.

Imports ``filters`` from ``PYTHONPATH`` (so the same file times any checkout), runs the core
once to load what it loads once per process (punkt, the language model, the word lists), then
``--reps`` more times, and prints the median CPU seconds of each stage, start-up excluded, with
the gzip floor of the same file (decompression and a split on the record marker) beside it.

    PYTHONPATH=CHECKOUT python benchmarks/stage_times.py CORPUS [--reps 1]
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("corpus")
    ap.add_argument("--reps", type=int, default=1)
    args = ap.parse_args()
    from filters.local import run_local
    from filters.spec import resolve_rules

    rules = resolve_rules("en", "3.1.0")
    run_local([args.corpus], rules)  # loads punkt, the language model and the lists
    runs: dict[str, list[float]] = {}
    floors = []
    for _ in range(args.reps):
        for stage, seconds in run_local([args.corpus], rules).timings.items():
            runs.setdefault(stage, []).append(seconds)
        start = time.process_time()
        with gzip.open(args.corpus, "rb") as f:
            f.read().split(b"WARC/1.0\r\n")
        floors.append(time.process_time() - start)
    out = {stage: round(statistics.median(s), 4) for stage, s in runs.items()}
    out["whole core"] = round(sum(out.values()), 4)
    out["gzip floor"] = round(statistics.median(floors), 4)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
