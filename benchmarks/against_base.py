"""Whole-process ``c4 build`` of this tree against a named earlier commit and the TFDS reference.

Issue 19's before/after: the same corpora, the same machine, the same run. For each size, ``c4
build`` of this tree ("head") and of the earlier commit ("base", a checkout of it given as
``--base``, run with this tree's virtualenv through ``PYTHONPATH``) alternate ``--reps`` times,
then the reference's Beam pipeline runs ``--reference_reps`` times, each run between two more of
ours, so that the machine's drift falls on every side alike. CPU seconds are user + sys of the
process and every child it waited for (GNU ``/usr/bin/time``, one thread:
``RAYON_NUM_THREADS=1``). Every head run is checked identical to the reference's documents
(``end_to_end.check_identical``), and head's files are compared byte for byte with base's (all
but ``config.json``, which names the output directory, and ``run.json``, the run's own times).

Start-up is measured the same way on the bundled sample (``c4 build`` with no ``--input``, with
and without ``--mask``). The core per stage (``filters.local.run_local``, start-up excluded,
``benchmarks/stage_times.py`` in a fresh process per run, base and head alternating) on
``--stage_sizes``, with the gzip floor of the same file and the reference's own stages (its inline
runner, CPU seconds) beside it.

    python benchmarks/against_base.py --base /path/to/checkout-of-d29fb91 [--sizes 10 40 85]
        [--reps 3] [--reference_reps 2]

Writes benchmarks/results/against_base.json and against_base.md.
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

from benchmarks.clean_throughput import time_reference  # noqa: E402
from benchmarks.end_to_end import (  # noqa: E402
    C4,
    ENV,
    RESULTS,
    check_identical,
    corpus_path,
    measure,
    read_build,
    run_theirs,
)

# The files whose bytes may differ between two builds of the same input: config.json names the
# output directory, run.json holds the run's own times.
UNCOMPARED = ("config.json", "run.json")


def _git(*args: str, cwd: Path) -> str:
    out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    return out.stdout.strip()


def digest(out: Path) -> dict[str, str]:
    """sha256 of every committed file of a build but ``UNCOMPARED``, by path."""
    from pipeline.io.commit import output_files

    return {
        rel: hashlib.sha256(Path(path).read_bytes()).hexdigest()
        for rel, path in sorted(output_files(str(out)).items())
        if Path(path).name not in UNCOMPARED
    }


class Sides:
    """Runs ``c4 build`` of head or base into a fresh directory and checks what it wrote."""

    def __init__(self, base: Path) -> None:
        self.env = {"head": dict(ENV), "base": {**ENV, "PYTHONPATH": str(base)}}
        self.digests: dict[tuple[str, str], list[dict[str, str]]] = {}

    def run(self, side: str, case: str, args: list[str], reference: Any = None) -> dict[str, Any]:
        with tempfile.TemporaryDirectory(dir=RESULTS / "tmp") as tmp:
            out = Path(tmp) / "out"
            figures = measure([str(C4), "build", *args, "--output", str(out)], self.env[side])
            if side == "head" and reference is not None:
                check_identical(read_build(out), reference, "3.1.0")
            self.digests.setdefault((case, side), []).append(digest(out))
        return figures

    def differing(self, case: str) -> list[str]:
        """The files of ``case`` whose bytes differ between any two runs, head's or base's (a
        file only one side writes counts as differing)."""
        runs = self.digests[(case, "head")] + self.digests[(case, "base")]
        names = sorted(set().union(*runs))
        return [n for n in names if len({run.get(n) for run in runs}) > 1]


def stage_times(corpus: Path, env: dict[str, str], path: str) -> dict[str, float]:
    """One fresh process's core per stage (``stage_times.py``) with ``path`` first on its path."""
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "stage_times.py"), str(corpus)],
        env={**env, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(proc.stdout))


def per_stage(base: Path, sizes: list[float], reps: int) -> dict[str, Any]:
    """Median CPU seconds per stage of base and head, alternating, and the reference's once."""
    out: dict[str, Any] = {}
    for mb in sizes:
        corpus = corpus_path(mb, 0)
        runs: dict[str, list[dict[str, float]]] = {"base": [], "head": []}
        for _ in range(reps):
            runs["base"].append(stage_times(corpus, ENV, str(base)))
            runs["head"].append(stage_times(corpus, ENV, str(REPO)))
        ref = time_reference([corpus], "3.1.0", cpu=True)["stages"]
        medians = {
            side: {k: round(statistics.median(r[k] for r in rs), 4) for k in rs[0]}
            for side, rs in runs.items()
        }
        out[f"{mb:g}"] = {**medians, "reference": ref, "runs": runs}
    return out


