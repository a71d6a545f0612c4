"""Whole-process ``c4 build`` against the reference's Beam pipeline: CPU time, peak memory, scaling.

Each side runs as a fresh process on the same synthetic-from-real corpus (``corpus.py``), start-up
included: ``c4 build`` (DirectRunner, one worker) and ``tfds_c4_reference.py --runner beam``
(the TFDS reference, DirectRunner). CPU seconds are user + sys of the process and every child it
waited for, and peak memory is the largest resident set of the process or a child (GNU
``/usr/bin/time``). Every run of ours is checked identical (url, text, split and the 3.1.0
features) to the reference's output on that input before its figures count. After the first
reference run, ours and the reference's alternate (as the one- and two-worker runs do): the
machine's speed drifts, and alternating spreads the drift over both sides.

Then ``c4 build`` with two DirectRunner workers (``--direct_running_mode multi_processing``)
against one, in wall time, on ``--workers_mb`` of WET cut into ``--workers_files`` files (a crawl
is many files; the runner reads one file per bundle, so one file leaves a worker idle while the
other parses). The two-worker output must equal the one-worker output byte for byte. Beside it,
what the machine itself gives this work on two cores: two independent one-worker builds, each on
half of the files, one after the other and then at once (``run_halves``, wall time,
``--halves_reps`` times): the ceiling that the DirectRunner's two workers are measured against.

    python benchmarks/end_to_end.py [--sizes 10 40 85] [--reps 3] [--workers_mb 600]
        [--halves_reps 1]

Writes benchmarks/results/end_to_end.json.
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

from benchmarks.clean_throughput import check_identical, features, wet_bytes  # noqa: E402
from benchmarks.corpus import split_corpus, write_corpus  # noqa: E402
from pipeline.formats.tfrecord import decode_example, read_tfrecord  # noqa: E402
from tests.reference_runner import harness_command  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
C4 = REPO / ".venv" / "bin" / "c4"
TIME = "/usr/bin/time"  # GNU time: the rusage of the command and the children it waited for
VERSION = "3.1.0"
# One thread per process: per-core figures (INTERFACE.md "Measuring").
ENV = {**os.environ, "RAYON_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}


def measure(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, float]:
    """Runs ``cmd`` (in ``env``, ``ENV`` by default); its CPU seconds (user + sys, children
    included), wall seconds, peak RSS.

    Through GNU ``/usr/bin/time``: Linux carries a process's peak RSS across fork and exec, so
    measuring from this (large) Python process would report our own peak for a small child.
    """
    with tempfile.NamedTemporaryFile("r", suffix=".time") as stats:
        timed = [TIME, "-f", "%e %U %S %M", "-o", stats.name, *cmd]
        proc = subprocess.run(
            timed,
            env=ENV if env is None else env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=REPO,
        )
        if proc.returncode:
            err = proc.stderr.decode(errors="replace")[-2000:]
            raise SystemExit(f"{cmd[0]} failed ({proc.returncode}):\n{err}")
        wall, user, system, max_kb = stats.read().split()[-4:]
    return {
        "cpu_seconds": round(float(user) + float(system), 3),
        "wall_seconds": float(wall),
        "peak_rss_MB": round(int(max_kb) / 1024, 1),
    }


def read_build(out: Path) -> list[dict[str, str]]:
    """The documents of a ``c4 build`` output, from its TFDS TFRecord shards."""
    docs = []
    for shard in sorted((out / "c4" / "en" / VERSION).glob("c4-*.tfrecord-*")):
        split = shard.name.split("-")[1].split(".")[0]
        for record in read_tfrecord(shard):
            ex = decode_example(record)
            doc = {k: v[0].decode("utf-8") for k, v in ex.items() if v and isinstance(v[0], bytes)}
            docs.append({**doc, "split": split})
    return sorted(docs, key=lambda d: d["url"])


def ours_cmd(corpus: Path | list[Path], out: Path, workers: int) -> list[str]:
    inputs = [str(p) for p in corpus] if isinstance(corpus, list) else [str(corpus)]
    cmd = [str(C4), "build", "--input", *inputs, "--output", str(out)]
    if workers > 1:
        cmd += ["--direct_num_workers", str(workers), "--direct_running_mode", "multi_processing"]
    return cmd


def run_ours(corpus: Path, workers: int, reference: list[dict[str, Any]]) -> dict[str, float]:
    with tempfile.TemporaryDirectory(dir=RESULTS / "tmp") as tmp:
        out = Path(tmp) / "out"
        figures = measure(ours_cmd(corpus, out, workers))
        check_identical(read_build(out), reference, VERSION)
    return figures


def run_workers(corpus: list[Path], workers: int) -> tuple[dict[str, float], str]:
    """One ``c4 build`` with ``workers`` DirectRunner workers: its figures and a digest of every
    file it wrote but config.json (which names the output directory) and run.json (the run's
    timings, which differ on every run by design)."""
    with tempfile.TemporaryDirectory(dir=RESULTS / "tmp") as tmp:
        out = Path(tmp) / "out"
        figures = measure(ours_cmd(corpus, out, workers))
        digest = hashlib.sha256()
        from pipeline.io.commit import output_files  # the committed files, through DIR's links

        for rel, path in sorted(output_files(str(out)).items()):
            if Path(path).name not in ("config.json", "run.json"):
                digest.update(rel.encode() + b"\0" + Path(path).read_bytes())
    return figures, digest.hexdigest()


def run_halves(parts: list[Path]) -> dict[str, float]:
    """Two one-worker builds, each on half of ``parts``: wall seconds one after the other and at
    once, and their ratio (the machine's own speed-up on this work, no Beam workers involved)."""
    halves = [parts[: len(parts) // 2], parts[len(parts) // 2 :]]
    with tempfile.TemporaryDirectory(dir=RESULTS / "tmp") as tmp:
        walls = {}
        for mode in ("sequential", "concurrent"):
            cmds = [ours_cmd(h, Path(tmp) / f"{mode}{i}", 1) for i, h in enumerate(halves)]
            start = time.monotonic()
            if mode == "sequential":
                codes = [_quiet(cmd).wait() for cmd in cmds]
            else:
                codes = [proc.wait() for proc in [_quiet(cmd) for cmd in cmds]]
            walls[mode] = round(time.monotonic() - start, 2)
            if any(codes):
                raise SystemExit(f"c4 build on half of the files failed: {codes}")
    return {**walls, "speedup": round(walls["sequential"] / walls["concurrent"], 2)}


def _quiet(cmd: list[str]) -> subprocess.Popen[bytes]:
    out = subprocess.DEVNULL
    return subprocess.Popen(cmd, env=ENV, stdout=out, stderr=out, cwd=REPO)


def run_theirs(corpus: Path) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """One reference Beam run: its figures and its documents (what ours must equal)."""
    with tempfile.TemporaryDirectory(dir=RESULTS / "tmp") as tmp:
        out = Path(tmp) / "o.jsonl"
        figures = measure(harness_command([corpus], VERSION, out, Path(tmp) / "s.json", "beam"))
        names = features(VERSION)
        with out.open(encoding="utf-8") as f:
            docs = [{k: json.loads(line)[k] for k in names} for line in f if line.strip()]
    return figures, sorted(docs, key=lambda d: d["url"])


def summarize(runs: list[dict[str, float]]) -> dict[str, Any]:
    keys = ("cpu_seconds", "wall_seconds", "peak_rss_MB")
    return {"runs": runs, **{f"median_{k}": statistics.median(r[k] for r in runs) for k in keys}}


def corpus_path(mb: float, seed: int) -> Path:
    path = RESULTS / "tmp" / f"corpus-{mb:g}mb-seed{seed}.warc.wet.gz"
    if not path.is_file():
        write_corpus(path, mb, seed)
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=float, nargs="+", default=[10.0, 40.0, 85.0], help="MB")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--reference_reps", type=int, default=None, help="default: --reps")
    ap.add_argument("--workers_mb", type=float, default=None, help="default: the largest size")
    ap.add_argument("--workers_files", type=int, default=8, help="files the input is cut into")
    ap.add_argument(
        "--halves_reps", type=int, default=None, help="independent-halves runs; default: --reps"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--output", type=Path, default=RESULTS / "end_to_end.json")
    args = ap.parse_args(argv)
    (RESULTS / "tmp").mkdir(parents=True, exist_ok=True)

    sizes = []
    references: list[tuple[Path, list[dict[str, Any]]]] = []
    for mb in args.sizes:
        corpus = corpus_path(mb, args.seed)
        real_mb = wet_bytes([corpus]) / 1e6
        # The reference first (every run of ours is checked against its output), then the two
        # alternate, so that a machine whose speed drifts slows both sides alike.
        theirs_runs = [run_theirs(corpus)]
        reference = theirs_runs[0][1]
        ours = []
        for rep in range(max(args.reps, args.reference_reps or args.reps)):
            if rep < args.reps:
                ours.append(run_ours(corpus, 1, reference))
            if rep + 1 < (args.reference_reps or args.reps):
                theirs_runs.append(run_theirs(corpus))
        if any(docs != reference for _, docs in theirs_runs):
            raise SystemExit(f"the reference is not deterministic on {corpus}")
        theirs = [figures for figures, _ in theirs_runs]
        row = {
            "wet_MB": round(real_mb, 3),
            "documents": len(reference),
            "identical_outputs": True,
            "ours": summarize(ours),
            "reference": summarize(theirs),
        }
        row["cpu_speedup"] = round(
            row["reference"]["median_cpu_seconds"] / row["ours"]["median_cpu_seconds"], 2
        )
        sizes.append(row)
        references.append((corpus, reference))
        print(
            f"{real_mb:.1f} MB: ours {row['ours']['median_cpu_seconds']:.1f} CPU-s "
            f"{row['ours']['median_peak_rss_MB']:.0f} MB, reference "
            f"{row['reference']['median_cpu_seconds']:.1f} CPU-s "
            f"{row['reference']['median_peak_rss_MB']:.0f} MB: {row['cpu_speedup']}x"
        )

    workers_mb = args.workers_mb or max(args.sizes)
    corpus = corpus_path(workers_mb, args.seed)
    parts = split_corpus(corpus, args.workers_files, RESULTS / "tmp" / f"{corpus.stem}-parts")
    scaling = {}
    outputs = {}
    runs: dict[int, list[tuple[dict[str, float], str]]] = {1: [], 2: []}
    halves = []
    halves_reps = max(1, args.reps if args.halves_reps is None else args.halves_reps)
    for rep in range(args.reps):  # alternating, as above
        for workers in (1, 2):
            runs[workers].append(run_workers(parts, workers))
        if rep < halves_reps:
            halves.append(run_halves(parts))
    for workers in (1, 2):
        scaling[str(workers)] = summarize([figures for figures, _ in runs[workers]])
        outputs[workers] = {digest for _, digest in runs[workers]}
    if len(outputs[1] | outputs[2]) != 1:
        raise SystemExit("two workers did not write the bytes one worker wrote")
    wall_1, wall_2 = (scaling[w]["median_wall_seconds"] for w in ("1", "2"))
    machine = statistics.median(h["speedup"] for h in halves)
    print(
        f"workers on {workers_mb:g} MB: 1 -> {wall_1:.1f}s wall, 2 -> {wall_2:.1f}s; "
        f"two independent half builds at once: {machine:.2f}x"
    )

    # Linear fit of CPU seconds on MB (least squares): slope, intercept (start-up), and R^2.
    def fit(side: str, key: str) -> dict[str, float]:
        xs = [r["wet_MB"] for r in sizes]
        ys = [r[side][f"median_{key}"] for r in sizes]
        if len(xs) < 2:
            return {}
        slope, intercept = statistics.linear_regression(xs, ys)
        mean = statistics.fmean(ys)
        ss_tot = sum((y - mean) ** 2 for y in ys) or 1.0
        ss_res = sum((y - (slope * x + intercept)) ** 2 for x, y in zip(xs, ys, strict=True))
        return {
            "per_MB": round(slope, 4),
            "intercept": round(intercept, 3),
            "r2": round(1 - ss_res / ss_tot, 4),
        }

    result = {
        "benchmark": "end_to_end",
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "c4_version": VERSION,
        "config": "en",
        "ours_command": "c4 build --input CORPUS --output DIR  (DirectRunner, 1 worker)",
        "reference_command": "tfds_c4_reference.py --runner beam -o OUT CORPUS",
        "threads": {"RAYON_NUM_THREADS": "1"},
        "reps": args.reps,
        "reference_reps": args.reference_reps or args.reps,
        "sizes": sizes,
        "fit_cpu_seconds": {
            "ours": fit("ours", "cpu_seconds"),
            "reference": fit("reference", "cpu_seconds"),
        },
        "fit_peak_rss_MB": {
            "ours": fit("ours", "peak_rss_MB"),
            "reference": fit("reference", "peak_rss_MB"),
        },
        "workers": {
            "wet_MB": round(wet_bytes([corpus]) / 1e6, 3),
            "files": len(parts),
            "mode": "--direct_num_workers N --direct_running_mode multi_processing (N=2)",
            "by_workers": scaling,
            "wall_speedup_2_over_1": round(wall_1 / wall_2, 2),
            "cpu_2_over_1": round(
                scaling["2"]["median_cpu_seconds"] / scaling["1"]["median_cpu_seconds"], 2
            ),
            "independent_halves": {
                "what": "two one-worker builds on half of the files each: one after the "
                "other, then at once (wall seconds)",
                "runs": halves,
                "median_speedup": machine,
            },
        },
        "machine": {"cpus": os.cpu_count(), "load_average": os.getloadavg()},
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=1) + "\n")
    print(f"-> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
