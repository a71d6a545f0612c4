"""``c4 build`` at growing input sizes on the DirectRunner and the DaskRunner: CPU, memory, wall
time, documents kept, and the bytes every shuffle moves.

Each run is a fresh process building c4/en 3.1.0 (exact) from a synthetic-from-real corpus
(``corpus.py``, cached under ``results/tmp/``), measured like ``end_to_end.py``: CPU seconds are
user + sys of the process and every child it waited for, ``peak_rss_MB`` the largest resident set
of one process (GNU ``/usr/bin/time``). ``peak_tree_rss_MB`` adds up the resident sets of the
whole process tree, sampled every 0.2 s: the DaskRunner's memory is spread over its worker
processes, so the largest single one understates it.

* **DirectRunner**: ``c4 build --runner DirectRunner`` (one worker, in memory), run through this
  script's child mode, which counts the bytes of every shuffle before starting the build: Beam's
  FnApiRunner hands each ``GroupByKey`` (the lifted ``CombinePerKey``s, ``Reshuffle`` and
  ``CoGroupByKey`` included) encoded elements through ``GroupingBuffer.append``; each buffer is
  labelled with its GBK's transform name where ``BundleContextManager.get_buffer`` creates it.
  The bytes are the coder-encoded (windowed) key-value pairs after combiner lifting: what the
  runner groups, the stand-in for what Dataflow Shuffle would move. Counting costs one ``len``
  per bundle write.
* **DaskRunner**: ``c4 build --runner DaskRunner`` (``pipeline.runners.dask.C4DaskRunner`` on a
  ``dask.distributed`` LocalCluster with dask's default layout for this machine's cores).

Both runners' TFRecord shards are compared at each size (they must be byte-identical).

    python benchmarks/scaling.py                       # 10 40 85 200 MB, both runners
    python benchmarks/scaling.py --sizes 1000 --runners DirectRunner --merge   # + 1 GB (slow)

Writes benchmarks/results/scaling.json, scaling.md (tables, linear fits) and scaling.png.

Private Beam APIs (docs/runners.md; ``pipeline.runners.PATCHED_BEAM_VERSION``), all in the
child mode's shuffle meter (``install_shuffle_meter``; tests/benchmarks/test_scaling.py):

- ``apache_beam.runners.portability.fn_api_runner.execution.BundleContextManager.get_buffer``,
  patched to label each grouping buffer with its GBK (from the buffer id, by
  ``apache_beam.runners.portability.fn_api_runner.execution.split_buffer_id``, and the
  manager's ``execution_context.pipeline_components``);
- ``apache_beam.runners.portability.fn_api_runner.execution.GroupingBuffer.append``, patched to
  count the bytes, and ``GroupingBuffer.partition`` (with ``ChunkedGroupingBuffer.partition``),
  patched to count keys and values on first read from its ``_table`` and ``_grouped_output``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
TIME = "/usr/bin/time"  # GNU time: rusage of the command and of the children it waited for
RUNNERS = ("DirectRunner", "DaskRunner")
DEFAULT_SIZES = (10.0, 40.0, 85.0, 200.0)
VERSION = "3.1.0"
# issue 7: the DirectRunner must build 1 GB of WET in at most 2 GB of memory.
TARGET_PEAK_MB_AT_1GB = 2048.0
# issue 19: the DaskRunner (LocalCluster, 2 worker processes, cluster start included) within 2x
# of the DirectRunner with 2 workers from 40 MB to 1 GB; a Dask worker at most 2 GB at 1 GB.
TARGET_WALL_RATIO = 2.0
TARGET_WORKER_PEAK_MB_AT_1GB = 2048.0
# Input files per corpus shape of --engines: a crawl's many small files, or a few large ones.
ENGINE_SHAPES = {"many": 38, "few": 2}
TWO_WORKERS = ("--direct_num_workers", "2", "--direct_running_mode", "multi_processing")
SAMPLE_SECONDS = 0.2
RUN_TIMEOUT_SECONDS = 3 * 3600
# One thread per process (INTERFACE.md "Measuring"): per-core figures, as end_to_end.py. The
# builds, dask's worker processes included, import the tree this file is in (PYTHONPATH comes
# before the editable install), so a copy of the repository (git archive) measures that copy.
ENV = {
    **os.environ,
    "RAYON_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p),
}


# --- child mode: one DirectRunner build with its shuffles metered --------------------------------


def install_shuffle_meter(patch: Callable[[Any, str, Any], None] = setattr) -> dict[str, Any]:
    """Patch Beam's FnApiRunner so every GroupByKey buffer counts what it is given, by label.

    Returns the live totals: ``{label: {bytes, writes, elements, keys, max_values_per_key}}``;
    ``elements``, ``keys`` and ``max_values_per_key`` are filled when the group is first read.
    ``patch`` does the patching (a test passes ``monkeypatch.setattr`` to undo it after).
    """
    from apache_beam.runners.portability.fn_api_runner import execution

    from pipeline.runners import streamed_inputs

    totals: dict[str, dict[str, int]] = {}
    get_buffer = execution.BundleContextManager.get_buffer
    append = execution.GroupingBuffer.append

    def entry(buf: Any) -> dict[str, int]:
        label = getattr(buf, "_c4_label", None) or f"unlabelled-{id(buf):x}"
        return totals.setdefault(
            label,
            {"bytes": 0, "writes": 0, "elements": 0, "keys": 0, "max_values_per_key": 0},
        )

    def labelled_get_buffer(self: Any, buffer_id: bytes, transform_id: str) -> Any:
        buf = get_buffer(self, buffer_id, transform_id)
        if isinstance(buf, execution.GroupingBuffer) and not hasattr(buf, "_c4_label"):
            _, name = execution.split_buffer_id(buffer_id)
            transforms = self.execution_context.pipeline_components.transforms
            buf._c4_label = transforms[name].unique_name if name in transforms else name
        return buf

    def counting_append(self: Any, elements_data: bytes) -> None:
        stats = entry(self)
        stats["bytes"] += len(elements_data)
        stats["writes"] += 1
        append(self, elements_data)

    def counting(partition: Callable[[Any, int], Any]) -> Callable[[Any, int], Any]:
        def counting_partition(self: Any, n: int) -> Any:
            if not self._grouped_output and not hasattr(self, "_c4_counted"):
                self._c4_counted = True  # first read: the group is complete
                stats = entry(self)
                sizes = [len(values) for values in self._table.values()]
                stats["keys"] += len(sizes)
                stats["elements"] += sum(sizes)
                stats["max_values_per_key"] = max([stats["max_values_per_key"], *sizes])
            return partition(self, n)

        return counting_partition

    patch(execution.BundleContextManager, "get_buffer", labelled_get_buffer)
    patch(execution.GroupingBuffer, "append", counting_append)
    # The runner reads its groups through our chunked subclass
    # (pipeline/runners/streamed_inputs.py).
    for cls in (execution.GroupingBuffer, streamed_inputs.ChunkedGroupingBuffer):
        patch(cls, "partition", counting(cls.partition))
    return totals


def child(shuffle_json: str, build_argv: Sequence[str]) -> int:
    """``c4 build`` in this process with the shuffle meter on; the totals go to ``shuffle_json``."""
    totals = install_shuffle_meter()
    from pipeline.cli import main as c4_main

    code = c4_main(["build", *build_argv])
    Path(shuffle_json).write_text(json.dumps(totals, indent=1, sort_keys=True) + "\n")
    return code


# --- measuring -----------------------------------------------------------------------------------


def _tree_rss(pid: int, peaks: dict[int, dict[str, Any]] | None = None) -> int:
    """The summed RSS of ``pid`` and its descendants; ``peaks`` gets each process's largest RSS
    so far, its CPU seconds so far, and whether it is a dask worker."""
    import psutil

    from pipeline.runners.dask_worker import is_worker

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for proc in procs:
        with contextlib.suppress(psutil.Error):  # a process may end between listing and reading
            rss = proc.memory_info().rss
            total += rss
            if peaks is not None:
                seen = peaks.get(proc.pid)
                if seen is None:
                    parent = proc.parent()
                    worker = is_worker(
                        " ".join(proc.cmdline()), " ".join(parent.cmdline()) if parent else ""
                    )
                    seen = peaks[proc.pid] = {"rss": 0, "dask_worker": worker, "cpu": 0.0}
                seen["rss"] = max(seen["rss"], rss)
                times = proc.cpu_times()
                seen["cpu"] = times.user + times.system
    return total


def _kill_tree(pid: int) -> None:
    import psutil

    with contextlib.suppress(psutil.Error):
        root = psutil.Process(pid)
        for proc in [*root.children(recursive=True), root]:
            with contextlib.suppress(psutil.Error):
                proc.kill()


def measure(cmd: Sequence[str], log: Path, timeout: float = RUN_TIMEOUT_SECONDS) -> dict[str, Any]:
    """Run ``cmd``: CPU seconds (children included), wall, peak RSS of one process and of the
    tree, and the peak of each dask worker process (``dask_worker_peaks_MB``, largest first).

    Raises:
        SystemExit: the command failed or ran past ``timeout`` (its last stderr lines are shown).
    """
    peaks: dict[int, dict[str, Any]] = {}
    with tempfile.NamedTemporaryFile("r", suffix=".time") as stats, log.open("wb") as err:
        timed = [TIME, "-f", "%e %U %S %M", "-o", stats.name, *cmd]
        proc = subprocess.Popen(timed, env=ENV, stdout=subprocess.DEVNULL, stderr=err, cwd=REPO)
        peak, started = 0, time.monotonic()
        while proc.poll() is None:
            peak = max(peak, _tree_rss(proc.pid, peaks))
            if time.monotonic() - started > timeout:
                # A dask worker that dies can leave the client waiting forever.
                _kill_tree(proc.pid)
                proc.wait()
                tail = log.read_bytes()[-3000:].decode(errors="replace")
                raise SystemExit(f"{' '.join(cmd[:4])} ... ran past {timeout:.0f} s:\n{tail}")
            time.sleep(SAMPLE_SECONDS)
        if proc.returncode:
            tail = log.read_bytes()[-3000:].decode(errors="replace")
            raise SystemExit(f"{' '.join(cmd[:3])} ... failed ({proc.returncode}):\n{tail}")
        wall, user, system, max_kb = stats.read().split()[-4:]
    workers = sorted((p["rss"] for p in peaks.values() if p["dask_worker"]), reverse=True)
    return {
        "cpu_seconds": round(float(user) + float(system), 2),
        "wall_seconds": round(float(wall), 2),
        "peak_rss_MB": round(int(max_kb) / 1024, 1),
        "peak_tree_rss_MB": round(peak / 2**20, 1),
        "peak_process_rss_MB": round(max((p["rss"] for p in peaks.values()), default=0) / 2**20, 1),
        "dask_worker_peaks_MB": [round(rss / 2**20, 1) for rss in workers],
        # Every process seen, sampled: GNU time misses processes their parent does not wait
        # for (the dask cluster's forkserver and the workers it forks).
        "tree_cpu_seconds": round(sum(p["cpu"] for p in peaks.values()), 2),
    }


def build_command(runner: str, corpus: Path, out: Path, shuffle_json: Path) -> list[str]:
    """The command of one run: the metered child for the DirectRunner, ``c4 build`` for Dask
    (as ``python -m pipeline.cli``, the console script's function, from this tree)."""
    build = ["--input", str(corpus), "--output", str(out), "--runner", runner]
    if runner == "DirectRunner":
        return [sys.executable, str(Path(__file__).resolve()), "_child", str(shuffle_json), *build]
    return [sys.executable, "-m", "pipeline.cli", "build", *build]


def shards_digest(out: Path) -> str:
    """sha256 over the TFDS shards' names and bytes: equal digests, identical datasets."""
    digest = hashlib.sha256()
    for shard in sorted((out / "c4" / "en" / VERSION).glob("c4-*.tfrecord-*")):
        digest.update(shard.name.encode() + b"\0" + shard.read_bytes())
    return digest.hexdigest()


def run_once(
    runner: str, corpus: Path, wet_mb: float, work: Path, timeout: float = RUN_TIMEOUT_SECONDS
) -> dict[str, Any]:
    """One measured build; its figures, what it kept and (DirectRunner) its shuffles."""
    out, shuffle_json = work / f"out-{runner}", work / f"shuffle-{runner}.json"
    cmd = build_command(runner, corpus, out, shuffle_json)
    figures = measure(cmd, work / f"{runner}.log", timeout)
    stats = json.loads((out / "stats.json").read_text())
    rec = stats["reconciliation"]
    run: dict[str, Any] = {
        "runner": runner,
        "wet_MB": wet_mb,
        **figures,
        "input_records": rec["input_records"],
        "documents": rec["kept"],
        "text_MB_kept": round(sum(s["text_bytes"] for s in stats["splits"].values()) / 1e6, 3),
        "shards_sha256": shards_digest(out),
    }
    if shuffle_json.is_file():
        shuffles = json.loads(shuffle_json.read_text())
        if not shuffles:
            raise SystemExit("no GroupingBuffer seen: the DirectRunner did not use the FnApiRunner")
        run["shuffles"] = shuffles
        run["shuffle_bytes"] = sum(s["bytes"] for s in shuffles.values())
    return run


# --- --engines: the DaskRunner against the DirectRunner with two workers ------------------------


def shaped_corpus(mb: float, seed: int, shape: str, cache: Path) -> Path:
    """The corpus of ``mb`` MB cut into ``ENGINE_SHAPES[shape]`` files (a directory, cached)."""
    whole = corpus(mb, seed, cache)
    parts = ENGINE_SHAPES[shape]
    out = cache / f"corpus-{mb:g}mb-seed{seed}.{parts}-files"
    done = out.with_name(out.name + ".complete")  # not inside: c4 build reads the directory
    if not done.is_file():
        import shutil

        sys.path.insert(0, str(REPO))
        from benchmarks.corpus import split_corpus

        shutil.rmtree(out, ignore_errors=True)
        print(f"cutting {whole.name} into {parts} files ...", flush=True)
        split_corpus(whole, parts, out)
        done.write_text("")
    return out


def engine_command(runner: str, inputs: Path, out: Path) -> list[str]:
    """``c4 build`` as a user runs it: the DirectRunner with two worker processes, or the
    DaskRunner with the local cluster it starts."""
    build = ["--input", str(inputs), "--output", str(out), "--runner", runner]
    if runner == "DirectRunner":
        build += TWO_WORKERS
    return [sys.executable, "-m", "pipeline.cli", "build", *build]


def engine_run(runner: str, inputs: Path, work: Path, timeout: float) -> dict[str, Any]:
    """One measured build of ``inputs``; its figures, the load before it, what it kept."""
    out = work / f"out-{runner}"
    load = [round(x, 2) for x in os.getloadavg()]
    figures = measure(engine_command(runner, inputs, out), work / f"{runner}.log", timeout)
    stats = json.loads((out / "stats.json").read_text())
    return {
        "runner": runner,
        **figures,
        "load_average_before": load,
        "documents": stats["reconciliation"]["kept"],
        "shards_sha256": shards_digest(out),
    }


def engine_point(
    mb: float, shape: str, seed: int, work_dir: Path, timeout: float, first: str
) -> dict[str, Any]:
    """Both runners on one corpus (``first`` runs first); their wall ratio, and whether their
    shards are identical."""
    inputs = shaped_corpus(mb, seed, shape, work_dir)
    order = ["DirectRunner", "DaskRunner"]
    if first == "DaskRunner":
        order.reverse()
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        runs = {runner: engine_run(runner, inputs, Path(tmp), timeout) for runner in order}
    direct, dask = runs["DirectRunner"], runs["DaskRunner"]
    return {
        "wet_MB": wet_mb(corpus(mb, seed, work_dir)),
        "shape": shape,
        "files": ENGINE_SHAPES[shape],
        "direct": direct,
        "dask": dask,
        "wall_ratio": round(dask["wall_seconds"] / direct["wall_seconds"], 2),
        "identical": direct["shards_sha256"] == dask["shards_sha256"],
    }


def merge_engines(previous: list[dict[str, Any]], fresh: list[dict[str, Any]]) -> list[dict]:
    """``previous`` points not measured again, then ``fresh``; sorted by size and shape."""
    done = {(round(p["wet_MB"]), p["shape"]) for p in fresh}
    kept = [p for p in previous if (round(p["wet_MB"]), p["shape"]) not in done]
    return sorted(kept + fresh, key=lambda p: (p["wet_MB"], p["files"]))


def engine_target(points: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """issue 19's two targets over ``points``: the wall ratio from 40 MB on, and the largest
    Dask worker at 1 GB (None when not measured)."""
    ranged = [p for p in points if p["wet_MB"] >= 40 - 0.5]
    worst = max(ranged, key=lambda p: p["wall_ratio"], default=None)
    at_1gb = [p for p in points if p["wet_MB"] >= 1000 - 0.5]
    worker_peak = max(
        (max(p["dask"]["dask_worker_peaks_MB"], default=0.0) for p in at_1gb), default=None
    )
    return {
        "points_from_40MB": len(ranged),
        "within_ratio": sum(p["wall_ratio"] <= TARGET_WALL_RATIO for p in ranged),
        "worst_ratio": worst["wall_ratio"] if worst else None,
        "worst_at": f"{worst['wet_MB']:g} MB, {worst['files']} files" if worst else None,
        "worker_peak_MB_at_1GB": worker_peak,
    }


def _cpu(run: dict[str, Any]) -> float:
    """CPU-s of every process of a run (sampled), else GNU time's (waited-for processes)."""
    return float(run.get("tree_cpu_seconds", run["cpu_seconds"]))


def render_engines(engines: dict[str, Any]) -> list[str]:
    """The generated section of ``--engines``: one row per (size, shape), and the targets."""
    meta, points = engines["meta"], engines["points"]
    code = _code_label(meta["git"])
    lines = [
        "## DaskRunner against the DirectRunner with two workers (issue 19)",
        "",
        f"Generated by `{meta['command']}` on {meta['date_utc'][:10]} (code {code}; "
        f"{meta['machine']['cpus']} CPUs, {meta['machine']['memory_GB']} GB). `c4 build` of "
        f"c4/en {VERSION} as a user runs it: DirectRunner `{' '.join(TWO_WORKERS)}`; "
        "DaskRunner with no flag (the local cluster it starts: 2 worker processes of 1 thread, "
        "its start in the wall time). The two runs of a point one after the other; wall in "
        "seconds; peak per Dask worker = the largest RSS of each worker process (psutil, every "
        f"{SAMPLE_SECONDS} s); largest process = the largest RSS of any one process of the run; "
        "CPU-s = user + sys of every process of the run (psutil, sampled); load = the 1-minute "
        "load average before each run (Direct / Dask).",
        "",
        "| WET MB | files | Direct wall s | Dask wall s | Dask / Direct | Dask peak per worker "
        "MB | Direct largest process MB | CPU-s Direct / Dask | load | shards identical |",
        "|---:|---:|---:|---:|---:|---|---:|---:|---|---|",
    ]
    for p in points:
        d, k = p["direct"], p["dask"]
        workers = ", ".join(f"{mb:.0f}" for mb in k["dask_worker_peaks_MB"]) or "-"
        lines.append(
            f"| {p['wet_MB']:.0f} | {p['files']} | {d['wall_seconds']:.1f} | "
            f"{k['wall_seconds']:.1f} | {p['wall_ratio']:.2f} | {workers} | "
            f"{d['peak_process_rss_MB']:.0f} | {_cpu(d):.0f} / {_cpu(k):.0f} | "
            f"{d['load_average_before'][0]:.1f} / {k['load_average_before'][0]:.1f} | "
            f"{'yes' if p['identical'] else 'NO'} |"
        )
    t = engine_target(points)
    lines.append("")
    if t["points_from_40MB"]:
        lines.append(
            f"Wall within {TARGET_WALL_RATIO:g}x of the DirectRunner with two workers from 40 MB: "
            f"{t['within_ratio']} of {t['points_from_40MB']} points (worst "
            f"{t['worst_ratio']:.2f}, {t['worst_at']})."
        )
    if t["worker_peak_MB_at_1GB"] is None:
        lines.append("Dask worker peak at 1 GB: not measured (`--sizes 1000`).")
    else:
        met = t["worker_peak_MB_at_1GB"] <= TARGET_WORKER_PEAK_MB_AT_1GB
        lines.append(
            f"Dask worker peak at 1 GB: {t['worker_peak_MB_at_1GB']:.0f} MB (target <= "
            f"{TARGET_WORKER_PEAK_MB_AT_1GB:.0f} MB, {'met' if met else 'NOT met'})."
        )
    return lines


# --- fits and summaries (pure) -------------------------------------------------------------------


def linear_fit(xs: Sequence[float], ys: Sequence[float]) -> dict[str, float] | None:
    """Least squares ``y = a + b x``: intercept, slope and R^2; None under two distinct x."""
    if len(set(xs)) < 2:
        return None
    slope, intercept = statistics.linear_regression(xs, ys)
    mean = statistics.fmean(ys)
    ss_tot = sum((y - mean) ** 2 for y in ys)
    ss_res = sum((y - (intercept + slope * x)) ** 2 for x, y in zip(xs, ys, strict=True))
    return {
        "a": round(intercept, 3),
        "b": round(slope, 5),
        "r2": round(1 - ss_res / ss_tot, 4) if ss_tot else 1.0,
    }


FIT_KEYS = ("cpu_seconds", "wall_seconds", "peak_rss_MB", "peak_tree_rss_MB", "shuffle_bytes")


def fits(runs: Sequence[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """Per runner, a linear fit on input MB of each measured figure."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for runner in sorted({r["runner"] for r in runs}):
        mine = [r for r in runs if r["runner"] == runner]
        per_key = {}
        for key in FIT_KEYS:
            have = [r for r in mine if key in r]
            fit = linear_fit([r["wet_MB"] for r in have], [float(r[key]) for r in have])
            if fit is not None:
                per_key[key] = fit
        out[runner] = per_key
    return out


def shuffle_table(runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per shuffle label, over the DirectRunner runs: bytes per input byte at each size, and the
    keys and largest group of the largest run."""
    direct = sorted((r for r in runs if "shuffles" in r), key=lambda r: r["wet_MB"])
    if not direct:
        return []
    labels = sorted({label for r in direct for label in r["shuffles"]})
    largest = direct[-1]
    rows = []
    for label in labels:
        per_size = {}
        for r in direct:
            s = r["shuffles"].get(label)
            per_size[f"{r['wet_MB']:g}"] = round(s["bytes"] / (r["wet_MB"] * 1e6), 4) if s else 0.0
        big = largest["shuffles"].get(label, {})
        rows.append(
            {
                "shuffle": label,
                "bytes_per_input_byte": per_size,
                "MB_at_largest": round(big.get("bytes", 0) / 1e6, 2),
                "elements_at_largest": big.get("elements", 0),
                "keys_at_largest": big.get("keys", 0),
                "max_values_per_key_at_largest": big.get("max_values_per_key", 0),
            }
        )
    return sorted(rows, key=lambda row: -row["MB_at_largest"])


def _fmt_fit(fit: dict[str, float] | None, unit: str) -> str:
    if not fit:
        return "n/a"
    return f"{fit['a']:.1f} + {fit['b']:.4g} x MB {unit} (R^2 {fit['r2']:.3f})"


def render_markdown(result: dict[str, Any]) -> str:
    """The generated page: the runs, the fits, and every shuffle's bytes per input byte."""
    runs = sorted(result["runs"], key=lambda r: (r["runner"], r["wet_MB"]))
    code = _code_label(result["git"])
    lines = [
        "# `c4 build` scaling: DirectRunner and DaskRunner",
        "",
        f"Generated by `{result['command']}` on {result['date_utc'][:10]} "
        f"(code {code}"
        f"; {result['machine']['cpus']} CPUs, {result['machine']['memory_GB']} GB). c4/en "
        f"{VERSION}, synthetic-from-real corpora (`benchmarks/corpus.py`, seed {result['seed']}); "
        "MB = 10^6 decompressed WET bytes. One run per point; CPU-s = user + sys, children "
        "included; peak = largest single process (GNU time); tree peak = sum over the process "
        "tree, sampled every 0.2 s. DaskRunner: "
        f"{result['dask_cluster']}.",
        "",
        "| runner | WET MB | docs kept | CPU-s | wall s | peak MB | tree peak MB | "
        "shuffled MB | shuffled / input |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        shuffled = r.get("shuffle_bytes")
        lines.append(
            f"| {r['runner']} | {r['wet_MB']:.1f} | {r['documents']:,} | {r['cpu_seconds']:.1f} "
            f"| {r['wall_seconds']:.1f} | {r['peak_rss_MB']:.0f} | {r['peak_tree_rss_MB']:.0f} | "
            + (
                f"{shuffled / 1e6:.1f} | {shuffled / (r['wet_MB'] * 1e6):.3f} |"
                if shuffled is not None
                else "- | - |"
            )
        )
    lines += ["", "Linear fits on input MB (a = start-up, b = per MB of WET):", ""]
    for runner, per_key in result["fits"].items():
        lines.append(
            f"- {runner}: CPU-s = {_fmt_fit(per_key.get('cpu_seconds'), 'CPU-s')}; "
            f"peak = {_fmt_fit(per_key.get('peak_rss_MB'), 'MB')}; "
            f"tree peak = {_fmt_fit(per_key.get('peak_tree_rss_MB'), 'MB')}"
        )
        if "shuffle_bytes" in per_key:
            b = per_key["shuffle_bytes"]["b"] / 1e6
            lines[-1] += f"; shuffled = {b:.3f} MB per MB of input"
    lines += ["", _target_line(result), ""]
    table = result.get("shuffle_table") or []
    if table:
        sizes = list(table[0]["bytes_per_input_byte"])
        lines += [
            "Bytes each shuffle moves per byte of input (DirectRunner, after combiner lifting; "
            "= GB shuffled per GB of WET), and the group sizes of the largest run:",
            "",
            "| shuffle | " + " | ".join(f"{s} MB" for s in sizes) + " | MB (largest) | "
            "elements | keys | largest group |",
            "|---|" + "---:|" * (len(sizes) + 4),
        ]
        for row in table:
            ratios = " | ".join(f"{row['bytes_per_input_byte'][s]:.4f}" for s in sizes)
            lines.append(
                f"| `{row['shuffle']}` | {ratios} | {row['MB_at_largest']:.2f} | "
                f"{row['elements_at_largest']:,} | {row['keys_at_largest']:,} | "
                f"{row['max_values_per_key_at_largest']:,} |"
            )
        lines.append("")
    mismatched = [s for s, ok in result.get("identical_across_runners", {}).items() if not ok]
    checked = ", ".join(result.get("identical_across_runners", {})) or "none"
    lines.append(
        f"TFRecord shards identical across runners at: {checked} MB"
        + (f"; DIFFERENT at {', '.join(mismatched)} MB" if mismatched else ".")
    )
    if result.get("engines"):
        lines += ["", *render_engines(result["engines"])]
    return "\n".join(lines) + "\n"


def _target_line(result: dict[str, Any]) -> str:
    """issue 7's target (DirectRunner peak <= 2 GB at 1 GB of WET): measured, or extrapolated."""
    direct = [r for r in result["runs"] if r["runner"] == "DirectRunner"]
    big = [r for r in direct if r["wet_MB"] >= 1000]
    target = f"DirectRunner peak <= {TARGET_PEAK_MB_AT_1GB:.0f} MB at 1,000 MB (issue 7)"
    if big:
        r = min(big, key=lambda r: r["wet_MB"])
        met = "met" if r["peak_rss_MB"] <= TARGET_PEAK_MB_AT_1GB else "NOT met"
        return f"{target}: measured {r['peak_rss_MB']:.0f} MB at {r['wet_MB']:.0f} MB, {met}."
    fit = result["fits"].get("DirectRunner", {}).get("peak_rss_MB")
    if not fit:
        return f"{target}: not measured."
    at = fit["a"] + fit["b"] * 1000
    return (
        f"{target}: not measured here (`--sizes 1000`); the fit extrapolates {at:.0f} MB, "
        f"{'within' if at <= TARGET_PEAK_MB_AT_1GB else 'over'} the target."
    )


def plot(result: dict[str, Any], out: Path) -> Path:
    """CPU seconds and peak memory against input MB, both runners, with their fits."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"DirectRunner": "tab:blue", "DaskRunner": "tab:orange"}
    fig, (cpu, mem) = plt.subplots(1, 2, figsize=(10, 4))
    for runner in sorted({r["runner"] for r in result["runs"]}):
        rs = sorted((r for r in result["runs"] if r["runner"] == runner), key=lambda r: r["wet_MB"])
        mbs = [r["wet_MB"] for r in rs]
        color = colors.get(runner)
        cpu.plot(mbs, [r["cpu_seconds"] for r in rs], "o-", color=color, label=runner)
        mem.plot(
            mbs, [r["peak_rss_MB"] for r in rs], "o-", color=color, label=f"{runner}, one process"
        )
        if runner == "DaskRunner":
            tree = [r["peak_tree_rss_MB"] for r in rs]
            mem.plot(mbs, tree, "s--", color=color, label=f"{runner}, all processes")
    cpu.set_ylabel("CPU seconds (user + sys, children included)")
    cpu.set_title("CPU")
    mem.set_ylabel("peak RSS, MB")
    mem.set_title("Peak memory")
    for ax in (cpu, mem):
        ax.set_xlabel("input, MB of decompressed WET")
        ax.set_xlim(left=0)
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=8)
    fig.suptitle(f"c4 build c4/en {VERSION}, {result['date_utc'][:10]}")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


# --- the series ----------------------------------------------------------------------------------


def _code_label(git: dict[str, Any]) -> str:
    """``_git``'s answer as the generated pages name the code: a short commit, + local changes."""
    return git["commit"][:10] + (" + local changes" if git["dirty"] else "")


def _git(code_rev: str | None = None) -> dict[str, Any]:
    """The measured code: this checkout's commit and whether it has local changes; for a copy
    that is no checkout (``git archive``), ``code_rev`` says what it is."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "HEAD")
    if not commit:
        return {"commit": code_rev or "unknown", "dirty": False, "checkout": False}
    changed = [line[3:] for line in git("status", "--porcelain").splitlines() if line]
    return {"commit": commit, "dirty": bool(changed), "checkout": True}


def _dask_cluster() -> str:
    from distributed.deploy.utils import nprocesses_nthreads

    procs, threads = nprocesses_nthreads(os.cpu_count() or 1)
    return f"LocalCluster, {procs} worker processes x {threads} thread(s) (dask's default here)"


def corpus(mb: float, seed: int, cache: Path) -> Path:
    """The cached corpus of ``mb`` MB (written once, byte-identical on every machine)."""
    path = cache / f"corpus-{mb:g}mb-seed{seed}.warc.wet.gz"
    if not path.is_file():
        sys.path.insert(0, str(REPO))
        from benchmarks.corpus import write_corpus

        print(f"writing {path.name} ...", flush=True)
        write_corpus(path, mb, seed)
    return path


def wet_mb(path: Path) -> float:
    import gzip

    total = 0
    with gzip.open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            total += len(block)
    return round(total / 1e6, 3)


def summarize(runs: list[dict[str, Any]], args: argparse.Namespace, command: str) -> dict[str, Any]:
    """The JSON document: every run, fits, the shuffle table and the cross-runner check."""
    by_size: dict[str, dict[str, str]] = {}
    for r in runs:
        by_size.setdefault(f"{r['wet_MB']:g}", {})[r["runner"]] = r["shards_sha256"]
    return {
        "benchmark": "scaling",
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": command,
        "c4_version": VERSION,
        "config": "en",
        "seed": args.seed,
        "git": _git(args.code_rev),
        "dask_cluster": _dask_cluster(),
        "threads": {"RAYON_NUM_THREADS": "1"},
        "runs": sorted(runs, key=lambda r: (r["runner"], r["wet_MB"])),
        "fits": fits(runs),
        "shuffle_table": shuffle_table(runs),
        "identical_across_runners": {
            size: len(set(d.values())) == 1 for size, d in by_size.items() if len(d) > 1
        },
        "machine": _machine(),
    }


def _machine() -> dict[str, Any]:
    import psutil

    return {
        "cpus": os.cpu_count(),
        "memory_GB": round(psutil.virtual_memory().total / 2**30, 1),
        "python": sys.version.split()[0],
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def write_outputs(result: dict[str, Any], output: Path, with_plot: bool = True) -> list[Path]:
    """scaling.json, scaling.md and (optionally) scaling.png next to each other."""
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=1) + "\n")
    md = output.with_suffix(".md")
    md.write_text(render_markdown(result))
    written = [output, md]
    if with_plot:
        written.append(plot(result, output.with_suffix(".png")))
    return written


def _merge(previous: Path, runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Earlier runs of ``previous`` for (runner, size) pairs not re-measured now, then ours."""
    if not previous.is_file():
        return runs
    fresh = {(r["runner"], round(r["wet_MB"])) for r in runs}
    kept = [
        r
        for r in json.loads(previous.read_text())["runs"]
        if (r["runner"], round(r["wet_MB"])) not in fresh
    ]
    return kept + runs


def main(argv: list[str] | None = None, log: Callable[[str], None] = print) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--sizes",
        type=float,
        nargs="+",
        default=list(DEFAULT_SIZES),
        help="input sizes, MB of decompressed WET (add 1000 for issue 7's 1 GB point: slow)",
    )
    ap.add_argument("--runners", nargs="+", choices=RUNNERS, default=list(RUNNERS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--output", type=Path, default=RESULTS / "scaling.json")
    ap.add_argument("--work_dir", type=Path, default=RESULTS / "tmp", help="corpora and scratch")
    ap.add_argument("--merge", action="store_true", help="keep --output's other runs")
    ap.add_argument("--no_plot", action="store_true")
    ap.add_argument(
        "--code_rev", default=None, help="the commit of this copy, when it is no git checkout"
    )
    ap.add_argument(
        "--timeout", type=float, default=RUN_TIMEOUT_SECONDS, help="seconds per build, then fail"
    )
    ap.add_argument(
        "--engines",
        action="store_true",
        help="the DaskRunner against the DirectRunner with 2 workers, each size in many small "
        "and few large files (the other runs of --output are kept)",
    )
    ap.add_argument("--shapes", nargs="+", choices=sorted(ENGINE_SHAPES), default=["many", "few"])
    args = ap.parse_args(argv)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    shown = " ".join(argv if argv is not None else sys.argv[1:])
    command = f"python benchmarks/scaling.py {shown}".strip()
    if args.engines:
        return engines_main(args, command, log)

    runs = []
    for mb in sorted(args.sizes):
        path = corpus(mb, args.seed, args.work_dir)
        real_mb = wet_mb(path)
        with tempfile.TemporaryDirectory(dir=args.work_dir) as tmp:
            for runner in args.runners:
                run = run_once(runner, path, real_mb, Path(tmp), args.timeout)
                runs.append(run)
                shuffled = run.get("shuffle_bytes")
                log(
                    f"{runner:12} {real_mb:8.1f} MB: {run['cpu_seconds']:7.1f} CPU-s "
                    f"{run['wall_seconds']:7.1f} s wall, peak {run['peak_rss_MB']:6.0f} MB "
                    f"(tree {run['peak_tree_rss_MB']:.0f}), {run['documents']} docs"
                    + (f", shuffled {shuffled / 1e6:.1f} MB" if shuffled is not None else "")
                )
    if args.merge:
        runs = _merge(args.output, runs)
    result = summarize(runs, args, command)
    if args.output.is_file():  # the --engines points stay
        previous = json.loads(args.output.read_text()).get("engines")
        if previous:
            result["engines"] = previous
    for path in write_outputs(result, args.output, with_plot=not args.no_plot):
        log(f"-> {path}")
    different = [s for s, ok in result["identical_across_runners"].items() if not ok]
    if different:
        log(f"runners disagree at {', '.join(different)} MB: the outputs must be identical")
        return 1
    return 0


def engines_main(args: argparse.Namespace, command: str, log: Callable[[str], None]) -> int:
    """``--engines``: measure each (size, shape), keep ``--output``'s other contents, rewrite
    it and its Markdown; 1 when a point's runners disagree."""
    points = []
    for i, (mb, shape) in enumerate(
        (mb, shape) for mb in sorted(args.sizes) for shape in args.shapes
    ):
        first = "DirectRunner" if i % 2 == 0 else "DaskRunner"
        point = engine_point(mb, shape, args.seed, args.work_dir, args.timeout, first)
        points.append(point)
        d, k = point["direct"], point["dask"]
        log(
            f"{point['wet_MB']:8.1f} MB in {point['files']:2d} files: "
            f"Direct {d['wall_seconds']:6.1f} s, Dask {k['wall_seconds']:6.1f} s "
            f"({point['wall_ratio']:.2f}x), Dask workers "
            f"{k['dask_worker_peaks_MB']} MB, load {d['load_average_before'][0]:.1f}/"
            f"{k['load_average_before'][0]:.1f}, identical: {point['identical']}"
        )
    base = json.loads(args.output.read_text()) if args.output.is_file() else None
    if base is None:
        base = summarize([], args, command)
    previous = (base.get("engines") or {}).get("points", [])
    base["engines"] = {
        "meta": {
            "command": command,
            "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "git": _git(args.code_rev),
            "machine": _machine(),
        },
        "points": merge_engines(previous, points),
        "target": {},
    }
    base["engines"]["target"] = engine_target(base["engines"]["points"])
    for path in write_outputs(base, args.output, with_plot=False):
        log(f"-> {path}")
    return 0 if all(p["identical"] for p in points) else 1


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "_child":
        sys.path.insert(0, str(REPO))
        sys.exit(child(sys.argv[2], sys.argv[3:]))
    sys.exit(main())
