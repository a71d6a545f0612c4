#!/usr/bin/env python3
"""Runs this harness and another one (the same CLI) on the same WET files and compares them.

For each input set (each file alone, then all of them together in the order given), each C4
version and each runner: both harnesses write JSONL and stats JSON; the JSONL must be
byte-identical. The stats JSON cannot be: both record timings, local paths and their own
descriptions of themselves, and two runs of one harness already differ in the timings. So the
stats are compared on everything else (``comparable``): dumped canonically, their sha256 must
be equal. Prints a Markdown table and writes ``summary.json`` into ``--out``.

Run: python3 tests/reference/crosscheck.py --other SHARED_REFERENCE_DIR \\
        --other-python ~/.cache/c4-reference/venv/bin/python --out /tmp/crosscheck WET...
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

if not __package__:  # run as a script: make the package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.reference import pins

VERSIONS = ("3.1.0", "2.2.0", "1.0.0")
RUNNERS = ("inline", "beam")
TIMINGS = (
    "pipeline_seconds",
    "process_wall_seconds",
    "docs_per_s",
    "input_file_MB_per_s",
    "input_wet_uncompressed_MB_per_s",
    "input_prep_seconds(not in pipeline time)",
)
# Free text each harness writes about itself, and how each names its Beam runner.
DESCRIPTIONS = ("shims", "old_apis_present_no_shim", "builder_module_names_skipped")


def comparable(stats: dict[str, Any]) -> dict[str, Any]:
    """The stats without timings, local paths and self-descriptions."""
    out = {k: v for k, v in stats.items() if k not in TIMINGS + DESCRIPTIONS}
    out.pop("nltk_data", None)
    out["options"] = {k: v for k, v in stats["options"].items() if k != "badwords"}
    out["inputs"] = [{k: v for k, v in i.items() if k != "path"} for i in stats["inputs"]]
    if stats.get("inline_stage_timings"):
        out["inline_stage_timings"] = [
            {k: v for k, v in s.items() if k != "seconds"} for s in stats["inline_stage_timings"]
        ]
    if "determinism" in stats:
        url_dedup = {k: v for k, v in stats["determinism"]["url_dedup"].items()}
        url_dedup.pop("rule_text")
        if stats["runner"] == "beam":
            url_dedup.pop("rule")
        out["determinism"] = {"url_dedup": url_dedup}
    return out


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def command(
    python: str, folder: Path, names: tuple[str, str], version: str, runner: str
) -> list[str]:
    if version == "3.1.0":
        return [python, str(folder / names[0]), "--runner", runner]
    return [python, str(folder / names[1]), "--version", version, "--runner", runner]


def run_one(cmd: list[str], wet: list[str], out: Path) -> dict[str, Any]:
    jsonl, stats = out.parent / f"{out.name}.jsonl", out.parent / f"{out.name}.stats.json"
    start = time.monotonic()
    subprocess.run(
        [*cmd, "-o", str(jsonl), "--stats-json", str(stats), "--quiet", *wet],
        check=True,
        capture_output=True,
        text=True,
    )
    data = json.loads(stats.read_text(encoding="utf-8"))
    canonical = json.dumps(comparable(data), sort_keys=True, ensure_ascii=False).encode()
    return {
        "command": " ".join([*cmd, "-o", jsonl.name, "--stats-json", stats.name, "--quiet"]),
        "jsonl_sha256": sha256(jsonl.read_bytes()),
        "docs": data["docs_out"],
        "stats_sha256": sha256(stats.read_bytes()),
        "stats_comparable_sha256": sha256(canonical),
        "seconds": round(time.monotonic() - start, 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("wet", nargs="+")
    ap.add_argument("--other", required=True, type=Path, help="the other harnesses' folder")
    ap.add_argument("--other-python", required=True)
    ap.add_argument(
        "--other-names", nargs=2, default=("tfds_c4_reference.py", "tfds_c4_legacy_reference.py")
    )
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    wet = [str(Path(w).resolve()) for w in args.wet]
    sets = [[w] for w in wet] + ([wet] if len(wet) > 1 else [])
    ours = (str(pins.venv_python()), pins.HERE, ("c4_reference.py", "c4_legacy_reference.py"))
    theirs = (args.other_python, args.other.resolve(), tuple(args.other_names))

    jobs = []
    for files in sets:
        label = Path(files[0]).name.split(".warc")[0] if len(files) == 1 else "all"
        for version in VERSIONS:
            for runner in RUNNERS:
                for side, (py, folder, names) in (("ours", ours), ("theirs", theirs)):
                    cmd = command(py, folder, names, version, runner)
                    out = args.out / f"{label}-{version}-{runner}-{side}"
                    jobs.append(((label, version, runner, side), cmd, files, out))
    with ThreadPoolExecutor(args.jobs) as pool:
        results = dict(
            zip(
                [j[0] for j in jobs],
                pool.map(lambda j: run_one(j[1], j[2], j[3]), jobs),
                strict=True,
            )
        )
    rows, summary, ok = [], [], True
    for label, version, runner, side in results:
        if side != "ours":
            continue
        a, b = results[label, version, runner, "ours"], results[label, version, runner, "theirs"]
        same_docs = a["jsonl_sha256"] == b["jsonl_sha256"]
        same_stats = a["stats_comparable_sha256"] == b["stats_comparable_sha256"]
        ok &= same_docs and same_stats
        summary.append(
            {"input": label, "version": version, "runner": runner, "ours": a, "theirs": b}
        )
        verdict = {True: "identical", False: "DIFFERENT"}
        rows.append(
            f"| {label} | {version} | {runner} | {a['docs']} | `{a['jsonl_sha256'][:16]}` | "
            f"{verdict[same_docs]} | `{a['stats_comparable_sha256'][:16]}` | "
            f"{verdict[same_stats]} |"
        )
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    print("| input | version | runner | docs | JSONL sha256 | JSONL | stats* sha256 | stats* |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print("all identical" if ok else "DIFFERENCES FOUND")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
