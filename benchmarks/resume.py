"""``c4 build --resumable``: its overhead, and what a rerun after a kill costs (issue 18.6).

1. Overhead: whole-process CPU of ``c4 build`` with and without ``--resumable`` on the same
   corpus, alternating, median of ``--reps`` pairs.
2. Resume: a ``--resumable`` build killed (SIGKILL to its process group) at 30 %, 60 % and 90 %
   of an uninterrupted run's wall time, then the same command again: the rerun's CPU against a
   full build's, and its output checked byte-identical to the uninterrupted one.

Output: ``results/resume.json``. The corpus is ``benchmarks/corpus.py``'s (several files, so the
per-file work can be reused file by file).

    python benchmarks/resume.py [--mb 200] [--files 8] [--reps 3]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.end_to_end import RESULTS, corpus_path, measure  # noqa: E402

C4 = [sys.executable, "-m", "pipeline.cli", "build"]


def digest(out: Path) -> str:
    from pipeline.io.commit import output_files

    h = hashlib.sha256()
    for rel, path in sorted(output_files(str(out)).items()):
        if rel not in ("config.json", "run.json", "manifest.json"):
            h.update(rel.encode() + b"\0" + Path(path).read_bytes())
    return h.hexdigest()


def build_cmd(inputs: list[Path], out: Path, resumable: bool) -> list[str]:
    cmd = [*C4, "--input", *map(str, inputs), "--output", str(out)]
    return [*cmd, "--resumable"] if resumable else cmd


def killed_at(cmd: list[str], seconds: float) -> None:
    env = {**os.environ, "C4_PROGRESS_INTERVAL": "0"}
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    time.sleep(seconds)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=float, default=200)
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--results", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    inputs = [corpus_path(args.mb / args.files, seed) for seed in range(args.files)]
    (RESULTS / "tmp").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=RESULTS / "tmp") as tmp:
        work = Path(tmp)
        plain, resumable = [], []
        for rep in range(args.reps):  # alternating pairs
            for flag, runs in ((False, plain), (True, resumable)):
                out = work / f"o-{rep}-{flag}"
                runs.append(measure(build_cmd(inputs, out, flag)))
                want = digest(out)
                shutil.rmtree(out)
        full_cpu = statistics.median(r["cpu_seconds"] for r in resumable)
        full_wall = statistics.median(r["wall_seconds"] for r in resumable)
        resumed = {}
        for share in (0.3, 0.6, 0.9):
            out = work / f"kill-{share}"
            killed_at(build_cmd(inputs, out, True), share * full_wall)
            rerun = measure(build_cmd(inputs, out, True))
            resumed[f"{int(share * 100)}%"] = {
                **rerun,
                "cpu_share_of_full": round(rerun["cpu_seconds"] / full_cpu, 3),
                "identical": digest(out) == want,
            }
            shutil.rmtree(out)
    result = {
        "corpus_mb": args.mb,
        "files": args.files,
        "plain_cpu_median": statistics.median(r["cpu_seconds"] for r in plain),
        "resumable_cpu_median": full_cpu,
        "overhead": round(full_cpu / statistics.median(r["cpu_seconds"] for r in plain) - 1, 4),
        "full_wall_median": full_wall,
        "resumed": resumed,
        "runs": {"plain": plain, "resumable": resumable},
    }
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "resume.json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
