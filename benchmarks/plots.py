"""PNG plots of the suite's JSON results (matplotlib, no display needed).

python benchmarks/plots.py [RESULTS_DIR]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; the benchmark machine has no display
import matplotlib.pyplot as plt

RESULTS = Path(__file__).resolve().parent / "results"
# The reference's stage names, keyed by ours (clean_throughput.json's stage_cpu_seconds_median).
STAGES = {
    "parse": ("split_wet_file", "split_wet_file"),
    "url dedup": ("url_dedup", "url_dedup(select_newest_page)"),
    "clean": ("clean_page", "clean_page"),
    "line dedup": ("remove_duplicate_text", "remove_duplicate_text"),
    "language": ("language", "detect_english"),
    "bad words": ("badwords", "badwords"),
}


def stage_rows(clean: dict) -> list[tuple[str, float, float]]:
    """(stage, ours MB/CPU-s, reference MB/CPU-s) for each stage both sides timed."""
    mb = clean["input"]["wet_MB"]
    ours, ref = (
        clean["ours"]["stage_cpu_seconds_median"],
        clean["reference"]["stage_cpu_seconds_median"],
    )
    rows = []
    for label, (a, b) in STAGES.items():
        if ours.get(a) and ref.get(b):
            rows.append((label, mb / ours[a], mb / ref[b]))
    rows.append(
        ("whole core", clean["ours"]["MB_per_cpu_second"], clean["reference"]["MB_per_cpu_second"])
    )
    return rows


def plot_stages(clean: dict, out: Path) -> Path:
    rows = stage_rows(clean)
    fig, ax = plt.subplots(figsize=(8, 4))
    xs = range(len(rows))
    ax.bar([x - 0.2 for x in xs], [r[1] for r in rows], 0.4, label="ours")
    ax.bar([x + 0.2 for x in xs], [r[2] for r in rows], 0.4, label="TFDS reference")
    for x, r in zip(xs, rows, strict=True):
        ax.annotate(f"{r[1] / r[2]:.1f}x", (x - 0.2, r[1]), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(list(xs), [r[0] for r in rows])
    ax.set_yscale("log")
    ax.set_ylabel("MB of WET per CPU second (log)")
    ax.set_title(f"C4 core per stage, {clean['input']['wet_MB']:g} MB, start-up excluded")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def plot_end_to_end(e2e: dict, out: Path) -> Path:
    sizes = e2e["sizes"]
    mbs = [s["wet_MB"] for s in sizes]
    fig, (cpu, mem) = plt.subplots(1, 2, figsize=(10, 4))
    for side, label in (("ours", "c4 build"), ("reference", "TFDS reference (beam)")):
        cpu.plot(mbs, [s[side]["median_cpu_seconds"] for s in sizes], "o-", label=label)
        mem.plot(mbs, [s[side]["median_peak_rss_MB"] for s in sizes], "o-", label=label)
    cpu.set_xlabel("input, MB of WET")
    cpu.set_ylabel("CPU seconds, whole process")
    cpu.set_title("End-to-end CPU time (start-up included)")
    mem.set_xlabel("input, MB of WET")
    mem.set_ylabel("peak RSS, MB")
    mem.set_title("Peak memory")
    for ax in (cpu, mem):
        ax.set_xlim(left=0)
        ax.set_ylim(bottom=0)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def plot_all(results: Path = RESULTS) -> list[Path]:
    written = []
    clean, e2e = results / "clean_throughput_suite.json", results / "end_to_end.json"
    if clean.is_file():
        written.append(plot_stages(json.loads(clean.read_text()), results / "stages.png"))
    if e2e.is_file():
        written.append(plot_end_to_end(json.loads(e2e.read_text()), results / "end_to_end.png"))
    return written


if __name__ == "__main__":
    for path in plot_all(Path(sys.argv[1]) if len(sys.argv) > 1 else RESULTS):
        print(path)
