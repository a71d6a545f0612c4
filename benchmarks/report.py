"""The Markdown table of a results directory (what docs/benchmarks.md quotes).

python benchmarks/report.py [RESULTS_DIR]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.plots import stage_rows

RESULTS = Path(__file__).resolve().parent / "results"


def _load(results: Path, name: str) -> dict[str, Any] | None:
    path = results / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def render(results: Path = RESULTS) -> str:
    out: list[str] = []
    clean = _load(results, "clean_throughput_suite")
    if clean:
        reps = len(clean["ours"]["cpu_seconds"]), len(clean["reference"]["cpu_seconds"])
        out += [
            f"Per stage, {clean['input']['wet_MB']:g} MB of WET, CPU time, start-up excluded, "
            f"medians of {reps[0]} (ours) and {reps[1]} (reference) runs; outputs identical "
            f"({clean['documents']} documents).",
            "",
            "| stage | ours MB/CPU-s | reference MB/CPU-s | ratio |",
            "|---|---:|---:|---:|",
        ]
        out += [f"| {s} | {a:.1f} | {b:.2f} | {a / b:.1f}x |" for s, a, b in stage_rows(clean)]
        out.append("")
    parse = _load(results, "parse_baseline")
    if parse:
        out += [
            f"Parsing, {parse['wet_MB']:g} MB: bare gzip + split "
            f"{parse['bare_gzip_split']['MB_per_cpu_second']:.0f} MB/CPU-s, ours "
            f"{parse['ours_iter_wet_path']['MB_per_cpu_second']:.0f} MB/CPU-s: "
            f"{parse['ratio_ours_over_bare']:.2f}x the floor (target <= 2x).",
            "",
        ]
    mask = _load(results, "mask_throughput")
    if mask:
        out += [
            "Span corruption: ours "
            f"{mask['mask_ours']['tokens_per_cpu_second']:,.0f} tokens/CPU-s, "
            f"T5 (tf.data) {mask['mask_t5_tf']['tokens_per_cpu_second']:,.0f}: "
            f"{mask['speedup']:.1f}x, tokenization excluded (the same token ids on both sides); "
            f"{mask.get('speedup_with_tokens', mask['speedup']):.1f}x with the same tokenization "
            f"counted on both; tokenization {mask['tokenize']['mb_per_cpu_second']:.2f} MB/CPU-s.",
            "",
        ]
    e2e = _load(results, "end_to_end")
    if e2e:
        out += [
            f"Whole process, start-up included (medians of {e2e['reps']} runs of ours, "
            f"{e2e['reference_reps']} of the reference; every run of ours identical to the "
            "reference):",
            "",
            "| WET MB | ours CPU-s | ours peak MB | reference CPU-s | reference peak MB | ratio |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        for s in e2e["sizes"]:
            o, r = s["ours"], s["reference"]
            out.append(
                f"| {s['wet_MB']:g} | {o['median_cpu_seconds']:.1f} "
                f"| {o['median_peak_rss_MB']:.0f} | {r['median_cpu_seconds']:.1f} "
                f"| {r['median_peak_rss_MB']:.0f} "
                f"| {s['cpu_speedup']:.2f}x |"
            )
        fit = e2e["fit_cpu_seconds"]
        if fit.get("ours"):
            out += [
                "",
                f"Linear fit, CPU-s = a + b x MB: ours a = {fit['ours']['intercept']:.1f}, "
                f"b = {fit['ours']['per_MB']:.3f} (R^2 {fit['ours']['r2']:.3f}); reference "
                f"a = {fit['reference']['intercept']:.1f}, b = {fit['reference']['per_MB']:.3f} "
                f"(R^2 {fit['reference']['r2']:.3f}). Peak memory slope, ours: "
                f"{e2e['fit_peak_rss_MB']['ours']['per_MB']:.2f} MB per MB of WET.",
            ]
        w = e2e["workers"]
        walls = {k: v["median_wall_seconds"] for k, v in w["by_workers"].items()}
        out += [
            "",
            f"DirectRunner workers on {w['wet_MB']:g} MB in {w.get('files', 1)} file(s) "
            f"({w['mode']}; outputs byte-identical): 1 worker "
            f"{walls['1']:.1f} s wall, 2 workers {walls['2']:.1f} s: "
            f"{w['wall_speedup_2_over_1']:.2f}x (target >= 1.7x), "
            f"{w.get('cpu_2_over_1', 0):.2f}x the CPU time.",
        ]
        halves = w.get("independent_halves")
        if halves:
            out.append(
                "Two independent one-worker builds on half of the files each, at once instead "
                f"of one after the other: {halves['median_speedup']:.2f}x (the machine's own "
                "two-core speed-up on this work)."
            )
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(render(Path(sys.argv[1]) if len(sys.argv) > 1 else RESULTS))
