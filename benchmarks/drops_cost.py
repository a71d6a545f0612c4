"""What ``c4 build --record_drops`` costs: CPU and bytes written, with it against without it.

Each pair is two whole-process ``c4 build`` runs on the same input, one with ``--record_drops``
and one without, in alternating order so that a machine whose speed drifts slows both alike; one
warm-up run of each first, not counted. CPU is user + sys of the process and every child it
waited for (GNU ``/usr/bin/time``); one thread (``RAYON_NUM_THREADS=1``). Bytes written: the sum
of the sizes of the output's committed files (``pipeline.io.commit.output_files``), and of
``DIR/drops/`` alone. Every pair's outputs must be byte-identical but for ``drops/`` and the three
files the flag changes (``config.json``, ``stats.json``, ``report.html``).

    python benchmarks/drops_cost.py                      # tests/data's five real WET files
    python benchmarks/drops_cost.py --mb 85 --pairs 3    # the 85 MB benchmark corpus

Reports every run, the medians of both sides and the difference of the medians, as CPU seconds
and as a share of the build without the flag.
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

ENV = {
    **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
    "RAYON_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
}
CHANGED = ("config.json", "stats.json", "report.html", "run.json")
REAL_WET = sorted((REPO / "tests" / "data" / "wet").glob("*.warc.wet.gz"))


def files_of(out: Path) -> dict[str, Path]:
    from pipeline.io.commit import output_files

    return {rel: Path(path) for rel, path in output_files(str(out)).items()}


def measure(inputs: list[str], out: Path, record: bool) -> dict[str, Any]:
    """One ``c4 build``: CPU and wall seconds, bytes written (all, and drops/), a digest of the
    files the flag must not change."""
    cmd = [str(C4), "build", "--input", *inputs, "--output", str(out)]
    cmd += ["--record_drops"] if record else []
    with tempfile.NamedTemporaryFile("r", suffix=".time") as stats:
        timed = [TIME, "-f", "%e %U %S", "-o", stats.name, *cmd]
        done = subprocess.run(timed, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if done.returncode:
            raise SystemExit(f"c4 build failed:\n{done.stderr.decode(errors='replace')[-2000:]}")
        wall, user, system = stats.read().split()[-3:]
    files = files_of(out)
    drops = {rel: p for rel, p in files.items() if rel.startswith("drops/")}
    if record != bool(drops):
        raise SystemExit(f"drops/ {'missing' if record else 'written'} in {out}")
    digest = hashlib.sha256()
    for rel, path in sorted(files.items()):
        if rel not in CHANGED and rel not in drops:
            digest.update(rel.encode() + b"\0" + path.read_bytes())
    stats = json.loads(files["stats.json"].read_text())
    return {
        "input_records": stats["reconciliation"]["input_records"],
        "drops_rows": stats["counters"].get("drops/recorded", 0),
        "cpu_seconds": round(float(user) + float(system), 3),
        "wall_seconds": float(wall),
        "bytes_written": sum(p.stat().st_size for p in files.values()),
        "drops_bytes": sum(p.stat().st_size for p in drops.values()),
        "drops_files": len(drops),
        "digest": digest.hexdigest(),
    }


# One process alternating builds with and without --record_drops, CPU seconds of graph and run
# (the DirectRunner runs in it): on a shared machine the minimum of several is the steadiest
# figure of what the work itself costs.
IN_PROCESS = """
import json, sys, tempfile, shutil, time
import apache_beam as beam
from pipeline.build import build_pipeline
from pipeline.command import run_to_completion
from pipeline.config import make_build_config
from pipeline.runners.select import make_runner
reps, scratch, inputs = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
times = {"with": [], "without": []}
for i in range(reps + 1):
    for record in (True, False) if i % 2 == 0 else (False, True):
        out = tempfile.mkdtemp(dir=scratch)
        config = make_build_config(inputs, out, record_drops=record)
        t0 = time.process_time()
        p = beam.Pipeline(runner=make_runner("DirectRunner"))
        build_pipeline(p, config)
        run_to_completion(p)
        spent = time.process_time() - t0
        shutil.rmtree(out)
        if i:  # the first round warms up
            times["with" if record else "without"].append(spent)
