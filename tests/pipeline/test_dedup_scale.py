"""Hot keys: one line in 10^6 pages costs one vote per bundle, because the combiner lifts.

The dedup owner table is ``CombinePerKey(VoteRowsCombineFn)`` over vote buckets (a CombineFn,
not a GroupByKey): its graph says so, and a run with one key voted 10^6 times stays within a
bounded memory (measured as the peak RSS of a fresh process, against the same process with 1,000
votes).

Private Beam APIs (docs/runners.md; ``pipeline.runners.PATCHED_BEAM_VERSION``):

- ``apache_beam.portability.api.beam_runner_api_pb2.CombinePayload``: the graph's combine.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap
from pathlib import Path

import apache_beam as beam
import pytest

from filters.spec import resolve_rules
from pipeline.transforms import vote_rows
from pipeline.transforms.dedup import DedupText, VoteRowsCombineFn, vote_buckets

HOT_SCRIPT = textwrap.dedent(
    """
    import hashlib, resource, sys, time
    import apache_beam as beam
    from pipeline.transforms import vote_rows
    from pipeline.transforms.dedup import VoteRowsCombineFn

    N = int(sys.argv[1])
    LINE = hashlib.md5(b"the same line in every page.").digest()

    def votes(i):
        n = N // 100
        owners = [hashlib.md5(b"%d-%d" % (i, j)).digest() for j in range(n)]
        yield 0, vote_rows.to_bytes(vote_rows.rows_of([LINE] * n, owners, [1] * n))

    def check(kv):
        (row,) = vote_rows.from_bytes(kv[1])
        assert row["total"] == N and row["owner_count"] == 1, row

    t = time.time()
    with beam.Pipeline() as p:
        (p | beam.Create(range(100)) | beam.FlatMap(votes)
           | beam.CombinePerKey(VoteRowsCombineFn()) | beam.Map(check))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"{rss} {time.time() - t:.1f}")
    """
)


def _run_hot(n: int, tmp: Path) -> tuple[int, float]:
    script = tmp / "hot.py"
    script.write_text(HOT_SCRIPT)
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, str(script), str(n)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=repo,
        env={"PYTHONPATH": str(repo), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rss, secs = done.stdout.split()[-2:]
    return int(rss), float(secs)


def test_dedup_owner_table_is_a_liftable_combine_per_key() -> None:
    p = beam.Pipeline()
    pages = p | beam.Create([])
    _ = pages | "DedupText" >> DedupText(resolve_rules("en", "3.1.0"))
    proto = p.to_runner_api()
    combines = [
        t
        for t in proto.components.transforms.values()
        if t.spec.urn == "beam:transform:combine_per_key:v1"
        and t.unique_name.startswith("DedupText/SmallestOwner")
    ]
    assert len(combines) == 1
    payload = beam.portability.api.beam_runner_api_pb2.CombinePayload.FromString(
        combines[0].spec.payload
    )
    # A Python CombineFn (not a GroupByKey + ParDo): what runners lift.
    assert payload.combine_fn.urn == "beam:combinefn:pickled_python:v1"
    group_by_keys = [
        t
        for t in proto.components.transforms.values()
        if t.spec.urn == "beam:transform:group_by_key:v1"
        and t.unique_name.startswith("DedupText/SmallestOwner")
        and not t.subtransforms
    ]
    # The GroupByKey inside the composite is what non-lifting runners fall back to; with lifting
    # it receives one accumulator per key and bundle.
    assert len(group_by_keys) == 1


def test_vote_tables_merge_in_any_order() -> None:
    fn = VoteRowsCombineFn()
    owners = [hashlib.md5(str(i).encode()).digest() for i in range(50)] + [bytes(16)]
    tables = [vote_rows.to_bytes(vote_rows.rows_of([b"k" * 16], [o], [1])) for o in owners]
    tables.append(vote_rows.to_bytes(vote_rows.rows_of([b"k" * 16], [bytes(16)], [2])))
    one = fn.extract_output(
        fn.merge_accumulators([fn.add_input(fn.create_accumulator(), t) for t in tables])
    )
    acc = fn.create_accumulator()
    for t in reversed(tables):
        acc = fn.add_input(acc, t)
    assert one == fn.extract_output(acc)
    (row,) = vote_rows.from_bytes(one)
    assert (int(row["o0"]), int(row["o1"]), row["owner_count"], row["total"]) == (0, 0, 3, 53)
    assert fn.extract_output(fn.merge_accumulators([])) == b""


def test_vote_buckets_grow_with_the_input_and_stay_bounded() -> None:
    assert vote_buckets(1) == 8
    assert vote_buckets(64_000) == 512_000
    assert vote_buckets(10**6) == 1 << 20
    keys = [hashlib.md5(str(i).encode()).digest() for i in range(8000)]
    rows = vote_rows.rows_of(keys, keys, [1] * len(keys))
    sizes = [len(vote_rows.from_bytes(t)) for _, t in vote_rows.by_bucket(rows, 8)]
    assert len(sizes) == 8 and min(sizes) > 800  # md5 spreads keys evenly


@pytest.mark.slow
def test_one_line_in_a_million_pages_stays_in_bounded_memory(tmp_path: Path) -> None:
    base_rss, _ = _run_hot(1_000, tmp_path)
    hot_rss, secs = _run_hot(1_000_000, tmp_path)
    print(f"hot key 10^6 votes: {secs:.1f} s, peak RSS {hot_rss} MB (baseline {base_rss} MB)")
    # Without lifting (GroupByKey + min) the same run peaks ~340 MB above baseline on this machine.
    assert hot_rss - base_rss < 100, (base_rss, hot_rss)