def _median(runs: list[dict[str, float]], key: str = "cpu_seconds") -> float:
    return round(statistics.median(r[key] for r in runs), 3)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--base", type=Path, required=True, help="a checkout of the earlier commit")
    ap.add_argument("--sizes", type=float, nargs="+", default=[10, 40, 85])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--reference_reps", type=int, default=2)
    ap.add_argument("--startup_reps", type=int, default=5)
    ap.add_argument("--stage_sizes", type=float, nargs="*", default=[20, 85])
    ap.add_argument("--stage_reps", type=int, default=5)
    ap.add_argument("--output", type=Path, default=RESULTS / "against_base.json")
    args = ap.parse_args(argv)
    (RESULTS / "tmp").mkdir(parents=True, exist_ok=True)
    sides = Sides(args.base)
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    load = [os.getloadavg()]

    startup: dict[str, dict[str, list[dict[str, float]]]] = {}
    for case, extra in (("sample", []), ("sample --mask", ["--mask"])):
        runs: dict[str, list[dict[str, float]]] = {"base": [], "head": []}
        for _ in range(args.startup_reps):
            for side in ("base", "head"):
                runs[side].append(sides.run(side, case, extra))
        if args.startup_reps > 0:  # --startup_reps 0: whole-process figures only
            startup[case] = runs

    stages = per_stage(args.base, args.stage_sizes, args.stage_reps)
    load.append(os.getloadavg())

    sizes: dict[str, Any] = {}
    for mb in args.sizes:
        corpus = corpus_path(mb, 0)
        ref_fig, reference = run_theirs(corpus)  # the first also gives the documents to match
        runs = {"base": [], "head": [], "reference": [ref_fig]}
        for i in range(args.reps):
            for side in ("base", "head"):
                runs[side].append(sides.run(side, f"{mb:g}", ["--input", str(corpus)], reference))
            if i + 1 < args.reference_reps:
                runs["reference"].append(run_theirs(corpus)[0])
        load.append(os.getloadavg())
        sizes[f"{mb:g}"] = {"wet_path": corpus.name, "runs": runs}

    result = {
        "benchmark": "against_base",
        "date_utc": started,
        "base_commit": _git("rev-parse", "HEAD", cwd=args.base),
        "head_commit": _git("rev-parse", "HEAD", cwd=REPO),
        "head_dirty": bool(_git("status", "--porcelain", "--untracked-files=no", cwd=REPO)),
        "load_average": [[round(x, 2) for x in t] for t in load],
        "startup": {
            case: {
                **{f"median_cpu_{s}": _median(r[s]) for s in r},
                "files_differing": sides.differing(case),
                "runs": r,
            }
            for case, r in startup.items()
        },
        "stages": stages,
        "sizes": {
            mb: {
                **entry,
                **{f"median_cpu_{s}": _median(entry["runs"][s]) for s in entry["runs"]},
                **{
                    f"median_peak_MB_{s}": _median(entry["runs"][s], "peak_rss_MB")
                    for s in entry["runs"]
                },
                "files_differing_from_base": sides.differing(mb),
            }
            for mb, entry in sizes.items()
        },
    }
    args.output.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    args.output.with_suffix(".md").write_text(table(result), encoding="utf-8")
    print(table(result))
    return 0


# The reference's names for our stages where they differ (its inline runner's timings).
_REFERENCE_NAMES = {
    "url_dedup": "url_dedup(select_newest_page)",
    "language": "detect_english",
    "split": "split(train/validation)",
}


def _reference_stage(reference: dict[str, float], stage: str) -> float | None:
    if stage == "whole core":
        return round(sum(reference.values()), 4)
    return reference.get(_REFERENCE_NAMES.get(stage, stage))


def table(result: dict[str, Any]) -> str:
    """The Markdown tables of ``result`` (docs/benchmarks.md quotes them)."""
    base, head = result["base_commit"][:7], result["head_commit"][:7]
    lines = [
        f"Whole process, `c4 build` (en 3.1.0, DirectRunner, one thread), CPU-s, medians; "
        f"{result['date_utc']}; base {base}, head {head}"
        + (" + uncommitted changes" if result["head_dirty"] else "")
        + ".",
        "",
        f"| WET MB | {base} | head | head / {base} | TFDS reference | reference / head "
        "| peak MB head | identical |",
        "|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for mb, e in result["sizes"].items():
        b, h, r = e["median_cpu_base"], e["median_cpu_head"], e["median_cpu_reference"]
        other = e["files_differing_from_base"]
        same = "docs = reference; " + (
            f"files = {base}" if not other else f"differ: {', '.join(other)}"
        )
        lines.append(
            f"| {mb} | {b:.2f} | {h:.2f} | {b / h:.2f}x | {r:.1f} | **{r / h:.1f}x** "
            f"| {e['median_peak_MB_head']:.0f} | {same} |"
        )
    for mb, e in result["stages"].items():
        lines += [
            "",
            f"| stage, {mb} MB, CPU-s | {base} | head | {base} / head | TFDS reference |",
            "|---|---:|---:|---:|---:|",
        ]
        for stage, b in e["base"].items():
            h = e["head"].get(stage)
            r = _reference_stage(e["reference"], stage)
            lines.append(
                f"| {stage} | {b:.3f} | {h:.3f} | "
                + (f"{b / h:.2f}x | " if h else "- | ")
                + (f"{r:.3f} |" if r is not None else "- |")
            )
    if result["startup"]:
        lines += [
            "",
            f"| start-up (bundled sample) | {base} | head | identical |",
            "|---|---:|---:|---|",
        ]
    for case, e in result["startup"].items():
        lines.append(
            f"| `c4 build{case[len('sample') :]}` | {e['median_cpu_base']:.2f} "
            f"| {e['median_cpu_head']:.2f} | {', '.join(e['files_differing']) or 'yes'} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
