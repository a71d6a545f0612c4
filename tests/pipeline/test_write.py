"""WriteC4 on real WET pages: layout, order, sharding, dead letters, stats, determinism.

Inputs are the real WET samples of tests/data parsed by ``filters.wet`` (pages, drops and the dead
letters of the broken edge-case files), URL-deduplicated as the pipeline does, so the counters
balance. Runs on DirectRunner and on the project's DaskRunner
(``pipeline.runners.dask.C4DaskRunner``,
a local 2-worker, 2-process cluster) must write the same bytes.
"""

from __future__ import annotations

import collections
import filecmp
import json
from pathlib import Path
from typing import Any, NamedTuple

import apache_beam as beam
import pyarrow.parquet as pq
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from filters.records import DeadLetter, Dropped, Page
from filters.spec import resolve_rules
from filters.urls import split_for
from filters.wet import iter_wet_path, source_file_name
from pipeline import write
from pipeline.config import BuildConfig, InputFile
from pipeline.formats import tfds_layout, tfrecord
from pipeline.summary import ReconciliationError
from tests.conftest import EDGE_WET, REAL_WET, output_tree

# The 262-record excerpt is left out: beam.Create pickles its inputs, and time matters here.
ALL_WET = [str(p) for p in REAL_WET + EDGE_WET if "excerpt-262" not in p.name]


class Inputs(NamedTuple):
    docs: list[tuple[str, Page]]
    dead_letters: list[DeadLetter]
    partials: list[dict[str, int]]


class Collections(NamedTuple):
    """Same fields as pipeline.build.C4Collections."""

    docs: Any
    dead_letters: Any
    stats: Any


def real_inputs(paths: list[str], version: str = "3.1.0") -> Inputs:
    """Parse real WET files; keep the last copy of each URL; one counter dict per file."""
    rules = resolve_rules("en", version)
    pages: dict[str, Page] = {}
    dead: list[DeadLetter] = []
    partials = []
    for index, path in enumerate(paths):
        counts: collections.Counter[str] = collections.Counter()
        for item in iter_wet_path(path, rules, index):
            counts["input/records"] += 1
            if isinstance(item, Page):
                if item.url in pages:
                    counts["duplicate-url-filter/filtered"] += 1
                pages[item.url] = item
            elif isinstance(item, Dropped):
                counts[f"{item.stage}/{item.reason}"] += 1
            else:
                dead.append(item)
        partials.append(dict(counts))
    docs = [(split_for(p.normalized_url, rules.has_validation), p) for p in pages.values()]
    return Inputs(docs, dead, partials)


def make_config(out: Path, paths: list[str], **kwargs: Any) -> BuildConfig:
    files = tuple(InputFile(p, i, source_file_name(p)) for i, p in enumerate(paths))
    return BuildConfig(inputs=files, output_dir=str(out), **kwargs)


def run_write(config: BuildConfig, inputs: Inputs, runner: str = "DirectRunner") -> None:
    """Apply WriteC4 to beam.Create'd inputs and run to completion."""
    cluster = None
    options: list[str] = []
    if runner == "DaskRunner":
        from dask.distributed import LocalCluster

        from pipeline.runners.dask import C4DaskRunner

        cluster = LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        )
        # A few documents per bundle (the runner defaults to one element per bundle).
        options = [f"--dask_client_address={cluster.scheduler_address}", "--dask_partition_size=16"]
        pipeline = beam.Pipeline(runner=C4DaskRunner(), options=PipelineOptions(options))
    else:
        pipeline = beam.Pipeline(runner=runner, options=PipelineOptions(options))
    colls = Collections(
        pipeline | "Docs" >> beam.Create(inputs.docs),
        pipeline | "DeadLetters" >> beam.Create(inputs.dead_letters),
        pipeline | "Stats" >> beam.Create(inputs.partials),
    )
    colls | "WriteC4" >> write.WriteC4(config)
    try:
        result = pipeline.run()
        result.wait_until_finish()
    finally:
        if cluster is not None:
            client = getattr(locals().get("result"), "client", None)
            if client is not None:
                client.close()
            cluster.close()


def files_under(root: Path) -> dict[str, bytes]:
    return {rel: p.read_bytes() for rel, p in output_tree(root).items()}


@pytest.fixture(scope="module")
def inputs() -> Inputs:
    return real_inputs(ALL_WET)


@pytest.fixture(scope="module")
def direct_dir(tmp_path_factory: pytest.TempPathFactory, inputs: Inputs) -> Path:
    out = tmp_path_factory.mktemp("direct")
    run_write(make_config(out, ALL_WET), inputs)
    return out


# --- pure helpers -----------------------------------------------------------------------------


