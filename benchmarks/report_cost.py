"""What the report costs a ``c4 build``: CPU with it against CPU without it, in alternating pairs.

The report (``pipeline/report/``: samples and tallies in the stages, two shuffles to merge them, and
``report/aggregates.json`` + ``report.html`` written at the end) must cost at most 2 % of the
build's CPU on the 85 MB benchmark corpus (issue 20). Each pair is two whole-process ``c4 build``
runs on the same corpus (``corpus.py``, as ``end_to_end.py`` makes it), one with the report and
one with ``C4_BUILD_REPORT=0`` (the report left out of the graph), in alternating order so that
a machine whose speed drifts slows both alike. CPU is user + sys of the process and every child
it waited for (GNU ``/usr/bin/time``); one thread (``RAYON_NUM_THREADS=1``); one warm-up run of
each side first, not counted. Every pair's outputs but the report's own files must be
byte-identical.

    python benchmarks/report_cost.py [--mb 85] [--pairs 7] [--output results/report_cost.json]

Reports the medians of both sides, the median of the per-pair differences, and that as a share
of the build without the report. Then, as a steadier figure on a shared machine, one process
alternates ``--in_process_reps`` builds of each kind and times graph construction and the run
apart (the minimum and median of each), and the report's parts are timed alone on the corpus's
own pages (the least CPU of 7 runs each).
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

# One thread; bytecode cached as a user's install has it (a session that sets
# PYTHONDONTWRITEBYTECODE would recompile every module, the report's too, in every run).
ENV = {
    **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
    "RAYON_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
}
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


# One process alternating builds with and without the report: graph construction and the run
# timed apart, in CPU seconds of this process (the DirectRunner runs in it). On a shared
# machine the minimum of several runs is the steadiest figure of what the work itself costs.
IN_PROCESS = """
import json, os, sys, tempfile, shutil, time
import apache_beam as beam
from pipeline.build import build_pipeline
from pipeline.command import run_to_completion
from pipeline.config import make_build_config
from pipeline.runners.select import make_runner
corpus, reps, scratch = sys.argv[1], int(sys.argv[2]), sys.argv[3]
times = {"1": {"graph": [], "run": []}, "0": {"graph": [], "run": []}}
for i in range(reps + 1):
    for mode in ("1", "0") if i % 2 == 0 else ("0", "1"):
        os.environ["C4_BUILD_REPORT"] = mode
        out = tempfile.mkdtemp(dir=scratch)
        config = make_build_config([corpus], out)
        t0 = time.process_time()
        p = beam.Pipeline(runner=make_runner("DirectRunner"))
        build_pipeline(p, config)
        t1 = time.process_time()
        run_to_completion(p)
        t2 = time.process_time()
        shutil.rmtree(out)
        if i:  # the first round warms up
            times[mode]["graph"].append(t1 - t0)
            times[mode]["run"].append(t2 - t1)