print(json.dumps(times))
"""


def in_process(inputs: list[str], reps: int) -> dict[str, Any]:
    """``IN_PROCESS`` in a fresh process: per side, CPU seconds of graph + run, min and median."""
    with tempfile.TemporaryDirectory(dir=RESULTS / "tmp") as tmp:
        done = subprocess.run(
            [sys.executable, "-c", IN_PROCESS, str(reps), tmp, *inputs],
            env=ENV, capture_output=True, text=True, cwd=REPO, check=True,
        )  # fmt: skip
    times = json.loads(done.stdout.strip().splitlines()[-1])
    out: dict[str, Any] = {
        side: {"runs": [round(t, 3) for t in ts], "min": round(min(ts), 3),
               "median": round(statistics.median(ts), 3)}
        for side, ts in times.items()
    }  # fmt: skip
    for stat in ("min", "median"):
        cost = out["with"][stat] - out["without"][stat]
        out[f"record_drops_share_from_{stat}"] = round(cost / out["without"][stat], 4)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=float, default=0.0, help="benchmark corpus size; 0: real WET")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--output", type=Path, default=None)
    ap.add_argument("--in_process_reps", type=int, default=5, help="0: skip")
    args = ap.parse_args(argv)
    (RESULTS / "tmp").mkdir(parents=True, exist_ok=True)
    if args.mb:
        inputs = [str(corpus_path(args.mb, args.seed))]
        name = f"corpus {args.mb:g} MB seed {args.seed}"
    else:
        inputs = [str(p) for p in REAL_WET]
        name = "tests/data/wet: the five real WET files"
    wet_bytes = sum(_decompressed(Path(p)) for p in inputs)
    output = args.output or RESULTS / (
        f"drops_cost_{args.mb:g}mb.json" if args.mb else "drops_cost.json"
    )
    for record in (True, False):  # warm-up, not counted
        with tempfile.TemporaryDirectory(dir=RESULTS / "tmp") as tmp:
            measure(inputs, Path(tmp) / "out", record)
    runs: dict[str, list[dict[str, Any]]] = {"with": [], "without": []}
    for i in range(args.pairs):
        order = (True, False) if i % 2 == 0 else (False, True)
        digests = set()
        for record in order:
            with tempfile.TemporaryDirectory(dir=RESULTS / "tmp") as tmp:
                run = measure(inputs, Path(tmp) / "out", record)
            digests.add(run.pop("digest"))
            runs["with" if record else "without"].append(run)
        if len(digests) != 1:
            raise SystemExit("--record_drops changed an output it must not change")
        w, wo = runs["with"][-1], runs["without"][-1]
        print(
            f"pair {i + 1}: with {w['cpu_seconds']:.2f} CPU-s, {w['bytes_written']:,} bytes "
            f"({w['drops_bytes']:,} in drops/); without {wo['cpu_seconds']:.2f} CPU-s, "
            f"{wo['bytes_written']:,} bytes"
        )
    med = {
        side: {
            key: statistics.median(r[key] for r in rs)
            for key in ("cpu_seconds", "wall_seconds", "bytes_written", "drops_bytes")
        }
        for side, rs in runs.items()
    }
    cpu = med["with"]["cpu_seconds"] - med["without"]["cpu_seconds"]
    written = med["with"]["bytes_written"] - med["without"]["bytes_written"]
    result = {
        "benchmark": "drops_cost",
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "input": {"name": name, "files": len(inputs), "wet_bytes_decompressed": wet_bytes},
        "command": "c4 build --input INPUTS --output DIR [--record_drops] (DirectRunner, "
        "1 worker), alternating, medians",
        "pairs": args.pairs,
        "runs": runs,
        "medians": med,
        "record_drops_cpu_seconds": round(cpu, 3),
        "record_drops_cpu_share": round(cpu / med["without"]["cpu_seconds"], 4),
        "record_drops_bytes": written,
        "record_drops_bytes_share": round(written / med["without"]["bytes_written"], 4),
        "other_outputs_identical": True,
        "in_process": in_process(inputs, args.in_process_reps) if args.in_process_reps else None,
        "machine": {"cpus": os.cpu_count(), "load_average": os.getloadavg()},
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=1) + "\n")
    if result["in_process"]:
        inner = result["in_process"]
        print(
            f"in one process: with {inner['with']['min']:.2f} / without "
            f"{inner['without']['min']:.2f} CPU-s (minima of {args.in_process_reps}): "
            f"{100 * inner['record_drops_share_from_min']:+.1f} %; medians "
            f"{100 * inner['record_drops_share_from_median']:+.1f} %"
        )
    print(
        f"medians: with {med['with']['cpu_seconds']:.2f} CPU-s, without "
        f"{med['without']['cpu_seconds']:.2f} CPU-s: {cpu:+.2f} CPU-s "
        f"({100 * result['record_drops_cpu_share']:+.1f} %); bytes {written:+,} "
        f"({100 * result['record_drops_bytes_share']:+.1f} %) -> {output}"
    )
    return 0


def _decompressed(path: Path) -> int:
    import gzip

    with gzip.open(path, "rb") as f:
        return sum(len(chunk) for chunk in iter(lambda: f.read(1 << 20), b""))


if __name__ == "__main__":
    sys.exit(main())