def test_example_features_per_version(inputs: Inputs) -> None:
    page = inputs.docs[0][1]
    v3 = write.example_features(page, resolve_rules("en", "3.1.0"))
    assert list(v3) == ["content-length", "content-type", "text", "timestamp", "url"]
    assert v3["url"] == page.url and v3["timestamp"] == page.timestamp
    v1 = write.example_features(page, resolve_rules("en", "1.0.0"))
    assert v1 == {"text": page.text, "url": page.normalized_url}


def test_compacted_drops_empty_shards_and_renumbers() -> None:
    assert write.compacted([7, 2, 5]) == {2: (0, 3), 5: (1, 3), 7: (2, 3)}
    assert write.compacted([0, 1]) == {0: (0, 2), 1: (1, 2)}


def test_plan_buckets_gives_every_bucket_its_splits_plan() -> None:
    totals = [
        (("train", 3), (2, 100, 50)),
        (("validation", 0), (1, 10, 7)),
        (("train", 1), (3, 200, 90)),
    ]
    plans = dict(write.plan_buckets(totals, num_shards=4))
    assert plans[("train", 1)] == plans[("train", 3)] == write.SplitPlan(5, 300, 90, 4)
    assert plans[("validation", 0)] == write.SplitPlan(1, 10, 7, 4)
    assert dict(write.plan_buckets(reversed(totals), None)) == dict(
        write.plan_buckets(totals, None)
    )
    assert write.bucket_of(2**128 - 1) == 2**write.BUCKET_BITS - 1 and write.bucket_of(0) == 0


def test_plan_and_shard_of_follow_tfds_key_ranges() -> None:
    plan = write.plan_split(10, 1000, 2**128 - 5, None)
    assert plan.num_shards == 1  # tiny split: TFDS's rule gives one shard
    plan = write.plan_split(10, 1000, 1000, 4)
    assert plan.num_shards == 4  # --num_shards wins
    # floor(key * n / largest), the largest key itself in the last shard.
    assert [write.shard_of(k, plan) for k in (0, 249, 250, 999, 1000)] == [0, 0, 1, 3, 3]


def test_dead_letter_json_is_sorted_and_short() -> None:
    letter = DeadLetter("split-wet-file", "a.wet.gz", 12, "invalid_utf8", "x" * 1000)
    row = json.loads(write.dead_letter_json(letter))
    assert list(row) == ["excerpt", "reason", "record_offset", "source_file", "stage"]
    assert len(row["excerpt"]) == write.MAX_EXCERPT_CHARS
    assert write.dead_letter_filename("weird stage/x") == "weird_stage_x.jsonl"


def test_join_keeps_urls() -> None:
    assert write.join("gs://b/out/", "c4", "en") == "gs://b/out/c4/en"
    assert write.join("/tmp/x", "stats.json") == "/tmp/x/stats.json"


# --- one DirectRunner build -------------------------------------------------------------------


def test_layout(direct_dir: Path) -> None:
    names = set(files_under(direct_dir))
    assert names == {
        "DATA_CARD.md",
        "config.json",
        "stats.json",
        "dead_letter/split-wet-file.jsonl",
        "c4/en/3.1.0/LICENSE",
        "c4/en/3.1.0/dataset_info.json",
        "c4/en/3.1.0/features.json",
        "c4/en/3.1.0/c4-train.tfrecord-00000-of-00001",
        "parquet/train/part-00000-of-00001.parquet",
        "lineage/train/part-00000-of-00001.parquet",
    }  # no temporary file left behind


def test_tfrecord_holds_every_doc_in_tfds_order(direct_dir: Path, inputs: Inputs) -> None:
    shard = direct_dir / "c4/en/3.1.0/c4-train.tfrecord-00000-of-00001"
    examples = [tfrecord.decode_example(r) for r in tfrecord.read_tfrecord(shard)]
    urls = [ex["url"][0].decode() for ex in examples]
    by_url = {page.url: page for _, page in inputs.docs}
    assert sorted(urls) == sorted(by_url)
    keys = [tfds_layout.example_sort_key("train", u) for u in urls]
    assert keys == sorted(keys)
    for ex, url in zip(examples, urls, strict=True):
        page = by_url[url]
        assert ex["text"] == [page.text.encode()]
        assert ex["content-length"] == [page.content_length.encode()]
        assert ex["content-type"] == [page.content_type.encode()]
        assert ex["timestamp"] == [page.timestamp.encode()]


