"""``c4 build --resumable``: its overhead, and what a rerun after a kill costs (issue 18.6).

Per repetition: a plain build and a ``--resumable`` build, each first in turn (whole-process
CPU; the overhead is their ratio, the median over pairs and the ratio of the medians), then a
``--resumable`` build killed (SIGKILL to its process group) at 30 %, 60 % and 90 % of the way
through an uninterrupted one, each followed by the same command again: the rerun's CPU against a
full ``--resumable`` build's, its output checked byte-identical to the uninterrupted one.
Medians over ``--reps``; ``--pairs`` more pairs for the overhead alone (``--reps 0``: only
those).

Where the kill falls: ``--clock cpu`` (the default) kills once the build's process group has
used that share of a full build's CPU seconds (the median so far), ``--clock wall`` once that
share of its wall time has passed. On an idle machine the two agree (a one-worker build keeps
one core busy: CPU is 98 % of wall); on a shared one, neighbours stretch wall time by their load
and a wall-clock kill lands wherever the load put it, while the CPU clock still says how much of
the build's work was done.

Output: ``results/resume.json``, with the load average around each run. The corpus is
``benchmarks/corpus.py``'s (several files, so the per-file work can be reused file by file).

    python benchmarks/resume.py [--mb 520] [--files 8] [--reps 3] [--pairs 3] [--clock cpu|wall]
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
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.end_to_end import ENV, RESULTS, corpus_path, measure  # noqa: E402

C4 = [sys.executable, "-m", "pipeline.cli", "build"]
SHARES = (0.3, 0.6, 0.9)
_TICK = os.sysconf("SC_CLK_TCK")


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


def session_cpu(sid: int) -> float:
    """CPU seconds (user + sys) of every live process of session ``sid`` and of the children
    they waited for."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[3]) == sid:  # fields[3]: the session id
            total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    return total / _TICK


def killed_at(cmd: list[str], clock: str, share: float, full: float) -> dict[str, Any]:
    """Runs ``cmd`` and kills it at ``share`` of ``full`` (seconds of ``clock``); a build that
    ends first (the machine's speed drifts) is run again and killed at ``share`` of its own
    length, up to three times. Where the last one was when killed."""
    for attempt in range(1, 4):
        killed = _killed_at(cmd, clock, share * full)
        if killed["killed"]:
            return {**killed, "attempt": attempt}
        full = killed[f"{clock}_seconds"]
        out = cmd[cmd.index("--output") + 1]
        shutil.rmtree(out)  # a whole build: nothing to resume
    return {**killed, "attempt": attempt}


def _killed_at(cmd: list[str], clock: str, at: float) -> dict[str, Any]:
    """Runs ``cmd`` in a session of its own and kills it once its CPU (``clock`` cpu) or wall
    (``wall``) seconds reach ``at``; where it was then (or its length, if it ended first)."""
    start = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        env={**ENV, "C4_PROGRESS_INTERVAL": "0"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=REPO,
        start_new_session=True,
    )
    cpu = 0.0
    while proc.poll() is None:
        cpu = session_cpu(proc.pid)
        if (cpu if clock == "cpu" else time.monotonic() - start) >= at:
            os.killpg(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    code = proc.wait()
    return {
        "killed": code == -signal.SIGKILL,
        "cpu_seconds": round(cpu, 2),
        "wall_seconds": round(time.monotonic() - start, 2),
    }


def loaded(run: dict[str, Any]) -> dict[str, Any]:
    """``run`` with the 1-minute load average at its end."""
    return {**run, "load_1m": round(os.getloadavg()[0], 2)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=float, default=520)
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--reps", type=int, default=3, help="kill-and-rerun rounds")
    ap.add_argument("--pairs", type=int, default=None, help="plain/resumable pairs (--reps)")
    ap.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    ap.add_argument("--results", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    inputs = [corpus_path(args.mb / args.files, seed) for seed in range(args.files)]
    compressed_mb = sum(p.stat().st_size for p in inputs) / 1e6
    (RESULTS / "tmp").mkdir(parents=True, exist_ok=True)
    plain: list[dict[str, Any]] = []
    resumable: list[dict[str, Any]] = []
    reruns: dict[str, list[dict[str, Any]]] = {f"{int(s * 100)}%": [] for s in SHARES}
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(dir=RESULTS / "tmp") as tmp:
        work = Path(tmp)
        want = ""
        for rep in range(max(args.reps, args.pairs or args.reps)):
            order = ((False, plain), (True, resumable))
            for flag, runs in order if rep % 2 == 0 else order[::-1]:  # ABBA: drift cancels
                out = work / f"o-{rep}-{flag}"
                runs.append(loaded(measure(build_cmd(inputs, out, flag))))
                got = digest(out)
                want = want or got
                if got != want:
                    raise SystemExit(f"{out}: not the bytes of the first build")
                shutil.rmtree(out)
            if rep >= args.reps:
                continue
            full = statistics.median(r[f"{args.clock}_seconds"] for r in resumable)
            for share in SHARES:
                out = work / f"kill-{rep}-{share}"
                cmd = build_cmd(inputs, out, True)
                kill = killed_at(cmd, args.clock, share, full)
                rerun = loaded(measure(cmd))
                reruns[f"{int(share * 100)}%"].append(
                    {**rerun, "kill": kill, "identical": digest(out) == want}
                )
                shutil.rmtree(out)
    full_cpu = statistics.median(r["cpu_seconds"] for r in resumable)
    plain_cpu = statistics.median(r["cpu_seconds"] for r in plain)
    reruns = {share: runs for share, runs in reruns.items() if runs}  # none with --reps 0
    resumed = {
        share: {
            "cpu_seconds_median": statistics.median(r["cpu_seconds"] for r in runs),
            "cpu_share_of_full": round(
                statistics.median(r["cpu_seconds"] for r in runs) / full_cpu, 3
            ),
            "killed_at_cpu_share_median": round(
                statistics.median(r["kill"]["cpu_seconds"] for r in runs) / full_cpu, 3
            ),
            "all_killed": all(r["kill"]["killed"] for r in runs),
            "kill_attempts": [r["kill"]["attempt"] for r in runs],
            "identical": all(r["identical"] for r in runs),
        }
        for share, runs in reruns.items()
    }
    result = {
        "corpus_mb": args.mb,
        "compressed_mb": round(compressed_mb, 1),
        "files": args.files,
        "reps": args.reps,
        "pairs": len(plain),
        "clock": args.clock,
        "plain_cpu_median": plain_cpu,
        "resumable_cpu_median": full_cpu,
        "overhead": round(full_cpu / plain_cpu - 1, 4),
        "overhead_pairs_median": round(
            statistics.median(
                r["cpu_seconds"] / p["cpu_seconds"] - 1
                for r, p in zip(resumable, plain, strict=True)
            ),
            4,
        ),
        "full_wall_median": statistics.median(r["wall_seconds"] for r in resumable),
        "resumed": resumed,
        "load_average_start": [round(x, 2) for x in load_start],
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "runs": {"plain": plain, "resumable": resumable, "reruns": reruns},
    }
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "resume.json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