print(json.dumps(times))
"""


def in_process(corpus: Path, reps: int) -> dict[str, Any]:
    """``IN_PROCESS`` in a fresh process: per side, graph and run CPU seconds, min and median."""
    with tempfile.TemporaryDirectory(dir=RESULTS / "tmp") as tmp:
        done = subprocess.run(
            [sys.executable, "-c", IN_PROCESS, str(corpus), str(reps), tmp],
            env=ENV, capture_output=True, text=True, cwd=REPO, check=True,
        )  # fmt: skip
    times = json.loads(done.stdout.strip().splitlines()[-1])
    out: dict[str, Any] = {}
    for mode, side in (("1", "with_report"), ("0", "without_report")):
        out[side] = {
            part: {"runs": [round(t, 3) for t in ts], "min": round(min(ts), 3),
                   "median": round(statistics.median(ts), 3)}
            for part, ts in times[mode].items()
        }  # fmt: skip
    for stat in ("min", "median"):
        cost = sum(out["with_report"][p][stat] - out["without_report"][p][stat] for p in times["1"])
        base = sum(out["without_report"][p][stat] for p in times["0"])
        out[f"report_share_from_{stat}"] = round(cost / base, 4)
    return out


def _least_cpu(work: Any, reps: int) -> float:
    """The least CPU seconds of ``reps`` runs of ``work()``."""
    best = float("inf")
    for _ in range(reps):
        started = time.process_time()
        work()
        best = min(best, time.process_time() - started)
    return round(best, 4)


def parts(corpus: Path, reps: int) -> dict[str, float]:
    """The report's parts timed alone on the corpus's own pages (CPU seconds, least of ``reps``):
    what the stages hand their recorders, the page written, the report's graph."""
    import apache_beam as beam
    import pyarrow.parquet as pq

    from filters import report as rules
    from filters.records import Page
    from filters.spec import resolve_rules
    from filters.wet import iter_wet
    from pipeline.config import make_build_config
    from pipeline.report.sink import BuildReport, page_of_build
    from pipeline.runners.select import make_runner

    with open(corpus, "rb") as stream:
        raw = [r for r in iter_wet(stream, corpus.name, resolve_rules(), 0) if isinstance(r, Page)]
    with tempfile.TemporaryDirectory(dir=RESULTS / "tmp") as tmp:
        out = Path(tmp) / "out"
        measure(corpus, out, True)
        stats = json.loads((out / "stats.json").read_text())
        kept = [
            Page(d["url"], d["url"], d["text"], "", "", "", d["doc_id"], d["source_file"], 0)
            for d in pq.read_table(out / "parquet").to_pylist()
        ]
        page = _least_cpu(lambda: page_of_build(str(out)), reps)
    drops = sum(stats["reconciliation"]["dropped"].values())
    reason = {"clean-page/filtered:too_few_sentences": 1, "clean-page/line-passed": 9}

    def raw_pages() -> None:
        recorder = rules.Recorder()
        for p in raw:
            recorder.raw_page(p.doc_id, p.text)
        recorder.parts()

    def kept_documents(bundles: int = 4) -> None:
        recorder, size = rules.Recorder(), -(-len(kept) // bundles)
        for lo in range(0, len(kept), size):
            recorder.reset()
            for p in kept[lo : lo + size]:
                recorder.kept("train", p)
            recorder.parts()

    def dropped() -> None:
        recorder = rules.Recorder()
        for p in raw[:drops]:
            recorder.drop(reason, p.url)
        recorder.parts()

    def graph() -> None:
        p = beam.Pipeline(runner=make_runner("DirectRunner"))
        stats_in = p | beam.Create([stats])
        _ = stats_in | BuildReport(make_build_config([str(corpus)], "/tmp/unused"), stats_in)

    return {
        "raw_pages": len(raw),
        "kept_documents": len(kept),
        "drops": drops,
        "raw_page_sample_s": _least_cpu(raw_pages, reps),
        "kept_sample_domains_tlds_s": _least_cpu(kept_documents, reps),
        "drop_tallies_s": _least_cpu(dropped, reps),
        "page_and_aggregates_rendered_s": page,
        "report_graph_with_a_create_s": _least_cpu(graph, reps),
    }


def data_digest(out: Path) -> str:
    """sha256 over every file of a build but the report's own and config.json."""
    digest = hashlib.sha256()
    from pipeline.io.commit import output_files  # the committed files, through DIR's links

    for name, where in sorted(output_files(str(out)).items()):
        rel, path = Path(name), Path(where)
        if path.name not in REPORT_FILES and rel.parts[0] != REPORT_DIR:
            digest.update(str(rel).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=float, default=85.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pairs", type=int, default=7)
    ap.add_argument("--in_process_reps", type=int, default=7, help="0: skip")
    ap.add_argument("--output", type=Path, default=RESULTS / "report_cost.json")
    args = ap.parse_args(argv)
    (RESULTS / "tmp").mkdir(parents=True, exist_ok=True)
    corpus = corpus_path(args.mb, args.seed)
    runs: dict[str, list[dict[str, float]]] = {"with_report": [], "without_report": []}
    pairs = []
    for report in (True, False):  # warm-up, not counted: bytecode caches, page cache
        with tempfile.TemporaryDirectory(dir=RESULTS / "tmp") as tmp:
            measure(corpus, Path(tmp) / "out", report)
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
        "in_process": in_process(corpus, args.in_process_reps) if args.in_process_reps else None,
        "parts_least_cpu_of_7": parts(corpus, 7),
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
    if result["in_process"]:
        inner = result["in_process"]
        print(
            f"in one process, graph + run: report {100 * inner['report_share_from_min']:+.2f} % "
            f"(minimum of {args.in_process_reps}), "
            f"{100 * inner['report_share_from_median']:+.2f} % (median)"
        )
    print(f"-> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
