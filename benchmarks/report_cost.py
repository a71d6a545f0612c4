"""What the report costs a ``c4 build``: CPU with it against CPU without it, in alternating pairs.

The report (``pipeline/report/``: samples and tallies in the stages, two combiner shuffles, and
``report/aggregates.json`` + ``report.html`` written at the end) must cost at most 2 % of the
build's CPU on the 85 MB benchmark corpus (issue 20). Each pair is two whole-process ``c4 build``
runs on the same corpus (``corpus.py``, as ``end_to_end.py`` makes it), one with the report and
one with ``C4_BUILD_REPORT=0`` (the report left out of the graph), in alternating order so that
a machine whose speed drifts slows both alike. CPU is user + sys of the process and every child
it waited for (GNU ``/usr/bin/time``); one thread (``RAYON_NUM_THREADS=1``). Every pair's outputs
but the report's own files must be byte-identical.

    python benchmarks/report_cost.py [--mb 85] [--pairs 7] [--output results/report_cost.json]

Reports the medians of both sides, the median of the per-pair differences, and that as a share
of the build without the report.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.end_to_end import C4, RESULTS, TIME, corpus_path  # noqa: E402

ENV = {**os.environ, "RAYON_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
# The report's own files, and what names the run or its directory.
REPORT_FILES = ("report.html", "run.json", "config.json")
REPORT_DIR = "report"


def measure(corpus: Path, out: Path, report: bool) -> dict[str, float]:
    """One ``c4 build``: CPU seconds (user + sys, children included) and wall seconds."""
    env = {**ENV, "C4_BUILD_REPORT": "1" if report else "0"}
    cmd = [str(C4), "build", "--input", str(corpus), "--output", str(out)]
    with tempfile.NamedTemporaryFile("r", suffix=".time") as stats:
        timed = [TIME, "-f", "%e %U %S", "-o", stats.name, *cmd]
        done = subprocess.run(timed, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if done.returncode:
            raise SystemExit(f"c4 build failed:\n{done.stderr.decode(errors='replace')[-2000:]}")
        wall, user, system = stats.read().split()[-3:]
    if report != (out / "report.html").is_file():
        raise SystemExit(f"report.html {'missing' if report else 'written'} in {out}")
    return {"cpu_seconds": round(float(user) + float(system), 3), "wall_seconds": float(wall)}


def data_digest(out: Path) -> str:
    """sha256 over every file of a build but the report's own and config.json."""
    digest = hashlib.sha256()
    for path in sorted(out.rglob("*")):
        rel = path.relative_to(out)
        if path.is_file() and path.name not in REPORT_FILES and rel.parts[0] != REPORT_DIR:
            digest.update(str(rel).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=float, default=85.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pairs", type=int, default=7)
    ap.add_argument("--output", type=Path, default=RESULTS / "report_cost.json")
    args = ap.parse_args(argv)
    (RESULTS / "tmp").mkdir(parents=True, exist_ok=True)
    corpus = corpus_path(args.mb, args.seed)
    runs: dict[str, list[dict[str, float]]] = {"with_report": [], "without_report": []}
    pairs = []
    for i in range(args.pairs):
        order = (True, False) if i % 2 == 0 else (False, True)
        figures: dict[bool, dict[str, float]] = {}
        digests = set()
        for report in order:
            with tempfile.TemporaryDirectory(dir=RESULTS / "tmp") as tmp:
                out = Path(tmp) / "out"
                figures[report] = measure(corpus, out, report)
                digests.add(data_digest(out))
        if len(digests) != 1:
            raise SystemExit("the report changed an output other than its own files")
        runs["with_report"].append(figures[True])
        runs["without_report"].append(figures[False])
        diff = figures[True]["cpu_seconds"] - figures[False]["cpu_seconds"]
        pairs.append(round(diff, 3))
        print(
            f"pair {i + 1}: with {figures[True]['cpu_seconds']:.2f} CPU-s, without "
            f"{figures[False]['cpu_seconds']:.2f} CPU-s ({diff:+.2f})"
        )
    med = {side: statistics.median(r["cpu_seconds"] for r in rs) for side, rs in runs.items()}
    base = med["without_report"]
    result: dict[str, Any] = {
        "benchmark": "report_cost",
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "corpus": {"wet_MB": args.mb, "seed": args.seed, "file": corpus.name},
        "command": "c4 build --input CORPUS --output DIR (DirectRunner, 1 worker), "
        "C4_BUILD_REPORT=1 against C4_BUILD_REPORT=0, alternating",
        "threads": {"RAYON_NUM_THREADS": "1"},
        "pairs": args.pairs,
        "runs": runs,
        "pair_differences_cpu_seconds": pairs,
        "median_cpu_seconds": {k: round(v, 3) for k, v in med.items()},
        "median_pair_difference_cpu_seconds": round(statistics.median(pairs), 3),
        "report_share_of_build_cpu": {
            "from_medians": round((med["with_report"] - base) / base, 4),
            "from_median_pair_difference": round(statistics.median(pairs) / base, 4),
        },
        "outputs_identical_but_the_report": True,
        "machine": {"cpus": os.cpu_count(), "load_average": os.getloadavg()},
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=1) + "\n")
    share = result["report_share_of_build_cpu"]
    print(
        f"median CPU: with {med['with_report']:.2f} s, without {base:.2f} s; report "
        f"{100 * share['from_medians']:+.2f} % (medians), "
        f"{100 * share['from_median_pair_difference']:+.2f} % (median pair difference)"
    )
    print(f"-> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