def test_parquet_same_docs_same_order(direct_dir: Path, inputs: Inputs) -> None:
    shard = direct_dir / "c4/en/3.1.0/c4-train.tfrecord-00000-of-00001"
    tf_urls = [tfrecord.decode_example(r)["url"][0].decode() for r in tfrecord.read_tfrecord(shard)]
    path = direct_dir / "parquet/train/part-00000-of-00001.parquet"
    meta = pq.ParquetFile(path).metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"
    table = pq.read_table(path).to_pylist()
    assert [row["url"] for row in table] == tf_urls
    by_url = {page.url: page for _, page in inputs.docs}
    for row in table:
        page = by_url[row["url"]]
        assert row["text"] == page.text
        assert (row["doc_id"], row["source_file"], row["record_offset"], row["record_id"]) == (
            page.doc_id,
            page.source_file,
            page.record_offset,
            page.record_id,
        )


def test_dead_letters_written_sorted(direct_dir: Path, inputs: Inputs) -> None:
    lines = (direct_dir / "dead_letter/split-wet-file.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    assert len(rows) == len(inputs.dead_letters) == 2
    assert rows == sorted(rows, key=lambda r: (r["source_file"], r["record_offset"]))
    assert {r["reason"] for r in rows} == {d.reason for d in inputs.dead_letters}


def test_stats_balance_and_sum_partials(direct_dir: Path, inputs: Inputs) -> None:
    stats = json.loads((direct_dir / "stats.json").read_text())
    total = collections.Counter[str]()
    for partial in inputs.partials:
        total.update(partial)
    assert stats["counters"] == dict(sorted(total.items()))
    rec = stats["reconciliation"]
    assert rec["balanced"] and rec["unaccounted"] == 0
    assert rec["input_records"] == total["input/records"]
    assert rec["kept"] == len(inputs.docs) == stats["splits"]["train"]["documents"]
    assert rec["dead_lettered"] == 2
    assert stats["splits"]["validation"]["documents"] == 0
    info = json.loads((direct_dir / "c4/en/3.1.0/dataset_info.json").read_text())
    # Every split the config defines; the empty one as protobuf writes it (no bytes, no shard).
    assert [s["name"] for s in info["splits"]] == ["train", "validation"]
    assert set(info["splits"][1]) == {"filepathTemplate", "name"}
    assert info["splits"][0]["shardLengths"] == [str(len(inputs.docs))]
    assert info["splits"][0]["numBytes"] == str(stats["splits"]["train"]["num_bytes"])


def test_config_json_and_data_card(direct_dir: Path) -> None:
    config = json.loads((direct_dir / "config.json").read_text())
    assert (config["config"], config["c4_version"]) == ("en", "3.1.0")
    assert [i["source_file"] for i in config["inputs"]] == [source_file_name(p) for p in ALL_WET]
    assert set(config["versions"]) == {"c4-pipeline", "apache-beam", "python"}
    assert config["versions"]["apache-beam"] == beam.__version__
    card = (direct_dir / "DATA_CARD.md").read_text()
    assert "ODC-BY" in card and "Common Crawl Terms of Use" in card
    assert "`CC-MAIN-2016-50.excerpt-25.warc.wet.gz`" in card


# --- determinism: rerun and another runner ----------------------------------------------------


def _same_files(a: Path, b: Path) -> None:
    fa, fb = files_under(a), files_under(b)
    assert set(fa) == set(fb)
    different = [name for name in fa if name != "config.json" and fa[name] != fb[name]]
    assert different == []
    ca, cb = json.loads(fa["config.json"]), json.loads(fb["config.json"])
    assert ca.pop("output_dir") != cb.pop("output_dir")
    assert ca == cb  # config.json differs by the output path only


@pytest.mark.slow
def test_dask_runner_writes_the_same_bytes(
    direct_dir: Path, inputs: Inputs, tmp_path: Path
) -> None:
    run_write(make_config(tmp_path, ALL_WET), inputs, runner="DaskRunner")
    _same_files(direct_dir, tmp_path)


def test_rerun_with_shuffled_input_writes_the_same_bytes(
    direct_dir: Path, inputs: Inputs, tmp_path: Path
) -> None:
    # Another arrival order (as another bundling would give) must not change a byte.
    shuffled = Inputs(inputs.docs[::-1], inputs.dead_letters[::-1], inputs.partials[::-1])
    run_write(make_config(tmp_path, ALL_WET), shuffled)
    assert filecmp.cmp(direct_dir / "stats.json", tmp_path / "stats.json", shallow=False)
    _same_files(direct_dir, tmp_path)


# --- sharding, failure, 1.0.0 -----------------------------------------------------------------


def test_num_shards_key_ranges_and_empty_shards_dropped(tmp_path: Path) -> None:
    paths = [str(p) for p in REAL_WET if "excerpt-25." in p.name]
    small = real_inputs(paths)
    n = len(small.docs)
    run_write(make_config(tmp_path, paths, num_shards=40), small)
    keys = sorted(tfds_layout.example_sort_key("train", p.url) for _, p in small.docs)
    planned = collections.Counter(min(k * 40 // keys[-1], 39) for k in keys)
    expected_lengths = [planned[s] for s in sorted(planned)]
    assert len(expected_lengths) < 40  # some key ranges are empty with 25 documents
    shards = sorted((tmp_path / "c4/en/3.1.0").glob("c4-train.tfrecord-*"))
    m = len(expected_lengths)
    assert [s.name for s in shards] == [tfds_layout.shard_filename("train", i, m) for i in range(m)]
    lengths = [sum(1 for _ in tfrecord.read_tfrecord(s)) for s in shards]
    assert lengths == expected_lengths and sum(lengths) == n
    urls = [
        tfrecord.decode_example(r)["url"][0].decode()
        for s in shards
        for r in tfrecord.read_tfrecord(s)
    ]
    assert [tfds_layout.example_sort_key("train", u) for u in urls] == keys  # global order
    parquet = sorted((tmp_path / "parquet/train").glob("*.parquet"))
    assert [p.name for p in parquet] == [f"part-{i:05d}-of-{m:05d}.parquet" for i in range(m)]
    assert [
        u for p in parquet for u in pq.read_table(p, columns=["url"])["url"].to_pylist()
    ] == urls


def test_unbalanced_run_fails_loudly_and_is_not_loadable(tmp_path: Path) -> None:
    paths = [str(p) for p in REAL_WET if "excerpt-5." in p.name]
    good = real_inputs(paths)
    lost = Inputs(good.docs[1:], good.dead_letters, good.partials)  # a document vanished
    with pytest.raises(Exception, match="reconciliation failed") as err:
        run_write(make_config(tmp_path, paths), lost)
    assert "1 unaccounted" in str(err.value) or isinstance(err.value, ReconciliationError)
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["reconciliation"]["balanced"] is False
    assert stats["reconciliation"]["unaccounted"] == 1
    assert not (tmp_path / "c4/en/3.1.0/dataset_info.json").exists()


def test_version_1_0_0_writes_text_and_normalized_url(tmp_path: Path) -> None:
    paths = [str(p) for p in REAL_WET if "excerpt-5." in p.name]
    small = real_inputs(paths, version="1.0.0")
    run_write(make_config(tmp_path, paths, c4_version="1.0.0"), small)
    base = tmp_path / "c4/en/1.0.0"
    features = json.loads((base / "features.json").read_text())
    assert sorted(features["featuresDict"]["features"]) == ["text", "url"]
    (shard,) = base.glob("c4-train.tfrecord-*")
    examples = [tfrecord.decode_example(r) for r in tfrecord.read_tfrecord(shard)]
    assert {ex["url"][0].decode() for ex in examples} == {p.normalized_url for _, p in small.docs}
    assert all(sorted(ex) == ["text", "url"] for ex in examples)
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert list(stats["splits"]) == ["train"]  # 1.0.0 has no validation split


def test_rerun_in_place_replaces_an_earlier_shard_count(tmp_path: Path) -> None:
    paths = [str(p) for p in REAL_WET if "excerpt-25." in p.name]
    small = real_inputs(paths)
    run_write(make_config(tmp_path, paths, num_shards=4), small)
    assert len(list((tmp_path / "parquet/train").glob("*.parquet"))) == 4
    leftover = tmp_path / "parquet/train/part-00000-of-00001.parquet.tmp-0123"
    leftover.write_bytes(b"half a file from a killed attempt")
    run_write(make_config(tmp_path, paths), small)
    names = set(files_under(tmp_path))
    assert {n for n in names if n.startswith(("parquet/", "c4/en/3.1.0/c4-"))} == {
        "parquet/train/part-00000-of-00001.parquet",
        "c4/en/3.1.0/c4-train.tfrecord-00000-of-00001",
    }
    info = json.loads((tmp_path / "c4/en/3.1.0/dataset_info.json").read_text())
    assert info["splits"][0]["shardLengths"] == [str(len(small.docs))]


def test_a_build_that_keeps_nothing_still_reports(tmp_path: Path) -> None:
    paths = [str(p) for p in EDGE_WET if p.name.endswith("file_headers_only.wet.gz")]
    empty = real_inputs(paths)
    assert empty.docs == [] and empty.dead_letters == []
    run_write(make_config(tmp_path, paths), empty)
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["reconciliation"]["balanced"] and stats["reconciliation"]["kept"] == 0
    assert stats["reconciliation"]["input_records"] == 1
    info = json.loads((tmp_path / "c4/en/3.1.0/dataset_info.json").read_text())
    # Declared all the same, with 0 examples, so builder.info.splits[name] answers.
    assert info["splits"] == [
        {"filepathTemplate": tfds_layout.FILEPATH_TEMPLATE, "name": name}
        for name in ("train", "validation")
    ]
    assert not (tmp_path / "parquet").exists()
